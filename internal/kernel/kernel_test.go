package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

const progsDir = "../../examples/progs"

// Verdicts and return codes used below.
const (
	xdpAborted  = 0
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4

	tcActOK     = 0
	tcActPipe   = 3
	tcActUnspec = 0xffffffff

	bpfOK   = 0
	bpfDrop = 2
)

func obj(name string) string { return filepath.Join(progsDir, name) }

func skipIfUnavailable(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
}

func runOK(t *testing.T, object, prog string, in Input) *Result {
	t.Helper()
	res, err := Run(obj(object), prog, in)
	if err != nil {
		t.Fatalf("Run(%s, %s): %v", object, prog, err)
	}
	if res.Err != nil {
		t.Fatalf("Run(%s, %s): test run failed: %v", object, prog, res.Err)
	}
	return res
}

func wantRet(t *testing.T, res *Result, want uint32) {
	t.Helper()
	if res.Retval != want {
		t.Errorf("retval = %d (%#x), want %d", res.Retval, res.Retval, want)
	}
}

// global reads the global variable name from the data section it lives in,
// using the offset and size recorded in the object's BTF.
func global(t *testing.T, object string, res *Result, name string) uint64 {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpec(obj(object))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := spec.Variables[name]
	if !ok {
		t.Fatalf("%s: no variable %s", object, name)
	}
	kvs := res.Maps[v.SectionName]
	if len(kvs) != 1 {
		t.Fatalf("section %s: %d entries", v.SectionName, len(kvs))
	}
	b := kvs[0].Value[v.Offset : v.Offset+v.Size()]
	var x uint64
	for i := len(b) - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x
}

