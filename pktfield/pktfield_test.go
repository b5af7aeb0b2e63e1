package pktfield

import (
	"net"
	"slices"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/bpfscope/bpfscope/internal/pktgen"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	ip4A = net.IP{10, 0, 0, 1}
	ip4B = net.IP{10, 0, 0, 2}
	ip6A = net.ParseIP("2001:db8::1")
	ip6B = net.ParseIP("2001:db8::2")
)

// build serializes layers as gopacket would put them on the wire.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					l.SetNetworkLayerForChecksum(nl)
				}
			}
		case *layers.ICMPv6:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					l.SetNetworkLayerForChecksum(nl)
				}
			}
		case *layers.UDP:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					l.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layout is a frame's expected fields, written from the protocols'
// specifications (RFC 791, 8200, 9293, 768, IEEE 802.1Q), in wire order.
type layout []struct {
	name string
	n    int
}

// check names every byte of frame: bytes of the layout by their field
// (with +k inside it), the rest by nothing; and each whole field by its name.
func (l layout) check(t *testing.T, frame []byte) {
	t.Helper()
	f := Dissect(frame)
	want := make([]string, len(frame))
	off := 0
	for _, x := range l {
		for k := range x.n {
			want[off+k] = x.name
			if k > 0 {
				want[off+k] += "+" + strconv.Itoa(k)
			}
		}
		if got := f.Name(off, x.n); got != x.name {
			t.Errorf("field at %d (%d bytes): got %q, want %q", off, x.n, got, x.name)
		}
		off += x.n
	}
	for i := range frame {
		if got := f.Name(i, 1); got != want[i] {
			t.Errorf("byte %d: got %q, want %q", i, got, want[i])
		}
	}
}

var (
	ethFields  = layout{{"eth.dst", 6}, {"eth.src", 6}, {"eth.type", 2}}
	ipv6Fields = layout{{"ipv6.version_tc_flow", 4}, {"ipv6.payload_len", 2}, {"ipv6.nexthdr", 1},
		{"ipv6.hop_limit", 1}, {"ipv6.src", 16}, {"ipv6.dst", 16}}
	ipv4Fields = layout{{"ipv4.version_ihl", 1}, {"ipv4.tos", 1}, {"ipv4.tot_len", 2}, {"ipv4.id", 2},
		{"ipv4.frag_off", 2}, {"ipv4.ttl", 1}, {"ipv4.protocol", 1}, {"ipv4.check", 2},
		{"ipv4.src", 4}, {"ipv4.dst", 4}}
	tcpFields = layout{{"tcp.src_port", 2}, {"tcp.dst_port", 2}, {"tcp.seq", 4}, {"tcp.ack_seq", 4},
		{"tcp.data_offset", 1}, {"tcp.flags", 1}, {"tcp.window", 2}, {"tcp.check", 2}, {"tcp.urg_ptr", 2}}
	udpFields = layout{{"udp.src_port", 2}, {"udp.dst_port", 2}, {"udp.len", 2}, {"udp.check", 2}}
)

func concat(ls ...layout) layout {
	var out layout
	for _, l := range ls {
		out = append(out, l...)
	}
	return out
}

func prefixed(p string, l layout) layout {
	out := make(layout, len(l))
	for i, x := range l {
		out[i] = x
		out[i].name = p + x.name
	}
	return out
}

// TestVLANIPv6TCPOptions names every byte of a VLAN-tagged IPv6/TCP frame
// with options.
func TestVLANIPv6TCPOptions(t *testing.T) {
	frame := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: ip6A, DstIP: ip6B},
		&layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, SYN: true, Window: 65535, Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}},
		gopacket.Payload("hello"))
	l := concat(ethFields, layout{{"vlan.tci", 2}, {"vlan.type", 2}}, ipv6Fields, tcpFields, layout{
		{"tcp.opt.mss.kind", 1}, {"tcp.opt.mss.len", 1}, {"tcp.opt.mss.value", 2},
		{"tcp.opt.sack_perm.kind", 1}, {"tcp.opt.sack_perm.len", 1},
		{"tcp.opt.ts.kind", 1}, {"tcp.opt.ts.len", 1}, {"tcp.opt.ts.value", 8},
		{"tcp.opt.nop", 1},
		{"tcp.opt.wscale.kind", 1}, {"tcp.opt.wscale.len", 1}, {"tcp.opt.wscale.value", 1},
	})
	if len(frame) != 14+4+40+40+5 {
		t.Fatalf("frame of %d bytes", len(frame))
	}
	l.check(t, frame)
}

