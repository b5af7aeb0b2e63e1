package cbpf

import (
	"net"
	"testing"

	"github.com/bpfscope/bpfscope/internal/pcapgen"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// testFrames returns frames that the test expressions select in different
// ways: the generated mix of pcapgen plus frames on well-known ports, VLAN
// and QinQ tagged frames, ICMP echo, IPv6 TCP SYN, fragments and runts,
// all built with gopacket.
func testFrames(t testing.TB, generated int) [][]byte {
	t.Helper()
	var frames [][]byte
	g := pcapgen.New(7)
	for range generated {
		f, err := g.Frame()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	mac1 := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	mac2 := net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	ip1, ip2 := net.IPv4(10, 0, 0, 1), net.IPv4(192, 168, 1, 7)
	build := func(ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), buf.Bytes()...))
	}
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: typ}
	}
	ip4 := func(proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: ip1, DstIP: ip2}
	}
	payload := gopacket.Payload("hello, filter")
	for _, port := range []layers.TCPPort{80, 443, 22, 8080} {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: port, SYN: port == 80, ACK: port != 80, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip4(layers.IPProtocolTCP))
		ip := ip4(layers.IPProtocolTCP)
		tcp.SetNetworkLayerForChecksum(ip)
		build(eth(layers.EthernetTypeIPv4), ip, tcp, payload)
	}
	for _, port := range []layers.UDPPort{53, 123, 4789} {
		ip := ip4(layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 5353, DstPort: port}
		udp.SetNetworkLayerForChecksum(ip)
		build(eth(layers.EthernetTypeIPv4), ip, udp, payload)
	}
	// VLAN and QinQ tagged UDP.
	{
		ip := ip4(layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 1, DstPort: 53}
		udp.SetNetworkLayerForChecksum(ip)
		build(eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, ip, udp, payload)
		build(eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv4}, ip, udp, payload)
	}
	// ICMP echo request and reply.
	for _, typ := range []uint8{layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply} {
		build(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 1, Seq: 1}, payload)
	}
	// IPv6 TCP SYN and ACK.
	for _, syn := range []bool{true, false} {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
		tcp := &layers.TCP{SrcPort: 1234, DstPort: 80, SYN: syn, ACK: !syn, Window: 1}
		tcp.SetNetworkLayerForChecksum(ip)
		build(eth(layers.EthernetTypeIPv6), ip, tcp, payload)
	}
	// A later IPv4 fragment of a TCP datagram: no TCP header to read.
	{
		ip := ip4(layers.IPProtocolTCP)
		ip.FragOffset = 100
		build(eth(layers.EthernetTypeIPv4), ip, payload)
	}
	// IPv4 with options (IHL 6) to port 80.
	{
		ip := ip4(layers.IPProtocolTCP)
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		tcp := &layers.TCP{SrcPort: 9, DstPort: 80, SYN: true}
		tcp.SetNetworkLayerForChecksum(ip)
		build(eth(layers.EthernetTypeIPv4), ip, tcp, payload)
	}
	// ARP and runts.
	build(eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: mac1, SourceProtAddress: ip1.To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: ip2.To4()})
	frames = append(frames, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 40})
	frames = append(frames, []byte{0x02, 0, 0, 0, 0, 2, 0x02})
	return frames
}

// testExprs are the libpcap expressions the differential tests compile.
var testExprs = []string{
	"tcp port 80",
	"udp",
	"vlan and udp",
	// libpcap cannot index TCP over IPv6 with tcp[] ("expression rejects
	// all packets"); read the flags of a TCP header right after the IPv6 one.
	"ip6 and ip6[6] == 6 and ip6[53] & 2 != 0",
	"icmp[icmptype] == icmp-echo",
	"ether host 02:00:00:00:00:01",
	"ether dst 02:00:00:00:00:02 and not arp",
	"host 10.0.0.1 and udp port 53",
	"net 192.168.0.0/16",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
	"ip[6:2] & 0x1fff != 0",
	"greater 200",
	"less 64",
	"ip6",
	"arp",
	"portrange 20-25 or port 443",
}
