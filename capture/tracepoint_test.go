package capture

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestRecordPathOnTracepoint loads capture.o's tc programs into the
// kernel as tp_btf programs, the entry on net_dev_queue (struct sk_buff
// *skb, at the Ethernet header as on tc egress) and the exit on
// net_dev_xmit (skb, int rc, ...): the same sk_buff reads, frame copies,
// filters and ring buffer writes as on a tc program, checked by the
// kernel's verifier and run on real frames, where the kernel refuses the
// trampolines capture uses in production. The "verdict" is
// net_dev_xmit's return code (0, NETDEV_TX_OK); the outgoing frame is not
// checked (at net_dev_xmit the veth driver has consumed the skb).
func TestRecordPathOnTracepoint(t *testing.T) {
	l := newLab(t)
	coll := loadExample(t, "tc_classifier.o", "tc_dnat")
	info, err := coll.Programs["tc_dnat"].Info()
	if err != nil {
		t.Fatal(err)
	}
	tgt := &Target{Prog: coll.Programs["tc_dnat"], Info: info, Func: "tc_dnat", Where: "tracepoint net_dev_xmit"}
	tps := [2]string{"net_dev_queue", "net_dev_xmit"}
	sender := l.packetSocket(l.nsA, l.ifA)
	udp := func(round, size int) []byte {
		ipl := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP("10.1.0.1"), DstIP: net.ParseIP("10.1.0.2")}
		u := &layers.UDP{SrcPort: layers.UDPPort(20000 + round), DstPort: 7777}
		u.SetNetworkLayerForChecksum(ipl)
		return ser(t, &layers.Ethernet{SrcMAC: srcMAC(round, 0), DstMAC: l.macB, EthernetType: layers.EthernetTypeIPv4}, ipl, u, gopacket.Payload(bytes.Repeat([]byte{byte(round)}, size)))
	}
	ours := func(f *File) []*Run {
		var out []*Run
		for _, r := range f.Runs {
			if _, _, ok := marked(r.In); ok && r.Ifindex == uint32(l.ifA) {
				out = append(out, r)
			}
		}
		return out
	}

	t.Run("port filter and snaplen", func(t *testing.T) {
		run := startCapture(t, tgt, Options{tracepoints: tps, Snaplen: 100, Filter: Filter{Port: 7777, IPProto: 17}})
		var sent [][]byte
		for r := range 6 {
			f := udp(r, 10+r*250)
			sent = append(sent, f)
			send(t, sender, l.ifA, f)
			send(t, sender, l.ifA, firewallFrame(t, l.macB, r, 5)) // ARP: not port 7777
		}
		run.waitFor(t, len(sent))
		st, f := run.stop(t)
		got := ours(f)
		if len(got) != len(sent) {
			for _, r := range f.Runs {
				t.Logf("run %d: ifindex %d, %x", r.N, r.Ifindex, r.In)
			}
			t.Fatalf("%d of %d frames recorded; stats %+v", len(got), len(sent), *st)
		}
		for i, r := range got {
			want := sent[i]
			if r.InLen != len(want) || !bytes.Equal(r.In, want[:min(100, len(want))]) {
				t.Errorf("frame %d: in %d/%d bytes: %x", i, len(r.In), r.InLen, r.In)
			}
			if r.Verdict != 0 || r.Skb == nil || r.Skb.Len != uint32(len(want)) || r.Skb.Protocol != 0x0008 {
				t.Errorf("frame %d: verdict %d skb %+v", i, r.Verdict, r.Skb)
			}
		}
		if st.Skipped < 6 || st.Written < uint64(len(sent)) || st.Lost != 0 || st.Received != st.Written {
			t.Errorf("stats %+v: want the 6 ARP frames skipped in the kernel, every record written and received", *st)
		}
	})

	t.Run("verdict filter and count", func(t *testing.T) {
		// Only TC_ACT_SHOT (2): net_dev_xmit's 0 is never recorded.
		run := startCapture(t, tgt, Options{tracepoints: tps, Filter: Filter{Port: 7777, Verdicts: []int32{2}}})
		for r := range 3 {
			send(t, sender, l.ifA, udp(r, 20))
		}
		time.Sleep(300 * time.Millisecond)
		st, f := run.stop(t)
		if len(ours(f)) != 0 || st.Verdict < 3 {
			t.Errorf("verdict filter: %d runs recorded, stats %+v", len(ours(f)), *st)
		}
		run = startCapture(t, tgt, Options{tracepoints: tps, Filter: Filter{Port: 7777, Count: 2}})
		for r := range 5 {
			send(t, sender, l.ifA, udp(r, 20))
		}
		run.waitFor(t, 2)
		time.Sleep(200 * time.Millisecond)
		st, f = run.stop(t)
		// The kernel writes no more than 2 records, whoever stops first.
		if len(f.Runs) != 2 || st.Written != 2 || !bytes.Contains([]byte(st.Ended), []byte("count 2")) {
			t.Errorf("count 2: %d runs, stats %+v", len(f.Runs), *st)
		}
	})

	t.Run("sample", func(t *testing.T) {
		run := startCapture(t, tgt, Options{tracepoints: tps, Filter: Filter{Port: 7777, SampleEvery: 1 << 30}})
		for r := range 4 {
			send(t, sender, l.ifA, udp(r, 20))
		}
		time.Sleep(300 * time.Millisecond)
		st, f := run.stop(t)
		// One in 2^30 per CPU: at most one frame per CPU is taken.
		if n := len(ours(f)); n > 2 || st.Skipped < 2 {
			t.Errorf("sample: %d runs recorded, stats %+v", n, *st)
		}
	})

	t.Run("full ring buffer", func(t *testing.T) {
		// One page of ring buffer holds two 1.5 KB records: a burst loses
		// records, counted in the kernel; the file keeps every record read.
		run := startCapture(t, tgt, Options{tracepoints: tps, RingSize: 4096, Filter: Filter{Port: 7777}})
		const n = 300
		for r := range n {
			send(t, sender, l.ifA, udp(r%250, 1400))
		}
		time.Sleep(300 * time.Millisecond)
		st, f := run.stop(t)
		got := uint64(len(ours(f)))
		if got+st.Lost < n || st.Received != uint64(len(f.Runs)) {
			t.Fatalf("%d frames sent, %d in the file, %d counted lost; stats %+v", n, got, st.Lost, *st)
		}
		if st.Lost == 0 {
			t.Logf("no record lost: user space kept up with a one-page ring buffer")
		}
		t.Logf("%d frames: %d in the file, %d lost", n, got, st.Lost)
	})
}

// TestXDPRecordingVerifies loads xdp_check, which runs the XDP recording
// code (entry and exit) on a struct xdp_buff pointer, so the kernel's
// verifier checks it where fentry/fexit cannot be loaded. It is loaded,
// not attached.
func TestXDPRecordingVerifies(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(captureObject))
	if err != nil {
		t.Fatal(err)
	}
	for n := range spec.Programs {
		if n != "xdp_check" {
			delete(spec.Programs, n)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelBranch}})
	if err != nil {
		t.Fatalf("the verifier refuses the XDP recording code: %+v", err)
	}
	coll.Close()
}