func TestQinQIPv4OptionsUDP(t *testing.T) {
	frame := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeQinQ},
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B,
			Options: []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}},
		&layers.UDP{SrcPort: 1234, DstPort: 53},
		gopacket.Payload("q"))
	l := concat(ethFields, layout{{"vlan.tci", 2}, {"vlan.type", 2}, {"vlan2.tci", 2}, {"vlan2.type", 2}},
		ipv4Fields, layout{{"ipv4.options", 4}}, udpFields)
	l.check(t, frame)
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	hbh := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	dst := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}}
	dst.NextHeader = layers.IPProtocolIPv6Fragment
	frame := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolIPv6HopByHop, HopLimit: 64, SrcIP: ip6A, DstIP: ip6B},
		hbh, dst,
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, Identification: 7},
		&layers.UDP{SrcPort: 1, DstPort: 2},
	)
	l := concat(ethFields, ipv6Fields,
		layout{{"ipv6.hopopts.nexthdr", 1}, {"ipv6.hopopts.hdrlen", 1}, {"ipv6.hopopts.options", 6}},
		layout{{"ipv6.dstopts.nexthdr", 1}, {"ipv6.dstopts.hdrlen", 1}, {"ipv6.dstopts.options", 6}},
		layout{{"ipv6.frag.nexthdr", 1}, {"ipv6.frag.reserved", 1}, {"ipv6.frag.frag_off", 2}, {"ipv6.frag.id", 4}},
		udpFields)
	l.check(t, frame)
}

func TestIPv6Routing(t *testing.T) {
	rt := &layers.IPv6Routing{RoutingType: 0, SegmentsLeft: 1, Reserved: make([]byte, 4), SourceRoutingIPs: []net.IP{ip6B}}
	rt.NextHeader = layers.IPProtocolUDP
	frame := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolIPv6Routing, HopLimit: 64, SrcIP: ip6A, DstIP: ip6B},
		rt, &layers.UDP{SrcPort: 1, DstPort: 2})
	concat(ethFields, ipv6Fields,
		layout{{"ipv6.routing.nexthdr", 1}, {"ipv6.routing.hdrlen", 1}, {"ipv6.routing.type", 1},
			{"ipv6.routing.segments_left", 1}, {"ipv6.routing.data", 4 + 16}},
		udpFields).check(t, frame)
}

func TestICMPAndARP(t *testing.T) {
	icmp := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: ip4A, DstIP: ip4B},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 2},
		gopacket.Payload("ping"))
	concat(ethFields, ipv4Fields, layout{{"icmp.type", 1}, {"icmp.code", 1}, {"icmp.checksum", 2}, {"icmp.id", 2}, {"icmp.seq", 2}}).check(t, icmp)

	icmp6 := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 64, SrcIP: ip6A, DstIP: ip6B},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 1, SeqNumber: 2})
	concat(ethFields, ipv6Fields, layout{{"icmpv6.type", 1}, {"icmpv6.code", 1}, {"icmpv6.checksum", 2}, {"icmpv6.id", 2}, {"icmpv6.seq", 2}}).check(t, icmp6)

	arp := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ip4A, DstHwAddress: make([]byte, 6), DstProtAddress: ip4B})
	// gopacket pads ARP to the Ethernet minimum: the padding has no name.
	concat(ethFields, layout{{"arp.htype", 2}, {"arp.ptype", 2}, {"arp.hlen", 1}, {"arp.plen", 1}, {"arp.op", 2},
		{"arp.sha", 6}, {"arp.spa", 4}, {"arp.tha", 6}, {"arp.tpa", 4}}).check(t, arp)
}

func TestTunnels(t *testing.T) {
	inner := func() []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: macB, DstMAC: macA, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4B, DstIP: ip4A},
			&layers.UDP{SrcPort: 5, DstPort: 6},
		}
	}
	outer4 := func(proto layers.IPProtocol) []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: ip4A, DstIP: ip4B},
		}
	}
	innerL := concat(prefixed("inner.", ethFields), prefixed("inner.", ipv4Fields), prefixed("inner.", udpFields))

	vxlan := build(t, append(append(outer4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 999, DstPort: 4789},
		&layers.VXLAN{ValidIDFlag: true, VNI: 77}), inner()...)...)
	concat(ethFields, ipv4Fields, udpFields,
		layout{{"vxlan.flags", 1}, {"vxlan.reserved", 3}, {"vxlan.vni", 3}, {"vxlan.reserved2", 1}}, innerL).check(t, vxlan)

	gue := build(t, append(outer4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 999, DstPort: GUEPort},
		&layers.AGUEVar0{Protocol: layers.IPProtocolIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4B, DstIP: ip4A},
		&layers.UDP{SrcPort: 5, DstPort: 6})...)
	concat(ethFields, ipv4Fields, udpFields,
		layout{{"gue.ver_c_hlen", 1}, {"gue.proto", 1}, {"gue.flags", 2}},
		prefixed("inner.", ipv4Fields), prefixed("inner.", udpFields)).check(t, gue)

	geneve := build(t, append(append(outer4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 999, DstPort: 6081},
		&layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 77}), inner()...)...)
	concat(ethFields, ipv4Fields, udpFields,
		layout{{"geneve.ver_optlen", 1}, {"geneve.flags", 1}, {"geneve.protocol", 2}, {"geneve.vni", 3}, {"geneve.reserved", 1}},
		innerL).check(t, geneve)

	ipip := build(t, append(outer4(layers.IPProtocolIPv4),
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4B, DstIP: ip4A},
		&layers.UDP{SrcPort: 5, DstPort: 6})...)
	concat(ethFields, ipv4Fields, prefixed("inner.", ipv4Fields), prefixed("inner.", udpFields)).check(t, ipip)
}

