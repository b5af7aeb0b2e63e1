package capture

import (
	"encoding/binary"
	"io"
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
// buffer writes without the trampoline's few nanoseconds; and
// tracepoint-filtered, the same with a verdict filter no run passes (the
// kernel side's cost alone: entry copy, exit filter, no record).
func BenchmarkVethFirewall(b *testing.B) {
	for _, mode := range []string{"plain", "captured", "tracepoint", "tracepoint-filtered"} {
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
	case "tracepoint", "tracepoint-filtered":
		tc := loadExample(b, "tc_classifier.o", "tc_dnat")
		info, err := tc.Programs["tc_dnat"].Info()
		if err != nil {
			b.Fatal(err)
		}
		tgt := &Target{Prog: tc.Programs["tc_dnat"], Info: info, Func: "tc_dnat", Where: "tracepoints"}
		opts := Options{tracepoints: [2]string{"net_dev_queue", "net_dev_xmit"}}
		if mode == "tracepoint-filtered" {
			// Every frame copied at entry, none kept at exit: the kernel
			// side's cost without user space's.
			opts.Verdicts = []int32{30}
		}
		startCapture(b, tgt, opts)
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

// BenchmarkRecordToFile is user space's work per record: decode it from
// the ring buffer and write it to the file (packet and run block).
func BenchmarkRecordToFile(b *testing.B) {
	rec := make([]byte, recordSize+2*100)
	binary.LittleEndian.PutUint32(rec[24:], 100)
	binary.LittleEndian.PutUint32(rec[28:], 100)
	binary.LittleEndian.PutUint32(rec[32:], 100)
	binary.LittleEndian.PutUint32(rec[36:], 100)
	binary.LittleEndian.PutUint32(rec[40:], 1)
	w, err := NewWriter(io.Discard, Program{Kind: "xdp"})
	if err != nil {
		b.Fatal(err)
	}
	mono := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r, err := parseRecord(rec, mono)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.WriteRun("xdp", r); err != nil {
			b.Fatal(err)
		}
	}
}
