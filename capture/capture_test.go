package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/loader"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

const progsDir = "../examples/progs"

// loadExample loads an example object into the kernel.
func loadExample(t testing.TB, obj string, progs ...string) *ebpf.Collection {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpec(filepath.Join(progsDir, obj))
	if err != nil {
		t.Fatal(err)
	}
	for n := range spec.Programs {
		keep := false
		for _, p := range progs {
			keep = keep || p == n
		}
		if !keep {
			delete(spec.Programs, n)
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Skipf("the kernel does not load %s here: %v", obj, err)
	}
	t.Cleanup(coll.Close)
	return coll
}

// running is a capture in progress, writing to a file.
type running struct {
	c       *Capture
	path    string
	written atomic.Int64
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run has returned
	err     error
	stats   *Stats
}

func startCapture(t testing.TB, tgt *Target, opts Options) *running {
	t.Helper()
	r := &running{path: filepath.Join(t.TempDir(), "capture.pcapng"), done: make(chan struct{})}
	opts.Progress = func(n int) { r.written.Store(int64(n)) }
	c, err := Attach(tgt, opts)
	if errors.Is(err, ErrNoTrampolines) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	r.c = c
	f, err := os.Create(r.path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f, c.Header())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		st, err := c.Run(ctx, w)
		r.stats = st
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		r.err = err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
		}
		c.Close()
	})
	return r
}

// waitFor waits until n records are written (bounded).
func (r *running) waitFor(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.written.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *running) stop(t testing.TB) (*Stats, *File) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("capture: %v", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("capture did not stop")
	}
	fh, err := os.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := Read(fh)
	if err != nil {
		t.Fatalf("reading the capture back: %v", err)
	}
	return r.stats, f
}

func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// frame kinds the firewall test sends, and the verdict the firewall's
// source (examples/progs/xdp_firewall.c) gives each.
var firewallKinds = []struct {
	name    string
	verdict int32
}{
	{"allowed UDP", 2},               // XDP_PASS
	{"blocked source", 1},            // XDP_DROP: 192.0.2.66 is in blocked_v4
	{"truncated IPv4", 0},            // XDP_ABORTED: no room for the IP header
	{"IPv4 with ihl 4", 0},           // XDP_ABORTED
	{"ICMP echo request", 3},         // XDP_TX: answered in place
	{"ARP request", 2},               // XDP_PASS
	{"IPv6 UDP", 2},                  // XDP_PASS
	{"allowed UDP, long payload", 2}, // XDP_PASS
}

// srcMAC marks each frame sent: 02:ca:00:00:round:kind.
func srcMAC(round, kind int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0xca, 0, 0, byte(round), byte(kind)}
}

func firewallFrame(t testing.TB, dst net.HardwareAddr, round, kind int) []byte {
	src := srcMAC(round, kind)
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
	}
	ip := func(from string, proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(from), DstIP: net.ParseIP("10.1.0.2")}
	}
	payload := gopacket.Payload(fmt.Sprintf("bpfscope capture test %d/%d", round, kind))
	switch kind {
	case 0, 1:
		from := "10.1.0.1"
		if kind == 1 {
			from = "192.0.2.66"
		}
		udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + round), DstPort: 7777}
		ipl := ip(from, layers.IPProtocolUDP)
		udp.SetNetworkLayerForChecksum(ipl)
		return ser(t, eth(layers.EthernetTypeIPv4), ipl, udp, payload)
	case 2:
		return append(ser(t, eth(layers.EthernetTypeIPv4)), 0x45, 0, 0, 20, 0, byte(round))
	case 3:
		b := ser(t, eth(layers.EthernetTypeIPv4), ip("10.1.0.1", layers.IPProtocolUDP), payload)
		b[14] = 0x44
		return b
	case 4:
		return ser(t, eth(layers.EthernetTypeIPv4), ip("10.1.0.1", layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: uint16(round)}, payload)
	case 5:
		return ser(t, eth(layers.EthernetTypeARP), &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: src, SourceProtAddress: []byte{10, 1, 0, 1},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 1, 0, 2},
		})
	case 6:
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		udp := &layers.UDP{SrcPort: 40000, DstPort: 7777}
		udp.SetNetworkLayerForChecksum(ip6)
		return ser(t, eth(layers.EthernetTypeIPv6), ip6, udp, payload)
	case 7:
		udp := &layers.UDP{SrcPort: layers.UDPPort(41000 + round), DstPort: 7777}
		ipl := ip("10.1.0.1", layers.IPProtocolUDP)
		udp.SetNetworkLayerForChecksum(ipl)
		return ser(t, eth(layers.EthernetTypeIPv4), ipl, udp, gopacket.Payload(bytes.Repeat([]byte{byte(round)}, 1400)))
	}
	t.Fatalf("no frame kind %d", kind)
	return nil
}

