// Package pktgen generates the Ethernet frames differential tests feed to
// programs from other projects: a reproducible mix (by seed) of every
// encapsulation such programs parse — 802.1Q VLAN and 802.1ad QinQ tags,
// MPLS, IPv4 with options and fragments, IPv6 with extension headers
// (hop-by-hop, routing/SRH, fragment, destination options), tunnels (GRE,
// GRE with Ethernet, IPIP, SIT, IP6IP6, VXLAN, Geneve, GUE and FOU), TCP
// with assorted flags, UDP, ICMP and ICMPv6, ARP — in sizes from runts cut
// inside their headers to jumbo frames of 4–9 KB and the largest frame the
// kernel's XDP test run takes (MaxXDPFrame).
//
// Addresses and ports come from small pools (Addrs4, Addrs6, Ports) so that
// map entries a test derives from one frame (see Fields) match others.
//
// Usage:
//
//	for _, f := range pktgen.Corpus(seed, 200) { run(f.Name, f.Data) }
//	g := pktgen.New(seed); f := g.Next() // one at a time
//	keys := pktgen.Fields(f.Data)        // addresses, ports, ... to key maps with
//	pktgen.WritePcap(w, frames)          // a capture for run --pcap or tcpdump
package pktgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// MaxXDPFrame is the longest frame BPF_PROG_TEST_RUN takes for XDP on 4 KiB
// pages (net/bpf/test_run.c): a linear part of 4096 - 256 (headroom) - 320
// (skb_shared_info) bytes and 17 (MAX_SKB_FRAGS) page-sized fragments.
const MaxXDPFrame = 4096 - 256 - 320 + 17*4096

// Address and port pools: every generated frame draws from these.
var (
	Addrs4 = []netip.Addr{
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("198.51.100.7"),
	}
	Addrs6 = []netip.Addr{
		netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"),
		netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("fe80::1"),
	}
	// Ports are well-known services and the tunnel ports below.
	Ports = []uint16{22, 53, 80, 443, 1000, 8080, 12345}
	MACs  = []net.HardwareAddr{
		{0x02, 0, 0, 0, 0, 0x01}, {0x02, 0, 0, 0, 0, 0x02}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
)

// UDP ports of the UDP tunnels (the IANA ones, and 5555/6080 for FOU and
// GUE as the kernel's selftests configure them).
const (
	PortVXLAN  = 4789
	PortGeneve = 6081
	PortFOU    = 5555
	PortGUE    = 6080
)

// Frame is one generated frame and a name saying what it holds, outermost
// layer first ("vlan/ipv4/gre/ipv6/tcp", "+cut" when truncated).
type Frame struct {
	Name string
	Data []byte
}

// Kinds lists every kind of frame the generator makes; Corpus makes each
// of them at least once.
var Kinds = []string{
	"ipv4/tcp", "ipv4/udp", "ipv4/icmp", "ipv6/tcp", "ipv6/udp", "ipv6/icmpv6",
	"arp", "vlan", "qinq", "mpls", "ipv4-options", "ipv4-frag", "ipv6-hopbyhop",
	"ipv6-routing", "ipv6-frag", "ipv6-dstopts", "ipv6-exts", "gre", "gre-eth", "ipip",
	"sit", "ip6ip6", "vxlan", "geneve", "gue", "fou", "jumbo", "max", "cut", "runt",
	"garbage",
}

// Generator yields frames of the mix, one at a time.
type Generator struct {
	rng *rand.Rand
}

// New returns a generator; the same seed gives the same frames.
func New(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, 0x70676b74))}
}

// Corpus returns n frames (at least one of every kind, in the order of
// Kinds, then random kinds).
func Corpus(seed uint64, n int) []Frame {
	g := New(seed)
	out := make([]Frame, 0, max(n, len(Kinds)))
	for _, k := range Kinds {
		out = append(out, g.Kind(k))
	}
	for len(out) < n {
		out = append(out, g.Next())
	}
	return out
}

