package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/internal/pcapgen"
	"github.com/google/pprof/profile"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// bpfscope runs the command in-process and returns its output and status.
func bpfscope(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &env{stdout: &out, stderr: &errb, stdin: strings.NewReader("")})
	return out.String(), errb.String(), code
}

// golden compares got with testdata/name, after replacing dir (a test's
// temporary directory) with $TMP.
func golden(t *testing.T, name, got, dir string) {
	t.Helper()
	if dir != "" {
		got = strings.ReplaceAll(got, dir, "$TMP")
	}
	got = durations.ReplaceAllString(got, "duration (average) $$Nns") // wall time varies
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n%s", path, got)
	}
}

var durations = regexp.MustCompile(`duration \(average\) \d+ns`)

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"run.txt", []string{"run"}, 0},
		{"run-json.jsonl", []string{"run", "--json"}, 0},
		{"trace.txt", []string{"trace"}, 0},
		{"trace-json.jsonl", []string{"trace", "--format", "json", "--packet", "7"}, 0},
		{"trace-filtered.txt", []string{"trace", "--packet", "7,10", "--func", "record"}, 0},
		{"trace-line.txt", []string{"trace", "--packet", "1", "--line", "xdp_firewall.c:125", "--pc", "0-40"}, 0},
		{"trace-flight.txt", []string{"trace", "--flight", "12", "--flight-on", "XDP_DROP,XDP_ABORTED"}, 0},
		{"trace-tailcall.txt", []string{"trace", "--prog", "xdp_dispatch", "--packet", "1", "--pcap", "../../examples/progs/sample.pcap", "../../examples/progs/xdp_tailcall.o"}, 0},
		{"disasm.txt", []string{"disasm"}, 0},
		{"unknown-prog.txt", []string{"run", "--prog", "nope"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := bpfscope(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
			golden(t, tt.name, out+errs, "")
		})
	}
}