// value returns the value stored under key in map m, nil if absent.
func value(res *Result, m string, key []byte) []byte {
	for _, kv := range res.Maps[m] {
		if bytes.Equal(kv.Key, key) {
			return kv.Value
		}
	}
	return nil
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func wantU64(t *testing.T, res *Result, m string, key []byte, want uint64) {
	t.Helper()
	v := value(res, m, key)
	if len(v) < 8 {
		t.Errorf("%s[%x] = %x, want %d", m, key, v, want)
		return
	}
	if got := binary.LittleEndian.Uint64(v); got != want {
		t.Errorf("%s[%x] = %d, want %d", m, key, got, want)
	}
}

func wantGlobal(t *testing.T, object string, res *Result, name string, want uint64) {
	t.Helper()
	if got := global(t, object, res, name); got != want {
		t.Errorf("%s = %d (%#x), want %d", name, got, got, want)
	}
}

func skbOut(t *testing.T, res *Result) SkBuff {
	t.Helper()
	var s SkBuff
	if err := Unmarshal(res.CtxOut, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	udp53  = Pad(UDP4Frame(IPv4A, IPv4B, 1000, 53, []byte("hello")), 60)
	udp6   = UDP6Frame(IPv6A, IPv6B, 1000, 53, []byte("hello"))
	tcp4   = TCP4Frame(IPv4A, IPv4B, 40000, 80, nil)
	arp    = Pad(EthFrame(0x0806, make([]byte, 28)), 60)
	ipv4B3 = netip.MustParseAddr("10.0.0.3")
)

func TestXDPFirewall(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "xdp_firewall.o", "xdp_firewall"

	t.Run("pass", func(t *testing.T) {
		res := runOK(t, o, p, Input{Data: udp53})
		wantRet(t, res, xdpPass)
		wantU64(t, res, "action_packets", u32(xdpPass), 1)
		// The test run executes on one CPU: the per-CPU values sum to 60.
		var sum uint64
		for _, kv := range res.Maps["action_bytes"] {
			if bytes.Equal(kv.Key, u32(xdpPass)) {
				for _, v := range kv.PerCPU {
					sum += binary.LittleEndian.Uint64(v)
				}
			}
		}
		if sum != 60 {
			t.Errorf("action_bytes[PASS] summed over CPUs = %d, want 60", sum)
		}
		wantGlobal(t, o, res, "packets_seen", 1)
		wantGlobal(t, o, res, "bytes_seen", 60)
		wantGlobal(t, o, res, "last_dport", 53)
		wantGlobal(t, o, res, "config_version", 3)
		if !bytes.Equal(res.DataOut, udp53) {
			t.Errorf("frame changed: %x", res.DataOut)
		}
	})
	t.Run("blocked_v4", func(t *testing.T) {
		src := IPv4A.As4()
		res := runOK(t, o, p, Input{Data: udp53, Maps: map[string][]KV{
			"blocked_v4": {{Key: src[:], Value: u64(0)}},
		}})
		wantRet(t, res, xdpDrop)
		wantU64(t, res, "blocked_v4", src[:], 1)
		wantU64(t, res, "action_packets", u32(xdpDrop), 1)
	})
	t.Run("blocked_v6", func(t *testing.T) {
		src := IPv6A.As16()
		res := runOK(t, o, p, Input{Data: udp6, Maps: map[string][]KV{
			"blocked_v6": {{Key: src[:], Value: u64(5)}},
		}})
		wantRet(t, res, xdpDrop)
		wantU64(t, res, "blocked_v6", src[:], 6)
	})
	t.Run("ipv6_pass", func(t *testing.T) {
		res := runOK(t, o, p, Input{Data: TCP6Frame(IPv6A, IPv6B, 1, 443, nil)})
		wantRet(t, res, xdpPass)
		wantGlobal(t, o, res, "last_dport", 443)
	})
	t.Run("echo_reply", func(t *testing.T) {
		req := ICMP4EchoFrame(IPv4A, IPv4B, 7, 1, []byte("ping"))
		res := runOK(t, o, p, Input{Data: req})
		wantRet(t, res, xdpTX)
		out := res.DataOut
		if !bytes.Equal(out[0:6], MACA) || !bytes.Equal(out[6:12], MACB) {
			t.Errorf("MACs not swapped: %x", out[:12])
		}
		if !bytes.Equal(out[26:30], req[30:34]) || !bytes.Equal(out[30:34], req[26:30]) {
			t.Errorf("IPs not swapped: %x", out[26:34])
		}
		if out[34] != 0 {
			t.Errorf("ICMP type = %d, want 0 (echo reply)", out[34])
		}
		if err := VerifyChecksums(out); err != nil {
			t.Error(err)
		}
	})
	t.Run("rodata_max_len", func(t *testing.T) {
		// Lower max_frame_len (first .rodata variable) to 40 bytes.
		spec, err := ebpf.LoadCollectionSpec(obj(o))
		if err != nil {
			t.Fatal(err)
		}
		v := spec.Variables["max_frame_len"]
		ro := bytes.Clone(spec.Maps[".rodata"].Contents[0].Value.([]byte))
		binary.LittleEndian.PutUint32(ro[v.Offset:], 40)
		res := runOK(t, o, p, Input{Data: udp53, Maps: map[string][]KV{".rodata": {{Key: u32(0), Value: ro}}}})
		wantRet(t, res, xdpDrop)
		wantGlobal(t, o, res, "max_frame_len", 40)
	})
	t.Run("repeat", func(t *testing.T) {
		res := runOK(t, o, p, Input{Data: udp53, Repeat: 10})
		wantRet(t, res, xdpPass)
		wantGlobal(t, o, res, "packets_seen", 10)
	})
}

func TestXDPAdjust(t *testing.T) {
	skipIfUnavailable(t)
	const o = "xdp_adjust.o"

	t.Run("vlan_push", func(t *testing.T) {
		res := runOK(t, o, "xdp_vlan_push", Input{Data: udp53})
		wantRet(t, res, xdpPass)
		want := append(append(bytes.Clone(udp53[:12]), 0x81, 0x00, 0x00, 100), udp53[12:]...)
		if !bytes.Equal(res.DataOut, want) {
			t.Errorf("got  %x\nwant %x", res.DataOut, want)
		}
	})
	t.Run("trailer", func(t *testing.T) {
		res := runOK(t, o, "xdp_trailer", Input{Data: udp53})
		wantRet(t, res, xdpTX)
		out := res.DataOut
		if len(out) != 68 || !bytes.Equal(out[:60], udp53) {
			t.Fatalf("out = %x", out)
		}
		if n := binary.LittleEndian.Uint32(out[60:]); n != 60 {
			t.Errorf("trailer orig_len = %d, want 60", n)
		}
		// A correct IPv4 header sums to 0xffff.
		if s := Fold(binary.LittleEndian.Uint32(out[64:])); s != 0xffff {
			t.Errorf("folded csum_diff = %#x, want 0xffff", s)
		}
	})
	t.Run("meta", func(t *testing.T) {
		res := runOK(t, o, "xdp_meta", Input{Data: udp53})
		wantRet(t, res, xdpPass)
		var md XDPMd
		if err := Unmarshal(res.CtxOut, &md); err != nil {
			t.Fatal(err)
		}
		// ctx_out offsets are relative to data_meta.
		if md.Data != 4 || md.DataEnd != 60 {
			t.Errorf("xdp_md out = %+v, want data 4, data_end 60", md)
		}
		if m := binary.LittleEndian.Uint32(res.DataOut); m != 0x0800 {
			t.Errorf("metadata = %#x, want 0x800", m)
		}
		if !bytes.Equal(res.DataOut[4:], udp53[:56]) {
			t.Errorf("frame after meta = %x", res.DataOut[4:])
		}
	})
}

func TestXDPRedirect(t *testing.T) {
	skipIfUnavailable(t)
	const o = "xdp_redirect.o"

	wantRet(t, runOK(t, o, "xdp_redirect_ifindex", Input{Data: udp53}), xdpRedirect)
	// Slot 53 & 3 = 1 of the devmap is empty: the flags argument (PASS).
	wantRet(t, runOK(t, o, "xdp_redirect_devmap", Input{Data: udp53}), xdpPass)
	res := runOK(t, o, "xdp_redirect_devmap", Input{Data: udp53, Maps: map[string][]KV{
		"tx_ports": {{Key: u32(1), Value: u32(1)}}, // loopback
	}})
	wantRet(t, res, xdpRedirect)
	if v := value(res, "tx_ports", u32(1)); !bytes.Equal(v, u32(1)) {
		t.Errorf("tx_ports[1] = %x", v)
	}
	wantRet(t, runOK(t, o, "xdp_redirect_cpumap", Input{Data: udp53}), xdpDrop)

	// Environment-dependent: only check that it is one of the two outcomes.
	res = runOK(t, o, "xdp_fib_forward", Input{Data: udp53})
	rc := int32(global(t, o, res, "fib_rc"))
	t.Logf("xdp_fib_forward: retval %d, bpf_fib_lookup rc %d", res.Retval, rc)
	if (rc == 0) != (res.Retval == xdpRedirect) || (rc != 0 && res.Retval != xdpPass) {
		t.Errorf("retval %d does not match fib rc %d", res.Retval, rc)
	}
}

func TestXDPLoop(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "xdp_loop.o", "xdp_loop"

	var sum uint16
	for _, b := range udp53[:32] {
		sum += uint16(b)
	}
	ev := binary.LittleEndian.AppendUint32(nil, 60)
	ev = binary.LittleEndian.AppendUint16(ev, 0x0800)
	reserved := binary.LittleEndian.AppendUint16(bytes.Clone(ev), 0xffff)
	ev = binary.LittleEndian.AppendUint16(ev, sum)

	res := runOK(t, o, p, Input{Data: udp53})
	wantRet(t, res, xdpPass)
	wantGlobal(t, o, res, "last_sum", uint64(sum))
	wantGlobal(t, o, res, "hist_total", 1)
	wantU64(t, res, "len_hist", u32(0), 1)
	recs := res.Events["events"]
	if len(recs) != 2 || !bytes.Equal(recs[0], ev) || !bytes.Equal(recs[1], reserved) {
		t.Errorf("ring buffer records = %x, want [%x %x]", recs, ev, reserved)
	}
	perfRecs := res.Events["perf_events"]
	if len(perfRecs) != 1 || !bytes.HasPrefix(perfRecs[0], ev) {
		t.Errorf("perf records = %x, want one starting with %x", perfRecs, ev)
	}

	// Non-IPv4: the reserved record is discarded.
	res = runOK(t, o, p, Input{Data: arp, Repeat: 3})
	wantRet(t, res, xdpPass)
	wantGlobal(t, o, res, "hist_total", 3)
	if n := len(res.Events["events"]); n != 3 {
		t.Errorf("%d ring buffer records for 3 ARP runs, want 3", n)
	}
}

func TestXDPTailCall(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "xdp_tailcall.o", "xdp_dispatch"

	cases := []struct {
		name  string
		frame []byte
		ret   uint32
		hits  map[string]uint64
	}{
		{"udp_discard", UDP4Frame(IPv4A, IPv4B, 1, 9, nil), xdpDrop,
			map[string]uint64{"dispatched": 1, "ipv4_seen": 1, "udp_seen": 1}},
		{"udp_dns", udp53, xdpPass,
			map[string]uint64{"dispatched": 1, "ipv4_seen": 1, "udp_seen": 1}},
		{"ttl1", Frame{Src: IPv4A, Dst: IPv4B, TTL: 1, DstPort: 53}.Build(), xdpDrop,
			map[string]uint64{"dispatched": 1, "ipv4_seen": 1}},
		{"tcp", tcp4, xdpPass, map[string]uint64{"dispatched": 1, "ipv4_seen": 1}},
		{"ipv6", udp6, xdpPass, map[string]uint64{"dispatched": 1, "ipv6_seen": 1}},
		{"arp_empty_slot", arp, xdpPass, map[string]uint64{"dispatched": 1, "fell_through": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runOK(t, o, p, Input{Data: c.frame})
			wantRet(t, res, c.ret)
			for _, v := range []string{"dispatched", "ipv4_seen", "ipv6_seen", "udp_seen", "fell_through"} {
				wantGlobal(t, o, res, v, c.hits[v])
			}
			if got := string(value(res, "jump_table", u32(2))); got != "handle_udp" {
				t.Errorf("jump_table[2] = %q", got)
			}
		})
	}
}

func TestXDPLPM(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "xdp_lpm.o", "xdp_lpm"
	lpmKey := func(bits uint32, a netip.Addr) []byte {
		ip := a.As4()
		return append(u32(bits), ip[:]...)
	}
	routes := []KV{
		{Key: lpmKey(8, netip.MustParseAddr("10.0.0.0")), Value: u32(0)},
		{Key: lpmKey(32, IPv4B), Value: u32(1)}, // blackhole 10.0.0.2
	}
	src, other := IPv4A.As4(), netip.MustParseAddr("10.0.0.9").As4()

	// A source sending into the blackhole is deleted from sources.
	res := runOK(t, o, p, Input{Data: udp53, Maps: map[string][]KV{
		"routes":  routes,
		"sources": {{Key: src[:], Value: u64(5)}, {Key: other[:], Value: u64(2)}},
	}})
	wantRet(t, res, xdpDrop)
	wantU64(t, res, "class1_packets", u32(0), 1)
	wantU64(t, res, "class0_packets", u32(0), 0)
	wantU64(t, res, "udp_packets", u32(0), 1)
	if s := res.Maps["sources"]; len(s) != 1 || !bytes.Equal(s[0].Key, other[:]) {
		t.Errorf("sources = %x, want only 10.0.0.9", s)
	}
	wantGlobal(t, o, res, "forgotten", 1)
	if got := string(value(res, "by_class", u32(1))); got != "class1_packets" {
		t.Errorf("by_class[1] = %q", got)
	}
	if q := res.Maps["recent_lens"]; len(q) != 1 || !bytes.Equal(q[0].Value, u32(60)) {
		t.Errorf("recent_lens = %x", q)
	}
	if s := res.Maps["last_class"]; len(s) != 1 || !bytes.Equal(s[0].Value, u32(1)) {
		t.Errorf("last_class = %x", s)
	}
	tot := value(res, "totals", u32(0))
	if len(tot) != 24 || binary.LittleEndian.Uint64(tot[8:]) != 1 || binary.LittleEndian.Uint64(tot[16:]) != 60 {
		t.Errorf("totals = %x, want 1 packet, 60 bytes", tot)
	}
	wantGlobal(t, o, res, "oldest_len", 60)
	wantGlobal(t, o, res, "prev_class", 0xffffffff)

	// Deleting an unknown source fails (-ENOENT): nothing forgotten.
	res = runOK(t, o, p, Input{Data: udp53, Maps: map[string][]KV{"routes": routes}})
	wantRet(t, res, xdpDrop)
	if s := res.Maps["sources"]; len(s) != 0 {
		t.Errorf("sources = %x, want none", s)
	}
	wantGlobal(t, o, res, "forgotten", 0)

	// 10.0.0.3 matches only 10.0.0.0/8 (class 0); queue and stack hold
	// state from the pre-filled values.
	frame := UDP4Frame(IPv4A, ipv4B3, 1, 2, nil)
	res = runOK(t, o, p, Input{Data: frame, Maps: map[string][]KV{
		"routes":      routes,
		"recent_lens": {{Value: u32(1)}, {Value: u32(2)}},
		"last_class":  {{Value: u32(7)}},
	}})
	wantRet(t, res, xdpPass)
	wantU64(t, res, "class0_packets", u32(0), 1)
	wantU64(t, res, "sources", src[:], 1)
	wantGlobal(t, o, res, "prev_class", 7)
	wantGlobal(t, o, res, "oldest_len", 1)
	if q := res.Maps["recent_lens"]; len(q) != 3 || !bytes.Equal(q[2].Value, u32(uint32(len(frame)))) {
		t.Errorf("recent_lens = %x, want 1, 2, %d", q, len(frame))
	}
}

func TestTCClassifier(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "tc_classifier.o", "tc_dnat"

	for name, frame := range map[string][]byte{"udp": udp53, "tcp": tcp4} {
		t.Run(name, func(t *testing.T) {
			res := runOK(t, o, p, Input{Data: frame})
			wantRet(t, res, tcActOK)
			if dst := res.DataOut[30:34]; !bytes.Equal(dst, []byte{10, 0, 0, 3}) {
				t.Errorf("destination = %v, want 10.0.0.3", dst)
			}
			if err := VerifyChecksums(res.DataOut); err != nil {
				t.Error(err)
			}
			s := skbOut(t, res)
			if s.Mark != 0x42 || s.Priority != 6 {
				t.Errorf("mark %#x priority %d, want 0x42 and 6", s.Mark, s.Priority)
			}
			// cb[2] = pkt_type: PACKET_OTHERHOST (3), the destination
			// MAC is not the loopback device's.
			if s.CB[0] != uint32(len(frame)) || s.CB[1] != 0x0800 || s.CB[2] != 3 {
				t.Errorf("cb = %v", s.CB)
			}
		})
	}
	t.Run("other_dst", func(t *testing.T) {
		frame := UDP4Frame(IPv4A, ipv4B3, 1, 2, nil)
		res := runOK(t, o, p, Input{Data: frame})
		wantRet(t, res, tcActOK)
		if !bytes.Equal(res.DataOut, frame) || skbOut(t, res).Mark != 0 {
			t.Errorf("frame or mark changed")
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		wantRet(t, runOK(t, o, p, Input{Data: udp6}), tcActUnspec)
	})
	t.Run("ctx_in_mark", func(t *testing.T) {
		frame := UDP4Frame(IPv4A, ipv4B3, 1, 2, nil)
		res := runOK(t, o, p, Input{Data: frame, Ctx: Marshal(SkBuff{Mark: 9, Priority: 2})})
		if s := skbOut(t, res); s.Mark != 9 || s.Priority != 2 {
			t.Errorf("mark %d priority %d, want 9 and 2 from ctx_in", s.Mark, s.Priority)
		}
	})
}

func TestTCResize(t *testing.T) {
	skipIfUnavailable(t)
	const o = "tc_resize.o"

	res := runOK(t, o, "tc_trailer", Input{Data: udp53})
	wantRet(t, res, tcActOK)
	if want := append(bytes.Clone(udp53), 0xde, 0xad, 0xbe, 0xef); !bytes.Equal(res.DataOut, want) {
		t.Errorf("tc_trailer: %x", res.DataOut)
	}

	res = runOK(t, o, "tc_vlan_push", Input{Data: udp53})
	wantRet(t, res, tcActOK)
	if want := append(append(bytes.Clone(udp53[:12]), 0x81, 0, 0, 100), udp53[12:]...); !bytes.Equal(res.DataOut, want) {
		t.Errorf("tc_vlan_push: %x", res.DataOut)
	}

	res = runOK(t, o, "tc_outer_eth", Input{Data: udp53})
	wantRet(t, res, tcActOK)
	if want := append(append(bytes.Clone(udp53[:12]), 0x88, 0xb5), udp53...); !bytes.Equal(res.DataOut, want) {
		t.Errorf("tc_outer_eth: %x", res.DataOut)
	}

	res = runOK(t, o, "tc_nat46", Input{Data: udp53})
	wantRet(t, res, tcActOK)
	out := res.DataOut
	if len(out) != 80 || binary.BigEndian.Uint16(out[12:]) != 0x86dd || out[14]>>4 != 6 {
		t.Fatalf("tc_nat46: %x", out)
	}
	src := netip.AddrFrom16([16]byte(out[22:38]))
	dst := netip.AddrFrom16([16]byte(out[38:54]))
	if src.Unmap() != IPv4A || dst.Unmap() != IPv4B || !src.Is4In6() {
		t.Errorf("addresses %v -> %v", src, dst)
	}
	if !bytes.Equal(out[54:], udp53[34:]) {
		t.Errorf("L4 changed: %x", out[54:])
	}
	if err := VerifyChecksums(out); err != nil {
		t.Errorf("tc_nat46: %v", err)
	}
}

func TestTCAction(t *testing.T) {
	skipIfUnavailable(t)
	frame := Frame{Src: IPv4A, Dst: IPv4B, TOS: 46 << 2, DstPort: 53}.Build() // DSCP EF
	res := runOK(t, "tc_action.o", "tc_dscp_priority", Input{Data: frame})
	wantRet(t, res, tcActPipe)
	if s := skbOut(t, res); s.Priority != 46 || s.Mark != uint32(len(frame)) {
		t.Errorf("priority %d mark %d, want 46 and %d", s.Priority, s.Mark, len(frame))
	}
	wantRet(t, runOK(t, "tc_action.o", "tc_dscp_priority", Input{Data: arp}), tcActOK)
}

func TestSocketFilter(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "socket_filter.o", "dns_filter"

	res := runOK(t, o, p, Input{Data: udp53})
	wantRet(t, res, 46) // skb->len: the IP packet, without Ethernet
	s := skbOut(t, res)
	if s.CB[0] != 13 || s.CB[1] != 0x0a000001 {
		t.Errorf("cb = %#x, want udp len 13 and saddr 0x0a000001", s.CB)
	}
	if !bytes.Equal(res.DataOut[:14], make([]byte, 14)) || !bytes.Equal(res.DataOut[14:], udp53[14:]) {
		t.Errorf("data_out = %x (want Ethernet header zeroed)", res.DataOut)
	}
	wantRet(t, runOK(t, o, p, Input{Data: UDP4Frame(IPv4A, IPv4B, 53, 80, nil)}), 0)
	wantRet(t, runOK(t, o, p, Input{Data: TCP4Frame(IPv4A, IPv4B, 1, 53, nil)}), 0)
	wantRet(t, runOK(t, o, p, Input{Data: udp6}), 0)
}

func TestCgroupSKB(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "cgroup_skb.o", "egress_filter"

	res := runOK(t, o, p, Input{Data: udp53})
	wantRet(t, res, 1)
	wantU64(t, res, "egress_bytes", u32(0), 46)
	// remote_ip4 is the packet's destination, in network byte order.
	wantGlobal(t, o, res, "last_remote_ip4", 0x0200000a)
	wantGlobal(t, o, res, "last_local_ip4", 0x0100000a)

	res = runOK(t, o, p, Input{Data: UDP4Frame(IPv4A, netip.MustParseAddr("10.0.0.99"), 1, 2, nil)})
	wantRet(t, res, 0)
	wantU64(t, res, "egress_bytes", u32(0), 0)
	wantRet(t, runOK(t, o, p, Input{Data: ICMP4EchoFrame(IPv4A, IPv4B, 1, 1, nil)}), 0)
	res = runOK(t, o, p, Input{Data: udp6})
	wantRet(t, res, 1)
	wantU64(t, res, "egress_bytes", u32(1), uint64(len(udp6)-14))
}

func TestLWT(t *testing.T) {
	skipIfUnavailable(t)
	const o = "lwt.o"
	wantRet(t, runOK(t, o, "lwt_ttl_guard", Input{Data: udp53}), bpfOK)
	wantRet(t, runOK(t, o, "lwt_ttl_guard", Input{Data: Frame{Src: IPv4A, Dst: IPv4B, TTL: 1}.Build()}), bpfDrop)
	res := runOK(t, o, "lwt_count", Input{Data: udp53})
	wantRet(t, res, bpfOK)
	wantU64(t, res, "proto_bytes", u32(17), 46)
	res = runOK(t, o, "lwt_count", Input{Data: tcp4})
	wantU64(t, res, "proto_bytes", u32(6), uint64(len(tcp4)-14))
}

func TestFlowDissector(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "flow_dissector.o", "dissect"
	keys := func(res *Result) FlowKeys {
		t.Helper()
		var k FlowKeys
		if err := Unmarshal(res.DataOut, &k); err != nil {
			t.Fatal(err)
		}
		return k
	}

	res := runOK(t, o, p, Input{Data: udp53})
	wantRet(t, res, bpfOK)
	k := keys(res)
	if k.Nhoff != 14 || k.Thoff != 34 || k.AddrProto != 0x0800 || k.IPProto != 17 ||
		Ntohs(k.NProto) != 0x0800 || Ntohs(k.Sport) != 1000 || Ntohs(k.Dport) != 53 ||
		!bytes.Equal(k.Addrs[:8], []byte{10, 0, 0, 1, 10, 0, 0, 2}) || k.IsFrag != 0 {
		t.Errorf("IPv4 keys = %+v", k)
	}

	res = runOK(t, o, p, Input{Data: TCP6Frame(IPv6A, IPv6B, 1234, 443, nil)})
	wantRet(t, res, bpfOK)
	k = keys(res)
	a, b := IPv6A.As16(), IPv6B.As16()
	if k.Thoff != 54 || k.AddrProto != 0x86dd || k.IPProto != 6 || Ntohs(k.Sport) != 1234 ||
		Ntohs(k.Dport) != 443 || !bytes.Equal(k.Addrs[:16], a[:]) || !bytes.Equal(k.Addrs[16:], b[:]) {
		t.Errorf("IPv6 keys = %+v", k)
	}

	wantRet(t, runOK(t, o, p, Input{Data: arp}), bpfDrop)
}

func TestSkLookup(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "sk_lookup.o", "port_guard"
	ctx := func(proto, port uint32) []byte {
		return Marshal(SkLookup{Family: 2, Protocol: proto, LocalPort: port,
			RemoteIP4: IPv4A.As4(), LocalIP4: IPv4B.As4()})
	}
	blocked := map[string][]KV{"blocked_ports": {{Key: []byte{80, 0}, Value: []byte{1}}}}

	res := runOK(t, o, p, Input{Ctx: ctx(6, 80), Maps: blocked})
	wantRet(t, res, 0) // SK_DROP
	wantGlobal(t, o, res, "tcp_lookups", 1)
	wantGlobal(t, o, res, "last_remote_ip4", 0x0100000a)
	wantRet(t, runOK(t, o, p, Input{Ctx: ctx(6, 443), Maps: blocked}), 1)
	res = runOK(t, o, p, Input{Ctx: ctx(17, 80), Maps: blocked})
	wantRet(t, res, 1)
	wantGlobal(t, o, res, "udp_lookups", 1)
}

func TestRawTracepoint(t *testing.T) {
	skipIfUnavailable(t)
	res := runOK(t, "raw_tp.o", "count_syscalls", Input{Ctx: Marshal([2]uint64{0xffff0000, 59})})
	wantRet(t, res, 59)
	wantU64(t, res, "syscalls", u64(59), 1)
	wantGlobal(t, "raw_tp.o", res, "last_id", 59)
}

func TestSyscall(t *testing.T) {
	skipIfUnavailable(t)
	type mulArgs struct {
		A, B    uint32
		Product uint64
		Ret     int32
		Msg     [28]byte
	}
	res := runOK(t, "syscall.o", "multiply", Input{Ctx: Marshal(mulArgs{A: 6, B: 7})})
	wantRet(t, res, 7)
	var out mulArgs
	if err := Unmarshal(res.CtxOut, &out); err != nil {
		t.Fatal(err)
	}
	msg, _, _ := bytes.Cut(out.Msg[:], []byte{0})
	if out.Product != 42 || out.Ret != 7 || string(msg) != "6*7=42" {
		t.Errorf("ctx out = %+v (msg %q)", out, msg)
	}
}

func TestNetfilter(t *testing.T) {
	skipIfUnavailable(t)
	const o, p = "netfilter.o", "nf_ipv4_only"
	// Default hook NF_INET_LOCAL_OUT (3): data is the IP packet itself.
	res := runOK(t, o, p, Input{Data: udp53[14:]})
	wantRet(t, res, 1) // NF_ACCEPT
	wantGlobal(t, o, res, "last_len", 46)
	wantGlobal(t, o, res, "last_hook", 3)
}

func TestTracingLoadsButCannotRun(t *testing.T) {
	skipIfUnavailable(t)
	for _, p := range []string{"trace_unlinkat", "trace_openat"} {
		res, err := Run(obj("tracing.o"), p, Input{Data: udp53})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !errors.Is(res.Err, ebpf.ErrNotSupported) {
			t.Errorf("%s: test run error = %v, want ErrNotSupported", p, res.Err)
		}
	}
}

func TestRunInsns(t *testing.T) {
	skipIfUnavailable(t)
	// *(u64 *)map0_value = data_end - data; return XDP_TX
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Sub.Reg(asm.R3, asm.R2),
		asm.LoadMapValue(asm.R4, 0, 0), // map index 0, value offset 0
		asm.StoreMem(asm.R4, 0, asm.R3, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
	}
	var raw bytes.Buffer
	if err := insns.Marshal(&raw, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	res, err := RunInsns(ebpf.XDP, raw.Bytes(), []MapDef{
		{Name: "len", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1},
	}, Input{Data: udp53})
	if err != nil {
		t.Fatal(err)
	}
	wantRet(t, res, xdpTX)
	wantU64(t, res, "len", u32(0), 60)
}

func TestRunErrors(t *testing.T) {
	skipIfUnavailable(t)
	if _, err := Run(obj("xdp_firewall.o"), "nope", Input{Data: udp53}); err == nil {
		t.Error("unknown program: no error")
	}
	if _, err := Run(obj("xdp_firewall.o"), "xdp_firewall", Input{Data: udp53, Maps: map[string][]KV{"nope": nil}}); err == nil {
		t.Error("unknown map: no error")
	}
	// The kernel refuses IPv4 frames with a cut IP header for skb programs.
	res, err := Run(obj("tc_classifier.o"), "tc_dnat", Input{Data: udp53[:30]})
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		t.Error("30-byte IPv4 frame: kernel accepted it")
	}
}