// Next returns a frame of a random kind: mostly plain IPv4/IPv6, often
// tagged or tunnelled, sometimes jumbo or cut.
func (g *Generator) Next() Frame {
	r := g.rng.IntN(100)
	switch {
	case r < 30:
		return g.Kind(Kinds[g.rng.IntN(6)])
	case r < 90:
		return g.Kind(Kinds[6+g.rng.IntN(len(Kinds)-6-5)])
	}
	return g.Kind(Kinds[len(Kinds)-5+g.rng.IntN(5)])
}

// Kind returns a frame of the named kind (one of Kinds); it panics on an
// unknown kind, a bug in the caller.
func (g *Generator) Kind(kind string) Frame {
	f, _ := g.frame(kind)
	return f
}

// frame builds a frame of the kind, and for the kinds built from layers
// the layers too.
func (g *Generator) frame(kind string) (Frame, *stack) {
	r := g.rng
	s := &stack{}
	switch kind {
	case "ipv4/tcp", "ipv4/udp", "ipv4/icmp", "ipv6/tcp", "ipv6/udp", "ipv6/icmpv6":
		v, l4, _ := strings.Cut(kind, "/")
		s.eth(g)
		g.ip(s, v == "ipv6", l4)
	case "arp":
		s.eth(g)
		s.arp(g)
	case "vlan", "qinq":
		s.eth(g)
		if kind == "qinq" {
			s.vlan(layers.EthernetTypeQinQ, uint16(1+r.IntN(4094)))
		}
		s.vlan(layers.EthernetTypeDot1Q, uint16([]int{1, 10, 100, 4094}[r.IntN(4)]))
		g.ip(s, r.IntN(3) == 0, "")
	case "mpls":
		s.eth(g)
		for range 1 + r.IntN(2) {
			s.add(layers.EthernetTypeMPLSUnicast, &layers.MPLS{Label: uint32(16 + r.IntN(1000)), TTL: 64})
		}
		s.mplsBottom()
		g.ip(s, false, "")
	case "ipv4-options":
		s.eth(g)
		g.ipWith(s, false, "", func(ip *layers.IPv4) {
			// A record-route option with room for two addresses, then
			// a no-op padding the header to a multiple of 4 bytes.
			ip.Options = []layers.IPv4Option{
				{OptionType: 7, OptionLength: 11, OptionData: append([]byte{4}, make([]byte, 8)...)},
				{OptionType: 1, OptionLength: 1},
			}
		}, nil)
	case "ipv4-frag":
		s.eth(g)
		g.ipWith(s, false, "", func(ip *layers.IPv4) {
			if r.IntN(2) == 0 {
				ip.Flags = layers.IPv4MoreFragments
			} else {
				ip.FragOffset = uint16(1 + r.IntN(180))
				ip.Flags = layers.IPv4MoreFragments * layers.IPv4Flag(r.IntN(2))
			}
		}, nil)
	case "ipv6-hopbyhop", "ipv6-routing", "ipv6-frag", "ipv6-dstopts", "ipv6-exts":
		s.eth(g)
		exts := map[string][]uint8{
			"ipv6-hopbyhop": {0}, "ipv6-routing": {43}, "ipv6-frag": {44}, "ipv6-dstopts": {60},
			"ipv6-exts": {0, 60, 43, 44},
		}[kind]
		g.ipWith(s, true, "", nil, exts)
	case "gre", "gre-eth", "ipip", "sit", "ip6ip6", "vxlan", "geneve", "gue", "fou":
		s.eth(g)
		g.tunnel(s, kind)
	case "jumbo", "max":
		f, inner := g.frame(Kinds[g.rng.IntN(6)])
		n := 4000 + r.IntN(9018-4000+1)
		if kind == "max" {
			n = MaxXDPFrame
		}
		// The IP length covers up to a 9018-byte frame (a 9000-byte
		// MTU), trailing bytes the rest: an IP length cannot say 73 KB.
		last := len(inner.ls) - 1
		inner.ls[last] = gopacket.Payload(nil)
		hdr := len(inner.serialize())
		inner.ls[last] = gopacket.Payload(randBytes(r, min(n, 9018)-hdr))
		return Frame{Name: f.Name + "+" + kind, Data: grow(inner.serialize(), n, r)}, nil
	case "cut":
		f := g.Next()
		for f.Name == "runt" || f.Name == "garbage" || len(f.Data) <= 15 {
			f = g.Next()
		}
		// Cut inside the headers mostly, anywhere past the Ethernet header.
		end := 14 + r.IntN(min(len(f.Data), 120)-14)
		return Frame{Name: f.Name + "+cut", Data: f.Data[:end]}, nil
	case "runt":
		// Shorter than an Ethernet header: test runs refuse these.
		return Frame{Name: "runt", Data: randBytes(r, r.IntN(14))}, nil
	case "garbage":
		b := randBytes(r, 14+r.IntN(100))
		binary.BigEndian.PutUint16(b[12:], []uint16{0x0800, 0x86dd, 0x8100, 0x0806, 0x88a8}[r.IntN(5)])
		return Frame{Name: "garbage", Data: b}, nil
	default:
		panic(fmt.Sprintf("pktgen: unknown kind %q", kind))
	}
	return Frame{Name: kind, Data: s.build()}, s
}