// TestVerdicts pins the verdicts of the bundled example: the kernel gives
// the same ones (TestVerify), and the firewall's source says why: #7 is an
// ICMP echo request (answered, XDP_TX), #10 comes from the blocked
// address, #12 is too short for an IPv4 header (XDP_ABORTED).
func TestVerdicts(t *testing.T) {
	out, _, code := bpfscope(t, "run", "-q")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"XDP_ABORTED             1", "XDP_DROP                1", "XDP_PASS                9", "XDP_TX                  1"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func samplePath(t *testing.T) string {
	b, err := fs.ReadFile(examples.Progs, examples.SamplePcap)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sample.pcap")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPcap(t *testing.T, path string) [][]byte {
	data, _ := readRecords(t, path)
	return data
}

// TestPcapRoundTrip: passed packets come out as the program left them,
// dropped ones as they came in, in capture order.
func TestPcapRoundTrip(t *testing.T) {
	in := samplePath(t)
	dir := t.TempDir()
	pass, drop := filepath.Join(dir, "out.pcap"), filepath.Join(dir, "drop.pcap")
	_, errs, code := bpfscope(t, "run", "-q", "--map", "blocked_v4:c0000242=0000000000000000",
		"--pcap", in, "--pcap-out", pass, "--drop-out", drop, filepath.Join("..", "..", "examples", "progs", "xdp_firewall.o"))
	if code != 0 {
		t.Fatal(errs)
	}
	orig := readPcap(t, in)
	got, dropped := readPcap(t, pass), readPcap(t, drop)
	if len(got) != 10 || len(dropped) != 2 {
		t.Fatalf("%d passed, %d dropped; want 10 and 2", len(got), len(dropped))
	}
	if !bytes.Equal(dropped[0], orig[9]) || !bytes.Equal(dropped[1], orig[11]) {
		t.Error("dropped packets are not #10 and #12 as captured")
	}
	// #7, the echo request, comes back as a reply: MACs and IPs swapped,
	// ICMP type 0, checksum still valid.
	reply := got[6]
	if !bytes.Equal(reply[0:6], orig[6][6:12]) || reply[34] != 0 {
		t.Errorf("packet 7 is not an echo reply: %x", reply)
	}
	if err := kernel.VerifyChecksums(reply); err != nil {
		t.Error(err)
	}
	for j, i := range []int{0, 1, 2, 3, 4, 5, -1, 7, 8, 10} {
		if i >= 0 && !bytes.Equal(got[j], orig[i]) {
			t.Errorf("packet %d changed", i+1)
		}
	}
}

// TestTruncatedCapture: the packets before the damage are run and
// reported, the error names the packet, the status is 1; for pcap and
// pcapng, cut inside a packet's data and inside its record header.
func TestTruncatedCapture(t *testing.T) {
	pkts := readPcap(t, samplePath(t))
	dir := t.TempDir()
	for _, format := range []string{"pcap", "pcapng"} {
		// Write packets 1-4, note where packet 5's record starts and ends.
		var buf bytes.Buffer
		var write func(data []byte)
		var flush func()
		switch format {
		case "pcap":
			w := pcapgo.NewWriter(&buf)
			w.WriteFileHeader(65536, layers.LinkTypeEthernet)
			write = func(d []byte) { w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(d), Length: len(d)}, d) }
			flush = func() {}
		case "pcapng":
			w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
			if err != nil {
				t.Fatal(err)
			}
			write = func(d []byte) { w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(d), Length: len(d)}, d) }
			flush = func() { w.Flush() }
		}
		for _, d := range pkts[:4] {
			write(d)
		}
		flush()
		start := buf.Len()
		write(pkts[4])
		flush()
		end := buf.Len()
		// A corrupt length: pcap's captured length (offset 8 of the
		// record header), pcapng's block length (offset 4).
		corrupt := bytes.Clone(buf.Bytes())
		lenAt := map[string]int{"pcap": 8, "pcapng": 4}[format]
		copy(corrupt[start+lenAt:], []byte{0xf0, 0xff, 0xff, 0x7f})
		for _, cut := range []struct {
			name, want string
			data       []byte
		}{
			{"data", "capture truncated", buf.Bytes()[:(start+end)/2]},
			{"header", "capture truncated", buf.Bytes()[:start+6]},
			{"length", "", corrupt},
		} {
			t.Run(format+"/"+cut.name, func(t *testing.T) {
				p := filepath.Join(dir, cut.name+"."+format)
				if err := os.WriteFile(p, cut.data, 0o644); err != nil {
					t.Fatal(err)
				}
				out, errs, code := bpfscope(t, "run", "--pcap", p, filepath.Join("..", "..", "examples", "progs", "xdp_firewall.o"))
				if code != 1 {
					t.Fatalf("exit status %d, want 1", code)
				}
				if !strings.Contains(out, "#4 ") || strings.Contains(out, "#5 ") {
					t.Errorf("want packets 1-4 reported:\n%s", out)
				}
				if want := p + ": packet 5: " + cut.want; !strings.Contains(errs, want) || strings.Count(errs, "\n") != 1 {
					t.Errorf("error %q does not say %q", errs, want)
				}
				if !strings.Contains(out, "total                   4") {
					t.Errorf("summary does not count 4 packets:\n%s", out)
				}
				// trace reports the same, after tracing packets 1-4.
				out, errs, code = bpfscope(t, "trace", "--pcap", p, filepath.Join("..", "..", "examples", "progs", "xdp_firewall.o"))
				if code != 1 || !strings.Contains(out, "=== packet 4:") || strings.Contains(out, "=== packet 5:") || !strings.Contains(errs, "packet 5: "+cut.want) {
					t.Errorf("trace: status %d, stderr %q, output:\n%s", code, errs, out)
				}
			})
		}
	}
}

