package capture

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
)

// BenchmarkVethFirewall sends UDP frames through a veth pair whose far
// end runs the bundled firewall (XDP), and reports frames per second the
// firewall ran on (its packets_seen counter): plain; captured (fentry and
// fexit on the firewall, every run recorded: the worst case); and
// tracepoint, the same recording programs on the sender's net_dev_queue
// and net_dev_xmit tracepoints (TestRecordPathOnTracepoint), which runs
// where the kernel refuses trampolines and costs the same copies and ring
// buffer writes without the trampoline's few nanoseconds.
func BenchmarkVethFirewall(b *testing.B) {
	for _, mode := range []string{"plain", "captured", "tracepoint"} {
		b.Run(mode, func(b *testing.B) { benchVeth(b, mode) })
	}
}

func benchVeth(b *testing.B, mode string) {
	l := newLab(b)
	coll := loadExample(b, "xdp_firewall.o", "xdp_firewall")
	var xl link.Link
	if err := l.in(l.nsB, func() (err error) {
		xl, err = link.AttachXDP(link.XDPOptions{Program: coll.Programs["xdp_firewall"], Interface: l.ifB})
		return err
	}); err != nil {
		b.Skipf("attaching XDP: %v", err)
	}
	defer xl.Close()
	switch mode {
	case "tracepoint":
		tc := loadExample(b, "tc_classifier.o", "tc_dnat")
		info, err := tc.Programs["tc_dnat"].Info()
		if err != nil {
			b.Fatal(err)
		}
		tgt := &Target{Prog: tc.Programs["tc_dnat"], Info: info, Func: "tc_dnat", Where: "tracepoints"}
		startCapture(b, tgt, Options{tracepoints: [2]string{"net_dev_queue", "net_dev_xmit"}})
	case "captured":
		var tgt *Target
		if err := l.in(l.nsB, func() (err error) { tgt, err = Resolve(TargetSpec{Iface: labIfB}); return err }); err != nil {
			b.Fatal(err)
		}
		defer tgt.Close()
		startCapture(b, tgt, Options{})
	}
	sender := l.packetSocket(l.nsA, l.ifA)
	frame := firewallFrame(b, l.macB, 0, 0)
	seen := func() uint64 {
		var v []byte
		if err := coll.Maps[".bss"].Lookup(uint32(0), &v); err != nil {
			b.Fatal(err)
		}
		return binary.LittleEndian.Uint64(v)
	}
	start := seen()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		send(b, sender, l.ifA, frame)
	}
	// Wait for the firewall to catch up, until the count stops moving
	// (veth drops frames when its ring is full: those never reach it).
	last, lastMove := seen(), time.Now()
	for last-start < uint64(b.N) && time.Since(lastMove) < 100*time.Millisecond {
		time.Sleep(time.Millisecond)
		if v := seen(); v != last {
			last, lastMove = v, time.Now()
		}
	}
	el := time.Since(t0)
	if last-start < uint64(b.N) {
		el = lastMove.Sub(t0)
	}
	b.StopTimer()
	n := last - start
	b.ReportMetric(float64(n)/el.Seconds(), "frames/s")
	b.ReportMetric(float64(uint64(b.N)-n), "unseen")
}