// stack collects layers outermost first, linking each one's "next
// protocol" field to the layer added after it.
type stack struct {
	ls   []gopacket.SerializableLayer
	ip   gopacket.NetworkLayer // innermost network layer so far, for checksums
	next func(layers.EthernetType)
}

func (s *stack) add(typ layers.EthernetType, l gopacket.SerializableLayer) {
	if s.next != nil {
		s.next(typ)
	}
	s.next = nil
	s.ls = append(s.ls, l)
}

func (s *stack) eth(g *Generator) {
	e := &layers.Ethernet{SrcMAC: MACs[0], DstMAC: MACs[g.rng.IntN(len(MACs))]}
	if g.rng.IntN(2) == 0 {
		e.SrcMAC, e.DstMAC = MACs[1], MACs[0]
	}
	s.ls = append(s.ls, e)
	s.next = func(t layers.EthernetType) { e.EthernetType = t }
}

func (s *stack) vlan(tpid layers.EthernetType, id uint16) {
	d := &layers.Dot1Q{VLANIdentifier: id, Priority: uint8(id % 8)}
	s.add(tpid, d)
	s.next = func(t layers.EthernetType) { d.Type = t }
}

// mplsBottom sets the bottom-of-stack bit on the last label; what follows
// an MPLS label stack is not typed.
func (s *stack) mplsBottom() {
	s.ls[len(s.ls)-1].(*layers.MPLS).StackBottom = true
	s.next = func(layers.EthernetType) {}
}

func (s *stack) arp(g *Generator) {
	a := Addrs4[g.rng.IntN(len(Addrs4))].As4()
	b := Addrs4[g.rng.IntN(len(Addrs4))].As4()
	s.add(layers.EthernetTypeARP, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: uint16(1 + g.rng.IntN(2)),
		SourceHwAddress: MACs[0], SourceProtAddress: a[:], DstHwAddress: make([]byte, 6), DstProtAddress: b[:]})
}

func (g *Generator) ip(s *stack, v6 bool, l4 string) { g.ipWith(s, v6, l4, nil, nil) }

// ipWith adds an IPv4 or IPv6 header (edited by tweak4, followed by the
// IPv6 extension headers exts) and a transport header: l4 ("tcp", "udp",
// "icmp", "icmpv6") or a random one.
func (g *Generator) ipWith(s *stack, v6 bool, l4 string, tweak4 func(*layers.IPv4), exts []uint8) {
	r := g.rng
	if l4 == "" {
		l4 = []string{"tcp", "tcp", "udp", "udp", "icmp"}[r.IntN(5)]
		if l4 == "icmp" && v6 {
			l4 = "icmpv6"
		}
	}
	proto := map[string]layers.IPProtocol{"tcp": layers.IPProtocolTCP, "udp": layers.IPProtocolUDP,
		"icmp": layers.IPProtocolICMPv4, "icmpv6": layers.IPProtocolICMPv6}[l4]
	g.l3(s, v6, proto, tweak4, exts)
	g.l4(s, proto)
}