func TestSpans(t *testing.T) {
	frame := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B},
		&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("xyz"))
	f := Dissect(frame)
	for _, c := range []struct {
		off, size int
		want      string
	}{
		{26, 8, "ipv4.src..ipv4.dst"},
		{12, 4, "eth.type..ipv4.tos"},
		{28, 2, "ipv4.src+2"},
		{42, 1, ""}, // payload
		{1000, 1, ""},
	} {
		if got := f.Name(c.off, c.size); got != c.want {
			t.Errorf("Name(%d, %d) = %q, want %q", c.off, c.size, got, c.want)
		}
	}
}

// TestCacheFollowsFrame: a rewritten header or a moved frame start (as
// after bpf_xdp_adjust_head) is dissected again.
func TestCacheFollowsFrame(t *testing.T) {
	udp := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B},
		&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("xyz"))
	var c Cache
	if got := c.Name(udp, 36, 2); got != "udp.dst_port" {
		t.Fatalf("got %q", got)
	}
	// The program rewrites the protocol: the same bytes are now TCP's.
	tcp := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: ip4A, DstIP: ip4B},
		&layers.TCP{SrcPort: 1, DstPort: 2, Window: 1})
	if got := c.Name(tcp, 38, 4); got != "tcp.seq" {
		t.Errorf("after a rewrite: got %q, want tcp.seq", got)
	}
	// Encapsulation: a new outer Ethernet and IPv4 header in front.
	encap := build(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: ip4A, DstIP: ip4B},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: ip4A, DstIP: ip4B},
		&layers.TCP{SrcPort: 1, DstPort: 2, Window: 1})
	if got := c.Name(encap, 34+12, 4); got != "inner.ipv4.src" {
		t.Errorf("after encapsulation: got %q, want inner.ipv4.src", got)
	}
	// An IPv4 header gopacket cannot decode (all zero), then written: the
	// bytes past the Ethernet header are watched too.
	frame := make([]byte, len(udp))
	copy(frame, udp[:14])
	if got := c.Name(frame, 26, 4); got != "" {
		t.Errorf("zero IPv4 header: got %q", got)
	}
	copy(frame[14:], udp[14:])
	if got := c.Name(frame, 26, 4); got != "ipv4.src" {
		t.Errorf("after headers were written: got %q, want ipv4.src", got)
	}
}

func TestUndecodable(t *testing.T) {
	for _, frame := range [][]byte{nil, {1, 2, 3}, make([]byte, 13)} {
		f := Dissect(frame)
		for i := range frame {
			if got := f.Name(i, 1); got != "" {
				t.Errorf("%x: byte %d named %q", frame, i, got)
			}
		}
	}
	// A truncated IPv4 header: the Ethernet header is still named.
	f := Dissect(append(make([]byte, 12), 0x08, 0x00, 0x45, 0))
	if got := f.Name(12, 2); got != "eth.type" {
		t.Errorf("got %q", got)
	}
}

func FuzzDissect(f *testing.F) {
	f.Add([]byte{})
	f.Add(append(make([]byte, 12), 0x81, 0x00, 0, 1, 0x86, 0xdd, 0x60))
	f.Add(append(make([]byte, 12), 0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2))
	for _, fr := range pktgen.Corpus(1, 64) {
		f.Add(fr.Data)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fs := Dissect(frame)
		if got, want := fs.fields, generalFields(frame); !slices.Equal(got, want) {
			t.Fatalf("fast path:\n%v\ngopacket.NewPacket:\n%v", got, want)
		}
		prev := 0
		fs.Each(func(off, n int, name string) {
			if off < prev || n <= 0 || off+n > len(frame) || name == "" {
				t.Fatalf("field %q at %d+%d in a %d-byte frame after %d", name, off, n, len(frame), prev)
			}
			prev = off + n
		})
		var c Cache
		for i := range min(len(frame), 128) {
			if a, b := fs.Name(i, 2), c.Name(frame, i, 2); a != b {
				t.Fatalf("byte %d: %q from Fields, %q from Cache", i, a, b)
			}
		}
	})
}

