package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Default addresses used by the frame builders.
var (
	MACA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01} // source
	MACB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02} // destination

	IPv4A = netip.MustParseAddr("10.0.0.1")
	IPv4B = netip.MustParseAddr("10.0.0.2")
	IPv6A = netip.MustParseAddr("fd00::1")
	IPv6B = netip.MustParseAddr("fd00::2")
)

// Frame describes an Ethernet frame carrying IPv4 or IPv6 (chosen by the
// address family of Src) and TCP, UDP or ICMP(v4) echo. Zero fields get
// defaults: MACs MACA -> MACB, TTL/hop limit 64, Proto UDP. All lengths
// and checksums are computed. Like gopacket, Build pads frames shorter than
// 60 bytes with zeros to the Ethernet minimum (the IP length stays exact).
type Frame struct {
	SrcMAC, DstMAC   net.HardwareAddr
	Src, Dst         netip.Addr
	TTL              uint8
	TOS              uint8 // IPv4 TOS / IPv6 traffic class
	Proto            layers.IPProtocol
	SrcPort, DstPort uint16 // TCP/UDP; for ICMP echo: id and sequence
	TCPFlags         uint8  // FIN=1 SYN=2 RST=4 PSH=8 ACK=16; default SYN
	ICMPType         uint8  // for ICMP; default 8 (echo request)
	Payload          []byte
}

// Build serialises f. It panics on inconsistent input (mixed address
// families, unsupported protocol), which is a bug in the caller.
func (f Frame) Build() []byte {
	if f.SrcMAC == nil {
		f.SrcMAC = MACA
	}
	if f.DstMAC == nil {
		f.DstMAC = MACB
	}
	if f.TTL == 0 {
		f.TTL = 64
	}
	if f.Proto == 0 {
		f.Proto = layers.IPProtocolUDP
	}
	if !f.Src.IsValid() || f.Src.Is4() != f.Dst.Is4() {
		panic(fmt.Sprintf("kernel.Frame: bad addresses %v -> %v", f.Src, f.Dst))
	}

	eth := &layers.Ethernet{SrcMAC: f.SrcMAC, DstMAC: f.DstMAC}
	var ip gopacket.NetworkLayer
	var l3 gopacket.SerializableLayer
	if f.Src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: f.TTL, TOS: f.TOS, Protocol: f.Proto,
			SrcIP: f.Src.AsSlice(), DstIP: f.Dst.AsSlice()}
		ip, l3 = ip4, ip4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: f.TTL, TrafficClass: f.TOS, NextHeader: f.Proto,
			SrcIP: f.Src.AsSlice(), DstIP: f.Dst.AsSlice()}
		ip, l3 = ip6, ip6
	}

	var l4 gopacket.SerializableLayer
	switch f.Proto {
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.SrcPort), DstPort: layers.UDPPort(f.DstPort)}
		must(udp.SetNetworkLayerForChecksum(ip))
		l4 = udp
	case layers.IPProtocolTCP:
		flags := f.TCPFlags
		if flags == 0 {
			flags = 2
		}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.SrcPort), DstPort: layers.TCPPort(f.DstPort),
			Seq: 1, Window: 65535, DataOffset: 5,
			FIN: flags&1 != 0, SYN: flags&2 != 0, RST: flags&4 != 0, PSH: flags&8 != 0, ACK: flags&16 != 0}
		must(tcp.SetNetworkLayerForChecksum(ip))
		l4 = tcp
	case layers.IPProtocolICMPv4:
		typ := f.ICMPType
		if typ == 0 {
			typ = layers.ICMPv4TypeEchoRequest
		}
		l4 = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: f.SrcPort, Seq: f.DstPort}
	default:
		panic(fmt.Sprintf("kernel.Frame: unsupported protocol %v", f.Proto))
	}

	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	must(gopacket.SerializeLayers(buf, opts, eth, l3, l4, gopacket.Payload(f.Payload)))
	return buf.Bytes()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// UDP4Frame returns an Ethernet/IPv4/UDP frame from MACA to MACB.