// l3 adds a network header carrying proto.
func (g *Generator) l3(s *stack, v6 bool, proto layers.IPProtocol, tweak4 func(*layers.IPv4), exts []uint8) {
	r := g.rng
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: []uint8{1, 64, 255}[r.IntN(3)], TrafficClass: uint8(r.IntN(256)),
			FlowLabel: uint32(r.IntN(1 << 20)), SrcIP: pick(r, Addrs6), DstIP: pick(r, Addrs6)}
		s.add(layers.EthernetTypeIPv6, ip)
		s.ip = ip
		nh := &ip.NextHeader
		for _, e := range exts {
			*nh = layers.IPProtocol(e)
			h := &extHeader{}
			h.build(r, e, len(ip.SrcIP))
			s.ls = append(s.ls, h)
			nh = &h.next
		}
		*nh = proto
		return
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: []uint8{1, 2, 64, 255}[r.IntN(4)], TOS: uint8(r.IntN(256)),
		Id: uint16(r.Uint32()), Protocol: proto, SrcIP: pick(r, Addrs4), DstIP: pick(r, Addrs4)}
	if r.IntN(3) == 0 {
		ip.Flags = layers.IPv4DontFragment
	}
	if tweak4 != nil {
		tweak4(ip)
	}
	s.add(layers.EthernetTypeIPv4, ip)
	s.ip = ip
}

// l4 adds a transport header and a payload.
func (g *Generator) l4(s *stack, proto layers.IPProtocol) {
	r := g.rng
	sport, dport := pickPort(r), pickPort(r)
	switch proto {
	case layers.IPProtocolTCP:
		t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: r.Uint32(),
			Window: uint16(r.Uint32()), DataOffset: 5}
		flags := []uint8{0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x29, 0}[r.IntN(10)]
		t.FIN, t.SYN, t.RST, t.PSH = flags&1 != 0, flags&2 != 0, flags&4 != 0, flags&8 != 0
		t.ACK, t.URG = flags&0x10 != 0, flags&0x20 != 0
		if t.ACK {
			t.Ack = r.Uint32()
		}
		if t.SYN && r.IntN(2) == 0 {
			// MSS, SACK permitted, timestamps, window scale: what a
			// SYN cookie or option parser reads.
			t.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
				{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: randBytes(r, 8)},
				{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
				{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
			}
		}
		_ = t.SetNetworkLayerForChecksum(s.ip)
		s.ls = append(s.ls, t)
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		_ = u.SetNetworkLayerForChecksum(s.ip)
		s.ls = append(s.ls, u)
	case layers.IPProtocolICMPv4:
		typ := []uint8{layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply, layers.ICMPv4TypeDestinationUnreachable,
			layers.ICMPv4TypeTimeExceeded}[r.IntN(4)]
		s.ls = append(s.ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, uint8(r.IntN(4))),
			Id: sport, Seq: dport})
	case layers.IPProtocolICMPv6:
		typ := []uint8{layers.ICMPv6TypeEchoRequest, layers.ICMPv6TypeEchoReply, layers.ICMPv6TypeNeighborSolicitation,
			layers.ICMPv6TypePacketTooBig}[r.IntN(4)]
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		_ = ic.SetNetworkLayerForChecksum(s.ip)
		s.ls = append(s.ls, ic, &layers.ICMPv6Echo{Identifier: sport, SeqNumber: dport})
	}
	n := []int{0, 1, 5, 18, 64, 200, 1000 + r.IntN(460)}[r.IntN(7)]
	s.ls = append(s.ls, gopacket.Payload(randBytes(r, n)))
}