// marked finds a frame's round and kind from its source MAC.
func marked(frame []byte) (round, kind int, ok bool) {
	if len(frame) < 12 || frame[6] != 0x02 || frame[7] != 0xca || frame[8] != 0 || frame[9] != 0 {
		return 0, 0, false
	}
	return int(frame[10]), int(frame[11]), true
}

func firewallLoader(cpus int) (*loader.Collection, error) {
	return loader.Load(filepath.Join(progsDir, "xdp_firewall.o"), loader.Options{PossibleCPUs: cpus})
}

// TestCaptureFirewall attaches the bundled firewall to a veth in a
// namespace of its own, sends allowed, blocked and malformed frames
// through it, captures with fentry/fexit, and checks the capture against
// what the peer received and against a replay in bpfscope.
func TestCaptureFirewall(t *testing.T) {
	l := newLab(t)
	coll := loadExample(t, "xdp_firewall.o", "xdp_firewall")
	if err := coll.Maps["blocked_v4"].Put([]byte{192, 0, 2, 66}, uint64(0)); err != nil {
		t.Fatal(err)
	}
	var xl link.Link
	if err := l.in(l.nsB, func() (err error) {
		xl, err = link.AttachXDP(link.XDPOptions{Program: coll.Programs["xdp_firewall"], Interface: l.ifB})
		return err
	}); err != nil {
		t.Skipf("attaching XDP to a veth: %v", err)
	}
	defer xl.Close()

	var tgt *Target
	if err := l.in(l.nsB, func() (err error) { tgt, err = Resolve(TargetSpec{Iface: labIfB}); return err }); err != nil {
		t.Fatalf("resolve %s: %v", labIfB, err)
	}
	defer tgt.Close()
	if tgt.Func != "xdp_firewall" || tgt.Kind() != "xdp" {
		t.Fatalf("target %s func %q kind %s", tgt.Where, tgt.Func, tgt.Kind())
	}
	run := startCapture(t, tgt, Options{})

	sender := l.packetSocket(l.nsA, l.ifA)
	observer := l.packetSocket(l.nsB, l.ifB)
	const rounds = 6
	sent := map[[2]int][]byte{}
	for r := range rounds {
		for k := range firewallKinds {
			f := firewallFrame(t, l.macB, r, k)
			sent[[2]int{r, k}] = f
			send(t, sender, l.ifA, f)
		}
	}
	run.waitFor(t, len(sent))
	seen := map[[2]int][]byte{}
	for _, f := range received(t, observer, 300*time.Millisecond) {
		if r, k, ok := marked(f); ok {
			seen[[2]int{r, k}] = f
		}
	}
	st, file := run.stop(t)
	t.Logf("stats: %+v", *st)

	if file.Program.Tag != tgt.Info.Tag || file.Program.Func != "xdp_firewall" || file.Program.Kind != "xdp" {
		t.Errorf("program block %+v", file.Program)
	}
	if len(file.Snapshots) == 0 || file.Snapshots[0].Atomic {
		t.Fatalf("want a first, non-atomic snapshot; got %d", len(file.Snapshots))
	}
	// The snapshot holds the blocklist entry the test put.
	found := false
	for _, m := range file.Snapshots[0].Maps {
		for _, e := range m.Entries {
			found = found || m.Name == "blocked_v4" && bytes.Equal(e.Key, []byte{192, 0, 2, 66})
		}
	}
	if !found {
		t.Errorf("the first snapshot lacks blocked_v4[192.0.2.66]: %+v", file.Snapshots[0].Maps)
	}

	captured := map[[2]int]*Run{}
	for _, r := range file.Runs {
		rd, k, ok := marked(r.In)
		if !ok {
			t.Logf("run %d: a frame the test did not send (%d bytes)", r.N, len(r.In))
			continue
		}
		captured[[2]int{rd, k}] = r
	}
	missing := 0
	for key, f := range sent {
		r := captured[key]
		if r == nil {
			missing++
			continue
		}
		kind := firewallKinds[key[1]]
		if !bytes.Equal(r.In, f) {
			t.Errorf("%s #%d: captured input differs from the frame sent", kind.name, key[0])
		}
		if r.Verdict != kind.verdict {
			t.Errorf("%s #%d: verdict %s, the firewall's source says %s", kind.name, key[0], VerdictName("xdp", r.Verdict), VerdictName("xdp", kind.verdict))
		}
		got, observed := seen[key]
		if passed := r.Verdict == 2; passed != observed {
			t.Errorf("%s #%d: captured %s but the peer %s it", kind.name, key[0], VerdictName("xdp", r.Verdict), map[bool]string{true: "received", false: "did not receive"}[observed])
		}
		if observed && !bytes.Equal(got, r.Out) {
			t.Errorf("%s #%d: the peer received %x, the capture's output frame is %x", kind.name, key[0], got, r.Out)
		}
		if r.Ifindex != uint32(l.ifB) || r.IngressIfindex != uint32(l.ifB) {
			t.Errorf("%s #%d: ifindex %d/%d, want %d", kind.name, key[0], r.Ifindex, r.IngressIfindex, l.ifB)
		}
	}
	if uint64(missing) > st.Lost {
		t.Errorf("%d of %d frames sent were neither captured nor counted as lost (lost %d)", missing, len(sent), st.Lost)
	}
	if missing > 0 {
		t.Logf("%d frames lost by a full ring buffer", missing)
	}

	// Replay every run in bpfscope from the snapshot.
	rp, err := NewReplayer(file, "xdp_firewall", firewallLoader)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range file.Runs {
		o, err := rp.Next(context.Background(), i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !o.Same() {
			t.Errorf("run %d (%d bytes, kernel %s): replay differs: %s %v", r.N, len(r.In), VerdictName("xdp", r.Verdict), o.Skipped, o.Diffs)
		}
	}
	for _, w := range rp.Warns {
		t.Logf("replay: %s", w)
	}

	// tcpdump reads the frames.
	if _, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command("tcpdump", "-n", "-r", run.path).CombinedOutput()
		if err != nil {
			t.Fatalf("tcpdump -n -r: %v\n%s", err, out)
		}
		if lines := len(tcpdumpPacketLine.FindAllString(string(out), -1)); lines != len(file.Runs) {
			t.Errorf("tcpdump shows %d frames, the capture holds %d runs:\n%s", lines, len(file.Runs), out)
		}
	} else {
		t.Log("tcpdump not installed: not checked")
	}
}

