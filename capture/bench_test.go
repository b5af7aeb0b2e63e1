package capture

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
)

// BenchmarkVethFirewall sends UDP frames through a veth pair whose far
// end runs the bundled firewall (XDP), and reports frames per second the
// firewall ran on (its packets_seen counter), without and with a capture
// attached. The capture records every run (no filter), the worst case.
func BenchmarkVethFirewall(b *testing.B) {
	for _, captured := range []bool{false, true} {
		name := "plain"
		if captured {
			name = "captured"
		}
		b.Run(name, func(b *testing.B) { benchVeth(b, captured) })
	}
}

func benchVeth(b *testing.B, captured bool) {
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
	if captured {
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
	deadline := time.Now().Add(10 * time.Second)
	for seen()-start < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(t0)
	b.StopTimer()
	n := seen() - start
	b.ReportMetric(float64(n)/el.Seconds(), "frames/s")
}