// tunnel adds an outer network header, the tunnel's header and an inner
// packet.
func (g *Generator) tunnel(s *stack, kind string) {
	r := g.rng
	v6 := r.IntN(3) == 0
	inner6 := r.IntN(3) == 0
	innerProto := func() layers.IPProtocol {
		if inner6 {
			return layers.IPProtocolIPv6
		}
		return layers.IPProtocolIPv4
	}
	udp := func(port uint16) {
		g.l3(s, v6, layers.IPProtocolUDP, nil, nil)
		u := &layers.UDP{SrcPort: layers.UDPPort(pickPort(r)), DstPort: layers.UDPPort(port)}
		_ = u.SetNetworkLayerForChecksum(s.ip)
		s.ls = append(s.ls, u)
	}
	switch kind {
	case "ipip":
		g.l3(s, false, layers.IPProtocolIPv4, nil, nil)
		inner6 = false
	case "sit":
		g.l3(s, false, layers.IPProtocolIPv6, nil, nil)
		inner6 = true
	case "ip6ip6":
		g.l3(s, true, innerProto(), nil, nil)
	case "gre", "gre-eth":
		g.l3(s, v6, layers.IPProtocolGRE, nil, nil)
		gre := &layers.GRE{}
		if r.IntN(2) == 0 {
			gre.KeyPresent, gre.Key = true, uint32(r.IntN(4))
		}
		if r.IntN(3) == 0 {
			gre.SeqPresent, gre.Seq = true, r.Uint32()
		}
		s.ls = append(s.ls, gre)
		if kind == "gre-eth" {
			gre.Protocol = layers.EthernetTypeTransparentEthernetBridging
			s.eth(g)
		} else {
			s.next = func(t layers.EthernetType) { gre.Protocol = t }
		}
	case "vxlan":
		udp(PortVXLAN)
		s.ls = append(s.ls, &layers.VXLAN{ValidIDFlag: true, VNI: uint32(r.IntN(4))})
		s.eth(g)
	case "geneve":
		udp(PortGeneve)
		gn := &geneve{vni: uint32(r.IntN(4))}
		s.ls = append(s.ls, gn)
		if r.IntN(2) == 0 {
			gn.proto = layers.EthernetTypeTransparentEthernetBridging
			s.eth(g)
		} else {
			s.next = func(t layers.EthernetType) { gn.proto = t }
		}
	case "gue":
		udp(PortGUE)
		s.ls = append(s.ls, &raw{b: []byte{0, byte(innerProto()), 0, 0}}) // version 0, no options
	case "fou":
		udp(PortFOU)
	}
	g.ip(s, inner6, "")
}

// build serialises the layers, padded to Ethernet's minimum.
func (s *stack) build() []byte {
	b := s.serialize()
	if len(b) < 60 {
		b = append(b, make([]byte, 60-len(b))...) // a NIC pads to the minimum
	}
	return b
}

// serialize lays out the layers with lengths and checksums computed.
func (s *stack) serialize() []byte {
	if s.next != nil {
		s.next(0x88b5) // local experimental EtherType: nothing follows
		s.next = nil
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, s.ls...); err != nil {
		panic(fmt.Sprintf("pktgen: %v", err)) // the layers above are consistent
	}
	return slices.Clone(buf.Bytes())
}

// grow extends a frame to n bytes: its last IP header covers what an IP
// length can say (9000 bytes of IP), trailing random bytes the rest.
func grow(b []byte, n int, r *rand.Rand) []byte {
	if len(b) >= n {
		return b[:n]
	}
	return append(slices.Clone(b), randBytes(r, n-len(b))...)
}

// raw is a header gopacket has no serializer for.
type raw struct {
	b    []byte
	next layers.IPProtocol
}

func (h *raw) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

func (h *raw) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	p, err := b.PrependBytes(len(h.b))
	if err != nil {
		return err
	}
	copy(p, h.b)
	return nil
}

// extHeader is an IPv6 extension header; its first byte (next header) is
// set when the header after it is known.
type extHeader struct{ raw }