func UDP4Frame(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	return Frame{Src: src, Dst: dst, Proto: layers.IPProtocolUDP, SrcPort: sport, DstPort: dport, Payload: payload}.Build()
}

// TCP4Frame returns an Ethernet/IPv4/TCP SYN frame from MACA to MACB.
func TCP4Frame(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	return Frame{Src: src, Dst: dst, Proto: layers.IPProtocolTCP, SrcPort: sport, DstPort: dport, Payload: payload}.Build()
}

// UDP6Frame returns an Ethernet/IPv6/UDP frame from MACA to MACB.
func UDP6Frame(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	return UDP4Frame(src, dst, sport, dport, payload) // the family follows the addresses
}

// TCP6Frame returns an Ethernet/IPv6/TCP SYN frame from MACA to MACB.
func TCP6Frame(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	return TCP4Frame(src, dst, sport, dport, payload)
}

// ICMP4EchoFrame returns an Ethernet/IPv4 ICMP echo request.
func ICMP4EchoFrame(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	return Frame{Src: src, Dst: dst, Proto: layers.IPProtocolICMPv4, SrcPort: id, DstPort: seq, Payload: payload}.Build()
}

// EthFrame returns an Ethernet header (MACA -> MACB, the given EtherType)
// followed by payload, e.g. EthFrame(0x0806, arp) for ARP.
func EthFrame(ethertype uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b[0:6], MACB)
	copy(b[6:12], MACA)
	binary.BigEndian.PutUint16(b[12:], ethertype)
	return append(b, payload...)
}

// Pad returns frame extended with zeros to at least n bytes (60 is the
// Ethernet minimum without FCS).
func Pad(frame []byte, n int) []byte {
	if len(frame) >= n {
		return frame
	}
	return append(frame, make([]byte, n-len(frame))...)
}

// Checksum is the Internet checksum (RFC 1071) of b, folded and inverted.
func Checksum(b []byte) uint16 {
	return ^fold(sum16(b, 0))
}

func sum16(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// Fold folds a 32-bit one's-complement partial sum (such as bpf_csum_diff
// returns) to 16 bits.
func Fold(sum uint32) uint16 { return fold(sum) }

// VerifyChecksums checks the IPv4 header checksum and the TCP/UDP/ICMP
// checksum of an Ethernet frame (IPv4 or IPv6, no extension headers, no
// VLAN tag). It returns nil when all present checksums are correct.
func VerifyChecksums(frame []byte) error {
	if len(frame) < 14 {
		return errors.New("frame shorter than an Ethernet header")
	}
	l3 := frame[14:]
	var proto uint8
	var l4 []byte
	var pseudo uint32
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		if len(l3) < 20 {
			return errors.New("short IPv4 header")
		}
		ihl := int(l3[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(l3[2:]))
		if ihl < 20 || total < ihl || total > len(l3) {
			return fmt.Errorf("bad IPv4 lengths ihl=%d total=%d", ihl, total)
		}
		if c := Checksum(l3[:ihl]); c != 0 {
			return fmt.Errorf("IPv4 header checksum wrong (residue %#04x)", c)
		}
		proto, l4 = l3[9], l3[ihl:total]
		pseudo = sum16(l3[12:20], uint32(proto)+uint32(len(l4)))
	case 0x86dd:
		if len(l3) < 40 {
			return errors.New("short IPv6 header")
		}
		plen := int(binary.BigEndian.Uint16(l3[4:]))
		if 40+plen > len(l3) {
			return fmt.Errorf("bad IPv6 payload length %d", plen)
		}
		proto, l4 = l3[6], l3[40:40+plen]
		pseudo = sum16(l3[8:40], uint32(proto)+uint32(len(l4)))
	default:
		return nil
	}
	switch proto {
	case 6, 17:
		if proto == 17 && len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return nil // UDP without checksum
		}
		if c := ^fold(sum16(l4, pseudo)); c != 0 {
			return fmt.Errorf("L4 (proto %d) checksum wrong (residue %#04x)", proto, c)
		}
	case 1:
		if c := Checksum(l4); c != 0 {
			return fmt.Errorf("ICMP checksum wrong (residue %#04x)", c)
		}
	}
	return nil
}