// TestGeneratedCapture runs the firewall over generated captures of mixed
// frames: one worker and two give the same report, every frame comes out
// in one of the two output captures, and where bpf() works, the kernel
// agrees with every verdict, output packet and map.
func TestGeneratedCapture(t *testing.T) {
	dir := t.TempDir()
	fw := filepath.Join("..", "..", "examples", "progs", "xdp_firewall.o")
	block := "blocked_v4:c0000242=0000000000000000"
	for _, format := range []string{"pcap", "pcapng"} {
		path := filepath.Join(dir, "gen."+format)
		var buf bytes.Buffer
		write := map[string]func(io.Writer, int, uint64) error{"pcap": pcapgen.WritePcap, "pcapng": pcapgen.WritePcapng}[format]
		if err := write(&buf, 2000, 3); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, buf.Bytes(), 0o644)
		pass, drop := filepath.Join(dir, "pass.pcap"), filepath.Join(dir, "drop.pcap")
		seq, errs, code := bpfscope(t, "run", "--map", block, "--jobs", "1", "--pcap", path, "--pcap-out", pass, "--drop-out", drop, fw)
		if code != 0 {
			t.Fatalf("%s: status %d: %s", format, code, errs)
		}
		par, _, _ := bpfscope(t, "run", "--map", block, "--jobs", "2", "--pcap", path, "--pcap-out", pass, "--drop-out", drop, fw)
		if seq != par {
			t.Errorf("%s: --jobs 2 differs from --jobs 1", format)
		}
		if n, m := len(readPcap(t, pass)), len(readPcap(t, drop)); n+m != 2000 || m == 0 {
			t.Errorf("%s: %d passed and %d dropped frames, want 2000 in all", format, n, m)
		}
		for _, v := range []string{"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX"} {
			if !strings.Contains(seq, "\n"+v) {
				t.Errorf("%s: no %s in the summary:\n%s", format, v, seq[strings.LastIndex(seq, "verdict"):])
			}
		}
	}
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	// The kernel on fewer frames: verify takes tens of ms per frame.
	small := filepath.Join(dir, "small.pcapng")
	var buf bytes.Buffer
	if err := pcapgen.WritePcapng(&buf, 200, 3); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(small, buf.Bytes(), 0o644)
	out, errs, code := bpfscope(t, "verify", "--map", block, "--pcap", small, fw)
	if code != 0 || !strings.Contains(out, "200 packets, 0 differ from the kernel") {
		t.Errorf("verify: status %d, %s\n%s", code, errs, out[max(0, len(out)-300):])
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.o")
	os.WriteFile(bad, []byte("\x7fELF not really"), 0o644)
	notpcap := filepath.Join(dir, "x.pcap")
	os.WriteFile(notpcap, []byte("hello world"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run", bad}, "bpfscope run: "},
		{[]string{"run", "--pcap", notpcap}, "not a pcap or pcapng file"},
		{[]string{"run", "--prog", "nope"}, "available: xdp_firewall"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"dump", notpcap}, "bpfscope dump: "},
	} {
		_, errs, code := bpfscope(t, tt.args...)
		if code == 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: status %d, stderr %q; want failure with %q", tt.args, code, errs, tt.want)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") > 0 && tt.args[0] != "frobnicate" {
			t.Errorf("%v: error is not one line: %q", tt.args, errs)
		}
	}
}

// TestRawBytecode runs a program from raw bytecode on a packet file:
// r0 = 2 (XDP_PASS); exit.
func TestRawBytecode(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "pass.bin")
	os.WriteFile(prog, []byte{0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}, 0o644)
	pkt := filepath.Join(dir, "pkt")
	os.WriteFile(pkt, readPcap(t, samplePath(t))[0], 0o644)
	out := filepath.Join(dir, "out")
	stdout, errs, code := bpfscope(t, "run", "--type", "xdp", "--data-in", pkt, "--data-out", out, prog)
	if code != 0 {
		t.Fatal(errs)
	}
	golden(t, "run-raw.txt", stdout, dir)
	if got, _ := os.ReadFile(out); len(got) != 71 {
		t.Errorf("data_out has %d bytes, want the 71 of the packet", len(got))
	}
}

// TestJobs: the firewall's verdicts do not depend on its counters, so
// parallel workers give the same report.
func TestJobs(t *testing.T) {
	seq, _, _ := bpfscope(t, "run", "--jobs", "1")
	par, errs, _ := bpfscope(t, "run", "--jobs", "2")
	if seq != par {
		t.Errorf("--jobs 2 differs from --jobs 1:\n%s\n%s", seq, par)
	}
	if !strings.Contains(errs, "separate maps") {
		t.Errorf("no warning about separate maps: %q", errs)
	}
}