func (h *extHeader) SerializeTo(b gopacket.SerializeBuffer, o gopacket.SerializeOptions) error {
	h.b[0] = byte(h.next)
	return h.raw.SerializeTo(b, o)
}

// build lays out an extension header of type typ.
func (h *extHeader) build(r *rand.Rand, typ uint8, _ int) {
	switch typ {
	case 0, 60: // hop-by-hop, destination options: a PadN option
		h.b = []byte{0, 0, 1, 4, 0, 0, 0, 0}
		if typ == 0 && r.IntN(2) == 0 {
			h.b = []byte{0, 0, 5, 2, 0, 0, 1, 0} // router alert (MLD), PadN
		}
	case 43: // segment routing header (type 4) with n segments
		n := 1 + r.IntN(3)
		left := r.IntN(n + 1)
		h.b = []byte{0, byte(2 * n), 4, byte(left), byte(n - 1), 0, 0, 0}
		for range n {
			a := pick(r, Addrs6)
			h.b = append(h.b, a...)
		}
	case 44: // fragment: the first fragment mostly (offset 0, more)
		off := uint16(0)
		if r.IntN(3) == 0 {
			off = uint16(1 + r.IntN(100))
		}
		h.b = binary.BigEndian.AppendUint16([]byte{0, 0}, off<<3|1)
		h.b = binary.BigEndian.AppendUint32(h.b, r.Uint32())
	}
}

// geneve is a Geneve header without options.
type geneve struct {
	vni   uint32
	proto layers.EthernetType
}

func (h *geneve) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

func (h *geneve) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	p, err := b.PrependBytes(8)
	if err != nil {
		return err
	}
	p[0], p[1] = 0, 0
	binary.BigEndian.PutUint16(p[2:], uint16(h.proto))
	binary.BigEndian.PutUint32(p[4:], h.vni<<8)
	return nil
}

func pick(r *rand.Rand, as []netip.Addr) net.IP { return as[r.IntN(len(as))].AsSlice() }

func pickPort(r *rand.Rand) uint16 {
	if r.IntN(4) == 0 {
		return uint16(r.Uint32())
	}
	return Ports[r.IntN(len(Ports))]
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Fields returns byte strings a program may key a map with, as the frame
// holds them (network byte order), outer layers first: MAC addresses (6
// bytes), VLAN IDs (2), IPv4 (4) and IPv6 (16) addresses, TCP and UDP
// ports (2), IP protocol numbers (1). A differential test builds map
// keys from these so that lookups hit.
func Fields(data []byte) [][]byte {
	var out [][]byte
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Lazy)
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			out = append(out, slices.Clone(l.SrcMAC), slices.Clone(l.DstMAC))
		case *layers.Dot1Q:
			out = append(out, be16(l.VLANIdentifier))
		case *layers.IPv4:
			out = append(out, slices.Clone(l.SrcIP.To4()), slices.Clone(l.DstIP.To4()), []byte{byte(l.Protocol)})
		case *layers.IPv6:
			out = append(out, slices.Clone(l.SrcIP.To16()), slices.Clone(l.DstIP.To16()), []byte{byte(l.NextHeader)})
		case *layers.TCP:
			out = append(out, be16(uint16(l.SrcPort)), be16(uint16(l.DstPort)))
		case *layers.UDP:
			out = append(out, be16(uint16(l.SrcPort)), be16(uint16(l.DstPort)))
		}
	}
	return out
}

// WritePcap writes frames as a pcap file (nanosecond timestamps 10µs
// apart, snap length 262144 so that the largest frames fit), for tools
// that read captures: `bpfscope run --pcap`, tcpdump.
func WritePcap(w io.Writer, frames []Frame) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		return err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * 10 * time.Microsecond),
			CaptureLength: len(f.Data), Length: len(f.Data)}
		if err := pw.WritePacket(ci, f.Data); err != nil {
			return fmt.Errorf("pktgen: frame %d (%s): %w", i, f.Name, err)
		}
	}
	return nil
}