// TestSnapshotExplainsVerdict changes a map entry between two captured
// runs of the same frame: the replay from the snapshot before the change
// gives the old verdict, and the snapshot taken after the second run
// holds the change and gives the kernel's.
func TestSnapshotExplainsVerdict(t *testing.T) {
	l := newLab(t)
	coll := loadExample(t, "xdp_firewall.o", "xdp_firewall")
	var xl link.Link
	if err := l.in(l.nsB, func() (err error) {
		xl, err = link.AttachXDP(link.XDPOptions{Program: coll.Programs["xdp_firewall"], Interface: l.ifB})
		return err
	}); err != nil {
		t.Skipf("attaching XDP to a veth: %v", err)
	}
	defer xl.Close()
	info, _ := coll.Programs["xdp_firewall"].Info()
	id, _ := info.ID()
	tgt, err := Resolve(TargetSpec{ID: uint32(id)})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	// Only the test's UDP frames, by port: a kernel-side filter.
	run := startCapture(t, tgt, Options{SnapshotEvery: 1, Filter: Filter{Port: 7777, IPProto: 17}})
	sender := l.packetSocket(l.nsA, l.ifA)

	frame := func(round int) []byte {
		src := srcMAC(round, 0)
		ipl := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP("192.0.2.77"), DstIP: net.ParseIP("10.1.0.2")}
		udp := &layers.UDP{SrcPort: 5000, DstPort: 7777}
		udp.SetNetworkLayerForChecksum(ipl)
		return ser(t, &layers.Ethernet{SrcMAC: src, DstMAC: l.macB, EthernetType: layers.EthernetTypeIPv4}, ipl, udp, gopacket.Payload("x"))
	}
	send(t, sender, l.ifA, frame(1))
	run.waitFor(t, 1) // run 1 and the snapshot after it are written
	if err := coll.Maps["blocked_v4"].Put([]byte{192, 0, 2, 77}, uint64(0)); err != nil {
		t.Fatal(err)
	}
	// A frame the port filter leaves out: not recorded.
	other := firewallFrame(t, l.macB, 9, 5)
	send(t, sender, l.ifA, other)
	send(t, sender, l.ifA, frame(2))
	run.waitFor(t, 2)
	st, file := run.stop(t)
	if len(file.Runs) != 2 {
		t.Fatalf("want 2 runs (the ARP frame filtered out in the kernel), got %d; stats %+v", len(file.Runs), *st)
	}
	if st.Skipped < 1 {
		t.Errorf("the filtered ARP frame is not counted as skipped: %+v", *st)
	}
	if file.Runs[0].Verdict != 2 || file.Runs[1].Verdict != 1 {
		t.Fatalf("kernel verdicts %d, %d; want XDP_PASS then XDP_DROP", file.Runs[0].Verdict, file.Runs[1].Verdict)
	}
	if len(file.Snapshots) != 3 {
		t.Fatalf("want snapshots at the start and after each run, got %d", len(file.Snapshots))
	}
	diff := SnapshotDiff(file.Snapshots[1], file.Snapshots[2])
	if !containsPrefix(diff, "blocked_v4 c000024d: added") {
		t.Errorf("the snapshots do not show the blocklist change: %q", diff)
	}

	rp, err := NewReplayer(file, "xdp_firewall", firewallLoader)
	if err != nil {
		t.Fatal(err)
	}
	o1, err := rp.Next(context.Background(), 0, nil)
	if err != nil || !o1.Same() {
		t.Fatalf("run 1: %v %+v", err, o1)
	}
	o2, err := rp.Next(context.Background(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	// From the snapshot before the change, bpfscope passes the frame...
	if o2.Same() || int32(o2.Retval) != 2 {
		t.Fatalf("run 2 from the snapshot before the change: %+v", o2)
	}
	// ... and from the snapshot after run 2 it drops it, as the kernel did.
	if o2.Explained != 2 {
		t.Fatalf("run 2 not explained by snapshot 2: %+v", o2)
	}
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TestCaptureTCEgress captures the bundled tc_dnat on a veth's tcx egress
// hook: frames to 10.0.0.2 leave rewritten, short IPv4 frames are shot.
// The peer receives exactly the frames not shot, as the capture says they
// left; replays give the same verdicts and frames.
func TestCaptureTCEgress(t *testing.T) {
	l := newLab(t)
	coll := loadExample(t, "tc_classifier.o", "tc_dnat")
	var tl link.Link
	if err := l.in(l.nsA, func() (err error) {
		tl, err = link.AttachTCX(link.TCXOptions{Program: coll.Programs["tc_dnat"], Attach: ebpf.AttachTCXEgress, Interface: l.ifA})
		return err
	}); err != nil {
		t.Skipf("attaching tcx egress: %v", err)
	}
	defer tl.Close()
	var tgt *Target
	if err := l.in(l.nsA, func() (err error) {
		tgt, err = Resolve(TargetSpec{Iface: labIfA, Hook: HookEgress})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	if tgt.Kind() != "skb" {
		t.Fatalf("kind %s", tgt.Kind())
	}
	run := startCapture(t, tgt, Options{})
	sender := l.packetSocket(l.nsA, l.ifA)
	observer := l.packetSocket(l.nsB, l.ifB)

	frames := map[[2]int][]byte{}
	for r := range 4 {
		for k := range 3 {
			src := srcMAC(r, k)
			var f []byte
			switch k {
			case 0, 1: // to nat_from (rewritten), elsewhere (unchanged)
				dst := []string{"10.0.0.2", "10.1.0.2"}[k]
				ipl := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP("10.1.0.1"), DstIP: net.ParseIP(dst)}
				udp := &layers.UDP{SrcPort: layers.UDPPort(30000 + r), DstPort: 53}
				udp.SetNetworkLayerForChecksum(ipl)
				f = ser(t, &layers.Ethernet{SrcMAC: src, DstMAC: l.macB, EthernetType: layers.EthernetTypeIPv4}, ipl, udp, gopacket.Payload("query"))
			case 2: // IPv4 ethertype, 6 bytes of header: bpf_skb_load_bytes fails
				f = append(ser(t, &layers.Ethernet{SrcMAC: src, DstMAC: l.macB, EthernetType: layers.EthernetTypeIPv4}), 0x45, 0, 0, 20, 0, byte(r))
			}
			frames[[2]int{r, k}] = f
			send(t, sender, l.ifA, f)
		}
	}
	run.waitFor(t, len(frames))
	seen := map[[2]int][]byte{}
	for _, f := range received(t, observer, 300*time.Millisecond) {
		if r, k, ok := marked(f); ok {
			seen[[2]int{r, k}] = f
		}
	}
	st, file := run.stop(t)
	t.Logf("stats: %+v", *st)
	want := map[int]int32{0: 0, 1: 0, 2: 2} // TC_ACT_OK, TC_ACT_OK, TC_ACT_SHOT
	n := 0
	for _, r := range file.Runs {
		rd, k, ok := marked(r.In)
		if !ok {
			continue
		}
		n++
		if r.Verdict != want[k] {
			t.Errorf("frame %d/%d: verdict %s, want %s", rd, k, VerdictName("skb", r.Verdict), VerdictName("skb", want[k]))
		}
		got, observed := seen[[2]int{rd, k}]
		if observed != (r.Verdict != 2) {
			t.Errorf("frame %d/%d: %s but observed=%v", rd, k, VerdictName("skb", r.Verdict), observed)
		}
		if observed && !bytes.Equal(got, r.Out) {
			t.Errorf("frame %d/%d: peer got %x, capture says %x left", rd, k, got, r.Out)
		}
		if k == 0 && bytes.Equal(r.In, r.Out) {
			t.Errorf("frame %d/%d: not rewritten", rd, k)
		}
		if r.Skb == nil || r.Skb.Len != uint32(len(r.In)) || r.Skb.Protocol != binary.BigEndian.Uint16([]byte{0x00, 0x08}) {
			t.Errorf("frame %d/%d: skb fields %+v", rd, k, r.Skb)
		}
	}
	if uint64(len(frames)-n) > st.Lost {
		t.Errorf("%d frames sent, %d captured, %d lost", len(frames), n, st.Lost)
	}
	rp, err := NewReplayer(file, "tc_dnat", func(cpus int) (*loader.Collection, error) {
		return loader.Load(filepath.Join(progsDir, "tc_classifier.o"), loader.Options{PossibleCPUs: cpus})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range file.Runs {
		o, err := rp.Next(context.Background(), i, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, k, _ := marked(r.In)
		if k == 2 {
			// BPF_PROG_TEST_RUN refuses a tc input shorter than Ethernet +
			// IPv4 headers, and bpfscope with it: such runs are not
			// replayable, and say so.
			if o.Skipped == "" {
				t.Errorf("run %d: a 20-byte IPv4 frame replayed: %+v", r.N, o)
			}
			continue
		}
		if !o.Same() {
			t.Errorf("run %d: replay differs: %s %v", r.N, o.Skipped, o.Diffs)
		}
	}
}