// TestRecordReplayDiff records two packets, replays them, diffs them, and
// replays the recording kept in testdata.
func TestRecordReplayDiff(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "fw.bpft")
	if _, errs, code := bpfscope(t, "trace", "--packet", "1,10", "--record", rec, "--record-each"); code != 0 {
		t.Fatal(errs)
	}
	a, b := filepath.Join(dir, "fw.1.bpft"), filepath.Join(dir, "fw.10.bpft")
	out, errs, code := bpfscope(t, "replay", a, b)
	if code != 0 {
		t.Fatalf("%s%s", out, errs)
	}
	golden(t, "replay.txt", out, dir)
	out, _, code = bpfscope(t, "diff", a, b)
	if code != 1 {
		t.Errorf("diff status %d, want 1", code)
	}
	golden(t, "diff.txt", out, dir)
	out, _, code = bpfscope(t, "dump", b)
	if code != 0 {
		t.Fatal(out)
	}
	golden(t, "dump.txt", out, dir)
	if *update {
		data, _ := os.ReadFile(b)
		os.WriteFile(filepath.Join("testdata", "blocked.bpft"), data, 0o644)
	}
	out, errs, code = bpfscope(t, "replay", filepath.Join("testdata", "blocked.bpft"))
	if code != 0 || !strings.Contains(out, "ok,") {
		t.Errorf("replay of testdata/blocked.bpft: %s%s", out, errs)
	}
}

// TestReplayEveryExample records every packet-taking program of the
// bundled examples over the bundled capture into one file and replays it
// from what it holds alone, and its run 7 alone: tail calls (program
// arrays), maps of maps, queues and stacks, ring buffers that fill across
// packets, device and CPU maps, callbacks, and contexts with and without
// ctx_in.
func TestReplayEveryExample(t *testing.T) {
	progs := map[string][]string{
		"cgroup_skb.o": {""}, "flow_dissector.o": {""}, "netfilter.o": {""},
		"socket_filter.o": {""}, "tc_action.o": {""}, "tc_classifier.o": {""},
		"lwt.o":          {"lwt_count", "lwt_ttl_guard"},
		"tc_resize.o":    {"tc_nat46", "tc_outer_eth", "tc_trailer", "tc_vlan_push"},
		"xdp_adjust.o":   {"xdp_meta", "xdp_trailer", "xdp_vlan_push"},
		"xdp_firewall.o": {""}, "xdp_loop.o": {""}, "xdp_lpm.o": {""},
		"xdp_redirect.o": {"xdp_fib_forward", "xdp_redirect_cpumap", "xdp_redirect_devmap", "xdp_redirect_ifindex"},
		"xdp_tailcall.o": {"xdp_dispatch", "handle_ipv4"},
	}
	pcap := filepath.Join("..", "..", "examples", "progs", "sample.pcap")
	for obj, names := range progs {
		for _, name := range names {
			dir := t.TempDir()
			rec := filepath.Join(dir, "r.bpft")
			args := []string{"trace", "-q", "--record", rec, "--pcap", pcap}
			if name != "" {
				args = append(args, "--prog", name)
			}
			_, errs, _ := bpfscope(t, append(args, filepath.Join("..", "..", "examples", "progs", obj))...)
			out, errs2, code := bpfscope(t, "replay", rec, rec+"#7")
			if code != 0 || !strings.Contains(out, ": ok, 12 runs replayed identically") || !strings.Contains(out, "#7: ok, ") {
				t.Errorf("%s %s: replay status %d:\n%s%s%s", obj, name, code, out, errs, errs2)
			}
		}
	}
}

