// Package pcapgen generates packet captures of any length for tests and
// throughput measurements: a reproducible mix (by seed) of Ethernet frames
// of mixed sizes that exercises every path of the bundled xdp_firewall
// example: IPv4 and IPv6 over TCP and UDP, ICMP echo requests, ARP,
// traffic from the blocked address, frames too short for their headers
// and frames longer than the firewall's limit.
package pcapgen

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// BlockedAddr is the IPv4 source the mix sends from now and then; it
// matches examples.BlockedAddr.
const BlockedAddr = "192.0.2.66"

var (
	macA    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	macB    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	blocked = net.ParseIP(BlockedAddr).To4()
)

// Generator yields frames of the mix, one at a time.
type Generator struct {
	rnd *rand.Rand
}

// New returns a generator; the same seed gives the same frames.
func New(seed uint64) *Generator {
	return &Generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Frame returns the next frame.
func (g *Generator) Frame() ([]byte, error) {
	r := g.rnd
	switch k := r.IntN(100); {
	case k < 45:
		return g.ip4(layers.IPProtocolTCP, g.addr4(), g.size())
	case k < 65:
		return g.ip4(layers.IPProtocolUDP, g.addr4(), g.size())
	case k < 70:
		return g.ip4(layers.IPProtocolICMPv4, g.addr4(), g.size())
	case k < 80:
		return g.ip6(layers.IPProtocolTCP, g.size())
	case k < 88:
		return g.ip6(layers.IPProtocolUDP, g.size())
	case k < 92:
		return g.ip4(layers.IPProtocolTCP, blocked, g.size())
	case k < 95:
		return g.arp()
	case k < 98:
		// A runt: an IPv4 EtherType with a cut header.
		b := eth(layers.EthernetTypeIPv4)
		return append(b, make([]byte, r.IntN(20))...), nil
	default:
		// Longer than max_frame_len (1514), up to the largest frame
		// BPF_PROG_TEST_RUN takes for XDP without fragments (3520 bytes
		// on 4 KiB pages).
		return g.ip4(layers.IPProtocolUDP, g.addr4(), 1515+r.IntN(3520-1515+1))
	}
}

// size picks a frame length, as the "simple IMIX" mixes them: 7 small
// frames to 4 medium to 1 full-size, each spread over a range.
func (g *Generator) size() int {
	switch k := g.rnd.IntN(12); {
	case k < 7:
		return 64 + g.rnd.IntN(64)
	case k < 11:
		return 128 + g.rnd.IntN(1000)
	}
	return 1128 + g.rnd.IntN(1514-1128+1)
}

func (g *Generator) addr4() net.IP {
	return net.IPv4(10, byte(g.rnd.IntN(4)), byte(g.rnd.IntN(256)), byte(1+g.rnd.IntN(254))).To4()
}

func (g *Generator) addr6() net.IP {
	ip := net.ParseIP("2001:db8::")
	ip[14], ip[15] = byte(g.rnd.IntN(256)), byte(g.rnd.IntN(256))
	return ip
}

func eth(typ layers.EthernetType) []byte {
	b := append(append([]byte{}, macB...), macA...)
	return append(b, byte(typ>>8), byte(typ))
}

// ip4 builds an IPv4 frame of size bytes (at least its headers).
func (g *Generator) ip4(proto layers.IPProtocol, src net.IP, size int) ([]byte, error) {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: uint16(g.rnd.Uint32()), Protocol: proto, SrcIP: src, DstIP: g.addr4()}
	l4, hdr := g.l4(proto, ip)
	return serialize(size-14-20-hdr, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, l4)
}

func (g *Generator) ip6(proto layers.IPProtocol, size int) ([]byte, error) {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: g.addr6(), DstIP: g.addr6()}
	l4, hdr := g.l4(proto, ip)
	return serialize(size-14-40-hdr, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6}, ip, l4)
}

// l4 returns a transport header for the network layer and its length.
func (g *Generator) l4(proto layers.IPProtocol, ip gopacket.NetworkLayer) (gopacket.SerializableLayer, int) {
	sport, dport := 1024+g.rnd.IntN(60000), []int{22, 53, 80, 443, 8080}[g.rnd.IntN(5)]
	switch proto {
	case layers.IPProtocolTCP:
		t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: g.rnd.Uint32(), Window: 64240}
		t.SYN, t.ACK = g.rnd.IntN(4) == 0, g.rnd.IntN(4) != 0
		t.SetNetworkLayerForChecksum(ip)
		return t, 20
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		u.SetNetworkLayerForChecksum(ip)
		return u, 8
	}
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: uint16(sport), Seq: 1}, 8
}

func (g *Generator) arp() ([]byte, error) {
	return serialize(0, &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: g.addr4(),
			DstHwAddress: make([]byte, 6), DstProtAddress: g.addr4()})
}

// serialize lays out the layers with a zero payload of n bytes (none if
// n < 0) and valid lengths and checksums.
func serialize(n int, ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	ls = append(ls, gopacket.Payload(make([]byte, max(n, 0))))
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		return nil, fmt.Errorf("pcapgen: %w", err)
	}
	b := buf.Bytes()
	if len(b) < 60 {
		// Pad to Ethernet's minimum, as a NIC would.
		b = append(b, make([]byte, 60-len(b))...)
	}
	return bytes.Clone(b), nil
}

// start is the timestamp of the first frame; frames are 10µs apart.
var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// WritePcap writes n frames of the mix as a pcap file.
func WritePcap(w io.Writer, n int, seed uint64) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return err
	}
	g := New(seed)
	for i := range n {
		f, err := g.Frame()
		if err != nil {
			return err
		}
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * 10 * time.Microsecond), CaptureLength: len(f), Length: len(f)}
		if err := pw.WritePacket(ci, f); err != nil {
			return err
		}
	}
	return nil
}

// WritePcapng writes n frames of the mix as a pcapng file.
func WritePcapng(w io.Writer, n int, seed uint64) error {
	pw, err := pcapgo.NewNgWriter(w, layers.LinkTypeEthernet)
	if err != nil {
		return err
	}
	g := New(seed)
	for i := range n {
		f, err := g.Frame()
		if err != nil {
			return err
		}
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * 10 * time.Microsecond), CaptureLength: len(f), Length: len(f), InterfaceIndex: 0}
		if err := pw.WritePacket(ci, f); err != nil {
			return err
		}
	}
	return pw.Flush()
}