// generalFields dissects frame the general way only (gopacket.NewPacket).
func generalFields(frame []byte) []field {
	f := new(Fields)
	d := dissector{f: f}
	d.general(frame)
	return f.fields
}

// TestFastPathAgrees: over pktgen's every kind of frame (VLAN, QinQ, IPv4
// options and fragments, IPv6 extension headers, tunnels, jumbo, cut
// frames), the fast dissection gives the fields gopacket.NewPacket's
// does, and takes the common frames itself.
func TestFastPathAgrees(t *testing.T) {
	// The common kinds, whole, must be the fast path's own.
	common := map[string]bool{"ipv4/udp": true, "ipv4/tcp": true, "ipv4/icmp": true, "ipv6/udp": true,
		"ipv6/tcp": true, "arp": true, "ipv4-options": true, "ipip": true, "ipv4/udp+jumbo": true}
	fast, seen := 0, 0
	for _, fr := range pktgen.Corpus(7, 2000) {
		for i, data := range [][]byte{fr.Data, fr.Data[:len(fr.Data)/2], fr.Data[:min(len(fr.Data), 40)]} {
			got, want := Dissect(data).fields, generalFields(data)
			if !slices.Equal(got, want) {
				t.Fatalf("%s (%d bytes): fast path\n%v\ngopacket.NewPacket\n%v", fr.Name, len(data), got, want)
			}
			f := new(Fields)
			d := dissector{f: f}
			ok := dissectFast(data, &d)
			if ok {
				fast++
			}
			if i == 0 && common[fr.Name] {
				seen++
				if !ok {
					t.Errorf("%s: a common frame took the general path", fr.Name)
				}
			}
		}
	}
	if seen < 500 {
		t.Errorf("only %d common frames", seen)
	}
	t.Logf("the fast path took %d of 6000 frames (whole, halved and cut to 40 bytes)", fast)
}

// TestCacheNoAlloc: once a frame is dissected, naming any byte of its
// headers, inside a field or not, allocates nothing.
func TestCacheNoAlloc(t *testing.T) {
	udp := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B},
		&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("xyz"))
	var c Cache
	for i := range udp {
		c.Name(udp, i, 1)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if got := c.Name(udp, 28, 1); got != "ipv4.src+2" {
			t.Fatalf("got %q", got)
		}
		for i := range udp {
			c.Name(udp, i, 1)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per pass over the frame", allocs)
	}
}

// BenchmarkCacheName names the bytes of a 1000-byte frame one by one, as
// a loop over the packet does: most are payload.
func BenchmarkCacheName(b *testing.B) {
	frame := build(b,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B},
		&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload(make([]byte, 958)))
	var c Cache
	for i := 0; b.Loop(); i++ {
		c.Name(frame, i%len(frame), 1)
	}
}

// NameSpan answers as Name does, and every offset of its span has that
// answer: over frames whose headers end early (payload after them) or
// are not recognised at all, every offset and access size.
func TestNameSpanAgreesWithName(t *testing.T) {
	udp := build(t,
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B},
		&layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("some payload bytes"))
	odd := make([]byte, 100) // ethertype 0: nothing past the Ethernet header
	for _, frame := range [][]byte{udp, odd, udp[:10]} {
		var spans, names Cache
		wide := 0 // spans of more than one offset
		for _, size := range []int{1, 2, 4, 8} {
			for off := range len(frame) {
				name, lo, hi := spans.NameSpan(frame, off, size)
				if want := names.Name(frame, off, size); name != want {
					t.Fatalf("NameSpan(%d, %d) = %q, Name %q", off, size, name, want)
				}
				if lo > off || off >= hi || hi > len(frame) {
					t.Fatalf("NameSpan(%d, %d): span [%d, %d) does not hold it in a frame of %d", off, size, lo, hi, len(frame))
				}
				for o := lo; o < hi; o++ {
					if got := names.Name(frame, o, size); got != name {
						t.Fatalf("NameSpan(%d, %d) = %q for [%d, %d), but Name(%d) = %q", off, size, name, lo, hi, o, got)
					}
				}
				if hi-lo > 1 {
					wide++
				}
			}
		}
		if len(frame) > 14 && wide == 0 {
			t.Errorf("a frame of %d bytes: no span covers its payload", len(frame))
		}
	}
}