// TestDiff covers what TestRecordReplayDiff does not: runs that take the
// same path with other values (packets 3 and 4, two TCP SYNs that pass),
// a run that faults where the other goes on, and identical traces.
func TestDiff(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "fw.bpft")
	if _, errs, code := bpfscope(t, "trace", "--packet", "3,4", "--record", rec, "--record-each"); code != 0 {
		t.Fatal(errs)
	}
	a, b := filepath.Join(dir, "fw.3.bpft"), filepath.Join(dir, "fw.4.bpft")
	out, errs, code := bpfscope(t, "diff", a, b)
	if code != 1 {
		t.Errorf("diff status %d, want 1: %s", code, errs)
	}
	golden(t, "diff-values.txt", out, dir)

	out, _, code = bpfscope(t, "diff", a, a)
	if code != 0 || !strings.Contains(out, "The traces are identical: 75 instructions") {
		t.Errorf("diff of a trace with itself: status %d\n%s", code, out)
	}

	// r2 = ctx->data; r0 = *(u8 *)(r2 + 20); r0 = 2; exit: a 20-byte
	// packet ends at offset 20, so the load faults.
	prog := filepath.Join(dir, "load20.bin")
	os.WriteFile(prog, []byte{
		0x61, 0x12, 0, 0, 0, 0, 0, 0,
		0x71, 0x20, 20, 0, 0, 0, 0, 0,
		0xb7, 0, 0, 0, 2, 0, 0, 0,
		0x95, 0, 0, 0, 0, 0, 0, 0}, 0o644)
	for _, n := range []int{60, 20} {
		pkt := filepath.Join(dir, fmt.Sprint(n))
		os.WriteFile(pkt, readPcap(t, samplePath(t))[2][:n], 0o644)
		bpfscope(t, "trace", "--type", "xdp", "--data-in", pkt, "--record", pkt+".bpft", prog)
	}
	out, errs, code = bpfscope(t, "diff", filepath.Join(dir, "60.bpft"), filepath.Join(dir, "20.bpft"))
	if code != 1 {
		t.Errorf("diff status %d, want 1: %s", code, errs)
	}
	golden(t, "diff-fault.txt", out, dir)
}

// TestFlightJSON: every object of the flight recorder's JSON names the
// packet and the program/function its event ran in.
func TestFlightJSON(t *testing.T) {
	out, errs, code := bpfscope(t, "trace", "--format", "json", "--flight", "8", "--flight-on", "XDP_DROP")
	if code != 0 {
		t.Fatal(errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var funcs []string
	for _, l := range lines {
		var ev struct {
			Packet int    `json:"packet"`
			In     string `json:"in"`
			Ev     string `json:"ev"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if ev.Packet != 10 {
			t.Errorf("packet %d, want only 10 (the one dropped): %s", ev.Packet, l)
		}
		funcs = append(funcs, ev.In)
	}
	// The drop is counted in record(), which returns to the entry function.
	if lines[0] == "" || funcs[0] != "xdp_firewall" || !slices.Contains(funcs, "xdp_firewall/record") || funcs[len(funcs)-1] != "xdp_firewall" {
		t.Errorf("functions %v", funcs)
	}
}

func TestCoverProfile(t *testing.T) {
	dir := t.TempDir()
	lcov := filepath.Join(dir, "fw.lcov")
	out, errs, code := bpfscope(t, "cover", "-o", lcov)
	if code != 0 {
		t.Fatal(errs)
	}
	golden(t, "cover.txt", out, dir)
	data, _ := os.ReadFile(lcov)
	golden(t, "cover.lcov", string(data), "")

	pp, pf := filepath.Join(dir, "fw.pprof"), filepath.Join(dir, "fw.json")
	out, errs, code = bpfscope(t, "profile", "-o", pp, "--perfetto", pf)
	if code != 0 {
		t.Fatal(errs)
	}
	golden(t, "profile.txt", out, dir)
	f, err := os.Open(pp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prof, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range prof.Sample {
		total += s.Value[0]
	}
	// The same count the text trace reports, summed over its exit lines.
	trace, _, _ := bpfscope(t, "trace")
	if want := sumInsns(trace); total != want {
		t.Errorf("profile counts %d instructions, the trace %d", total, want)
	}
}

func sumInsns(trace string) int64 {
	var n int64
	for _, l := range strings.Split(trace, "\n") {
		var r0, k int64
		if _, err := fmt.Sscanf(l, "; exit r0=%d (%d insns)", &r0, &k); err == nil {
			n += k
		}
	}
	return n
}

func TestVerify(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	out, errs, code := bpfscope(t, "verify")
	if code != 0 {
		t.Fatalf("%s%s", out, errs)
	}
	golden(t, "verify.txt", out, "")
}
