package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/gopacket/gopacket/pcapgo"
)

var writeTestdata = flag.Bool("write-testdata", false, "TestReplayKernelRuns writes its capture to testdata/firewall-testrun.pcapng")

// tcpdumpPacketLine matches the first line tcpdump prints for a packet.
var tcpdumpPacketLine = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d+ `)

// TestRecordLayout checks parseRecord's offsets against struct record
// as clang laid it out in the committed capture.o (its BTF).
func TestRecordLayout(t *testing.T) {
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(captureObject))
	if err != nil {
		t.Fatal(err)
	}
	var rec *btf.Struct
	if err := spec.TypeByName("record", &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Size != recordSize {
		t.Fatalf("struct record is %d bytes, parseRecord reads %d", rec.Size, recordSize)
	}
	want := map[string]uint32{
		"ts": 0, "run": 8, "cpu": 16, "verdict": 20, "in_len": 24, "in_cap": 28, "out_len": 32, "out_cap": 36,
		"kind": 40, "ifindex": 44, "rx_queue": 48, "ingress_ifindex": 52, "meta_len": 56, "mark": 60,
		"priority": 64, "hash": 68, "protocol": 72, "vlan_proto": 74, "vlan_tci": 76, "tc_index": 78,
		"cb": 80, "tc_classid": 100, "tstamp": 104,
	}
	for _, m := range rec.Members {
		off, ok := want[m.Name]
		if !ok {
			t.Errorf("member %s is not read by parseRecord", m.Name)
			continue
		}
		if m.Offset.Bytes() != off {
			t.Errorf("member %s at %d, parseRecord reads it at %d", m.Name, m.Offset.Bytes(), off)
		}
		delete(want, m.Name)
	}
	for n := range want {
		t.Errorf("parseRecord reads %s, which struct record lacks", n)
	}
	// The ring buffer gets the record and the frames in one piece, from
	// the per-CPU scratch value: the frames must follow the record.
	var scr *btf.Struct
	if err := spec.TypeByName("scratch", &scr); err != nil {
		t.Fatal(err)
	}
	for _, m := range scr.Members {
		if m.Name == "buf" && m.Offset.Bytes() != recordSize {
			t.Errorf("scratch.buf at %d, want right after the %d-byte record", m.Offset.Bytes(), recordSize)
		}
	}
}

// TestParseRecord decodes a record laid out as capture.c writes it.
func TestParseRecord(t *testing.T) {
	le := binary.LittleEndian
	b := make([]byte, recordSize)
	le.PutUint64(b[0:], 5_000_000_000)
	le.PutUint64(b[8:], 42)
	le.PutUint32(b[16:], 1)
	le.PutUint32(b[20:], uint32(0xffffffff)) // -1: TC_ACT_UNSPEC
	le.PutUint32(b[24:], 64)                 // in_len
	le.PutUint32(b[28:], 3)                  // in_cap
	le.PutUint32(b[32:], 66)                 // out_len
	le.PutUint32(b[36:], 2)                  // out_cap
	le.PutUint32(b[40:], 2)                  // skb
	le.PutUint32(b[60:], 0x42)               // mark
	le.PutUint32(b[80:], 7)                  // cb[0]
	b = append(b, 1, 2, 3, 9, 8)
	mono := time.Unix(1000, 0)
	r, err := parseRecord(b, mono)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 42 || r.CPU != 1 || r.Verdict != -1 || r.InLen != 64 || r.OutLen != 66 ||
		!bytes.Equal(r.In, []byte{1, 2, 3}) || !bytes.Equal(r.Out, []byte{9, 8}) ||
		r.Skb == nil || r.Skb.Mark != 0x42 || r.Skb.CB[0] != 7 || !r.Time.Equal(mono.Add(5*time.Second)) {
		t.Fatalf("parsed %+v skb %+v", r, r.Skb)
	}
	// Lengths past the record are refused, not read.
	le.PutUint32(b[36:], 200)
	if _, err := parseRecord(b, mono); err == nil {
		t.Fatal("a record whose lengths pass its end was accepted")
	}
	if _, err := parseRecord(b[:50], mono); err == nil {
		t.Fatal("a short record was accepted")
	}
}

// TestFileRoundTrip writes runs, snapshots and stats and reads them back;
// pcapgo (what `bpfscope run --pcap` uses) sees the input frames only,
// with the verdict option and comment.
func TestFileRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	prog := Program{ID: 7, Name: "xdp_firewall", Func: "xdp_firewall", Type: "XDP", Tag: "0123456789abcdef", Where: "veth1 xdp", Kind: "xdp", CPUs: 2, Snaplen: 8192, Started: time.Unix(100, 0).UTC()}
	w, err := NewWriter(&buf, prog)
	if err != nil {
		t.Fatal(err)
	}
	snap := &Snapshot{Taken: time.Unix(101, 5).UTC(), Done: time.Unix(101, 9).UTC(), Maps: []MapDump{
		{ID: 3, Name: "blocked_v4", Type: "Hash", KeySize: 4, ValueSize: 8, MaxEntries: 1024, Entries: []Entry{{Key: []byte{192, 0, 2, 66}, Value: make([]byte, 8)}}},
		{ID: 4, Name: "action_bytes", Type: "PerCPUArray", KeySize: 4, ValueSize: 8, MaxEntries: 5, PerCPU: true, Entries: []Entry{{Key: []byte{1, 0, 0, 0}, PerCPU: []HexBytes{{1, 0, 0, 0, 0, 0, 0, 0}, {2, 0, 0, 0, 0, 0, 0, 0}}}}},
		{ID: 5, Name: "events", Type: "RingBuf", Skipped: "RingBuf maps are not snapshotted", Entries: []Entry{}},
	}}
	if err := w.WriteSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	runs := []*Run{
		{Seq: 1, CPU: 1, Verdict: 1, Time: time.Unix(102, 123456789).UTC(), In: []byte("frame one, 60 bytes in truth......................"), InLen: 60, Out: []byte("out"), OutLen: 3, Ifindex: 4, IngressIfindex: 4, RxQueue: 0},
		{Seq: 2, CPU: 0, Verdict: 2, Time: time.Unix(103, 0).UTC(), In: []byte("frame two....."), InLen: 14, Out: []byte("frame two....."), OutLen: 14, Ifindex: 4, IngressIfindex: 4, RxQueue: 1},
	}
	for _, r := range runs {
		if err := w.WriteRun("xdp", r); err != nil {
			t.Fatal(err)
		}
	}
	st := &Stats{Runs: 10, Skipped: 8, Written: 2, Received: 2, Ended: "stopped", Time: time.Unix(104, 0).UTC()}
	if err := w.WriteStats(st); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	raw := bytes.Clone(buf.Bytes())

	f, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Program, prog) {
		t.Errorf("program %+v, want %+v", f.Program, prog)
	}
	if len(f.Snapshots) != 1 || !reflect.DeepEqual(f.Snapshots[0], snap) {
		t.Errorf("snapshot %+v, want %+v", f.Snapshots, snap)
	}
	if !reflect.DeepEqual(f.Runs, runs) {
		for i := range f.Runs {
			t.Errorf("run %d: %+v, want %+v", i, f.Runs[i], runs[i])
		}
	}
	if !reflect.DeepEqual(f.Stats, st) {
		t.Errorf("stats %+v, want %+v", f.Stats, st)
	}

	// Other pcapng readers: frames only.
	ng, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		data, ci, opts, err := ng.ReadPacketDataWithOptions()
		if err != nil {
			t.Fatalf("pcapgo, packet %d: %v", i+1, err)
		}
		if !bytes.Equal(data, r.In) || ci.Length != r.InLen || !ci.Timestamp.Equal(r.Time) {
			t.Errorf("pcapgo packet %d: %x len %d at %v", i+1, data, ci.Length, ci.Timestamp)
		}
		if len(opts.Verdicts) != 1 || opts.Verdicts[0].Type != 2 || int32(binary.LittleEndian.Uint64(opts.Verdicts[0].Data)) != r.Verdict {
			t.Errorf("pcapgo packet %d: verdict option %+v", i+1, opts.Verdicts)
		}
		if len(opts.Comments) != 1 || !strings.Contains(opts.Comments[0], VerdictName("xdp", r.Verdict)) {
			t.Errorf("pcapgo packet %d: comments %q", i+1, opts.Comments)
		}
	}
	if _, _, err := ng.ReadPacketData(); err == nil {
		t.Error("pcapgo reads more packets than runs")
	}

	// tcpdump reads the frames too.
	if _, err := exec.LookPath("tcpdump"); err == nil {
		path := filepath.Join(t.TempDir(), "c.pcapng")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tcpdump", "-n", "-r", path).CombinedOutput()
		if err != nil {
			t.Fatalf("tcpdump -n -r: %v\n%s", err, out)
		}
		if n := len(tcpdumpPacketLine.FindAllString(string(out), -1)); n != len(runs) {
			t.Errorf("tcpdump printed %d lines for %d frames:\n%s", n, len(runs), out)
		}
	}

	// A file cut anywhere returns the whole runs before the cut.
	for cut := len(raw) - 1; cut > 0; cut -= 37 {
		f, err := Read(bytes.NewReader(raw[:cut]))
		if f == nil {
			t.Fatalf("cut at %d: nil file", cut)
		}
		if err == nil && f.Stats == nil {
			t.Fatalf("cut at %d: no error and no stats", cut)
		}
		for i, r := range f.Runs {
			if !bytes.Equal(r.In, runs[i].In) {
				t.Fatalf("cut at %d: run %d damaged", cut, i)
			}
		}
	}
	// A pcapng file from elsewhere is not a capture.
	if _, err := Read(bytes.NewReader(raw[:28])); err == nil {
		t.Error("a section header alone read as a capture")
	}
}

// TestReplayKernelRuns builds a capture file whose runs are what the
// running kernel did: the live program's BPF_PROG_TEST_RUN verdicts and
// output frames, and snapshots of its maps read by SnapshotProgram. It is
// the part of a capture that needs no trampolines, so it runs where
// fentry/fexit cannot attach. The replay agrees with every run, and a
// blocklist change between two runs is explained by the snapshot taken
// after it.
func TestReplayKernelRuns(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	coll := loadExample(t, "xdp_firewall.o", "xdp_firewall")
	prog := coll.Programs["xdp_firewall"]
	if err := coll.Maps["blocked_v4"].Put([]byte{192, 0, 2, 66}, uint64(0)); err != nil {
		t.Fatal(err)
	}
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	tgt, err := Resolve(TargetSpec{ID: uint32(id)})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()

	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header(tgt, Options{Snaplen: MaxSnaplen}, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	snap := func(after int) {
		s, err := SnapshotProgram(tgt.Info, after)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteSnapshot(s); err != nil {
			t.Fatal(err)
		}
	}
	snap(0)
	dst := []byte{2, 0, 0, 0, 0, 2}
	var frames [][]byte
	for r := range 3 {
		for k := range firewallKinds {
			frames = append(frames, firewallFrame(t, dst, r, k))
		}
	}
	changed := len(frames) // the index of the run after the map change
	late := firewallFrame(t, dst, 7, 0)
	late[26], late[27], late[28], late[29] = 10, 1, 0, 1 // source 10.1.0.1: passes until blocked
	frames = append(frames, late, late)
	for i, f := range frames {
		if i == changed+1 {
			// Block 10.1.0.1 between the last two runs, as an operator
			// would while the capture runs.
			if err := coll.Maps["blocked_v4"].Put([]byte{10, 1, 0, 1}, uint64(0)); err != nil {
				t.Fatal(err)
			}
		}
		ctxIn := make([]byte, 24)
		binary.LittleEndian.PutUint32(ctxIn[4:], uint32(len(f)))
		binary.LittleEndian.PutUint32(ctxIn[12:], 1) // ingress_ifindex: loopback
		ro := &ebpf.RunOptions{Data: f, DataOut: make([]byte, len(f)+256), Context: ctxIn}
		ret, err := prog.Run(ro)
		if err != nil {
			t.Fatalf("frame %d: kernel test run: %v", i, err)
		}
		r := &Run{Seq: uint64(i + 1), Verdict: int32(ret), Time: time.Now().UTC(), In: f, InLen: len(f), IngressIfindex: 1, Ifindex: 1}
		// The kernel's data_out is the frame as the program left it.
		r.Out = ro.DataOut
		r.OutLen = len(ro.DataOut)
		if err := w.WriteRun("xdp", r); err != nil {
			t.Fatal(err)
		}
		snap(i + 1)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteStats(&Stats{Runs: uint64(len(frames)), Written: uint64(len(frames)), Received: uint64(len(frames)), Ended: "test runs done", Time: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if *writeTestdata {
		if err := os.WriteFile(filepath.Join("testdata", "firewall-testrun.pcapng"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := NewReplayer(f, "xdp_firewall", firewallLoader)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range f.Runs {
		o, err := rp.Next(context.Background(), i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == changed+1 {
			if o.Same() || o.Explained < 0 {
				t.Fatalf("run %d after the map change: %+v; want a difference explained by the next snapshot", r.N, o)
			}
			d := SnapshotDiff(f.Snapshots[o.Explained-1], f.Snapshots[o.Explained])
			if !containsPrefix(d, "blocked_v4 0a010001: added") {
				t.Errorf("snapshot diff %q", d)
			}
			continue
		}
		if !o.Same() {
			t.Errorf("run %d (kernel %s): %s %v", r.N, VerdictName("xdp", r.Verdict), o.Skipped, o.Diffs)
		}
	}
	for _, w := range rp.Warns {
		t.Logf("replay: %s", w)
	}
}

// TestReplayKernelRunsTC does for tc what TestReplayKernelRuns does for
// XDP: tc_dnat's kernel test runs, with __sk_buff fields set as a tc hook
// would have them (mark, priority, cb, ingress_ifindex), replay with the
// same verdicts and output frames from the context the file records.
func TestReplayKernelRunsTC(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	coll := loadExample(t, "tc_classifier.o", "tc_dnat")
	prog := coll.Programs["tc_dnat"]
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	tgt, err := Resolve(TargetSpec{ID: uint32(id)})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header(tgt, Options{Snaplen: MaxSnaplen}, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := SnapshotProgram(tgt.Info, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSnapshot(s); err != nil {
		t.Fatal(err)
	}
	dst := []byte{2, 0, 0, 0, 0, 2}
	frames := [][]byte{
		firewallFrame(t, dst, 0, 0), // UDP to 10.1.0.2: TC_ACT_OK, unchanged
		firewallFrame(t, dst, 0, 5), // ARP: TC_ACT_UNSPEC
		firewallFrame(t, dst, 0, 7), // long UDP
	}
	nat := firewallFrame(t, dst, 1, 0)
	copy(nat[30:34], []byte{10, 0, 0, 2}) // to nat_from: rewritten
	frames = append(frames, nat)
	verdicts := map[int32]bool{}
	for i, f := range frames {
		r := &Run{Seq: uint64(i + 1), Time: time.Now().UTC(), In: f, InLen: len(f), IngressIfindex: 1,
			Skb: &Skb{Len: uint32(len(f)), Mark: uint32(100 + i), Priority: 3, CB: [5]uint32{1, 2, 3, 4, uint32(i)}}}
		ro := &ebpf.RunOptions{Data: f, DataOut: make([]byte, len(f)+256), Context: ContextIn("skb", r)}
		ret, err := prog.Run(ro)
		if err != nil {
			t.Fatalf("frame %d: kernel test run: %v", i, err)
		}
		r.Verdict, r.Out, r.OutLen = int32(ret), ro.DataOut, len(ro.DataOut)
		verdicts[r.Verdict] = true
		if err := w.WriteRun("skb", r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !verdicts[0] || !verdicts[-1] {
		t.Fatalf("kernel verdicts %v: want TC_ACT_OK and TC_ACT_UNSPEC among them", verdicts)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(f.Runs[3].In, f.Runs[3].Out) {
		t.Fatal("the frame to nat_from was not rewritten by the kernel")
	}
	rp, err := NewReplayer(f, "tc_dnat", func(cpus int) (*loader.Collection, error) {
		return loader.Load(filepath.Join(progsDir, "tc_classifier.o"), loader.Options{PossibleCPUs: cpus})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range f.Runs {
		o, err := rp.Next(context.Background(), i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !o.Same() {
			t.Errorf("run %d (kernel %s): %s %v", r.N, VerdictName("skb", r.Verdict), o.Skipped, o.Diffs)
		}
	}
}
