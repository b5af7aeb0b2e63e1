package examples

import (
	"bytes"
	"flag"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var update = flag.Bool("update", false, "regenerate progs/sample.pcap")

var (
	macClient = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	macRouter = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	client4   = net.IPv4(10, 0, 0, 2)
	dns4      = net.IPv4(10, 0, 0, 53)
	web4      = net.IPv4(93, 184, 216, 34)
	pinger4   = net.IPv4(10, 0, 0, 9)
	blocked4  = net.ParseIP(BlockedAddr)
	client6   = net.ParseIP("2001:db8::2")
	dns6      = net.ParseIP("2001:db8::53")
	web6      = net.ParseIP("2001:db8::80")
)

// sampleFrames builds the frames of sample.pcap, in capture order.
func sampleFrames(t testing.TB) [][]byte {
	query := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	answer := append(append([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}, query[12:]...),
		0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 216, 34)
	get := []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00}

	frames := [][]byte{
		udp4(t, macClient, macRouter, client4, dns4, 40000, 53, query),
		udp4(t, macRouter, macClient, dns4, client4, 53, 40000, answer),
		tcp4(t, client4, web4, 41000, 80, layers.TCP{SYN: true, Seq: 1000}, nil),
		tcp4(t, web4, client4, 80, 41000, layers.TCP{SYN: true, ACK: true, Seq: 5000, Ack: 1001}, nil),
		tcp4(t, client4, web4, 41000, 80, layers.TCP{PSH: true, ACK: true, Seq: 1001, Ack: 5001}, get),
		tcp4(t, client4, web4, 41001, 443, layers.TCP{PSH: true, ACK: true, Seq: 7000, Ack: 9000}, hello),
		icmp4(t, pinger4, client4),
		udp6(t, client6, dns6, 40002, 53, query),
		tcp6(t, client6, web6, 41002, 443, hello),
		tcp4(t, blocked4, client4, 6666, 80, layers.TCP{SYN: true, Seq: 1}, nil),
		arp(t),
		// A runt: an IPv4 EtherType with only 6 bytes of IP header.
		append(eth(macClient, macRouter, layers.EthernetTypeIPv4), 0x45, 0, 0, 0x14, 0, 0),
	}
	return frames
}

func eth(src, dst net.HardwareAddr, typ layers.EthernetType) []byte {
	b := append(append([]byte{}, dst...), src...)
	return append(b, byte(typ>>8), byte(typ))
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func ethLayer(src, dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}
}

func ip4(src, dst net.IP, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 1, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: src.To4(), DstIP: dst.To4()}
}

func ip6(src, dst net.IP, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src, DstIP: dst}
}

func udp4(t testing.TB, smac, dmac net.HardwareAddr, src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	ip := ip4(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, ethLayer(smac, dmac, layers.EthernetTypeIPv4), ip, u, gopacket.Payload(payload))
}

func tcp4(t testing.TB, src, dst net.IP, sport, dport uint16, tcp layers.TCP, payload []byte) []byte {
	smac, dmac := macRouter, macClient
	if src.Equal(client4) {
		smac, dmac = macClient, macRouter
	}
	ip := ip4(src, dst, layers.IPProtocolTCP)
	tcp.SrcPort, tcp.DstPort, tcp.Window = layers.TCPPort(sport), layers.TCPPort(dport), 64240
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ethLayer(smac, dmac, layers.EthernetTypeIPv4), ip, &tcp, gopacket.Payload(payload))
}

func icmp4(t testing.TB, src, dst net.IP) []byte {
	ip := ip4(src, dst, layers.IPProtocolICMPv4)
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x4242, Seq: 1}
	return serialize(t, ethLayer(macRouter, macClient, layers.EthernetTypeIPv4), ip, icmp, gopacket.Payload("ping-payload"))
}

func udp6(t testing.TB, src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	ip := ip6(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, ethLayer(macClient, macRouter, layers.EthernetTypeIPv6), ip, u, gopacket.Payload(payload))
}

func tcp6(t testing.TB, src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	ip := ip6(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), PSH: true, ACK: true, Seq: 1, Ack: 1, Window: 64240}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ethLayer(macClient, macRouter, layers.EthernetTypeIPv6), ip, tcp, gopacket.Payload(payload))
}

func arp(t testing.TB) []byte {
	a := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: macClient, SourceProtAddress: client4.To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IPv4(10, 0, 0, 1).To4(),
	}
	return serialize(t, ethLayer(macClient, layers.EthernetBroadcast, layers.EthernetTypeARP), a)
}

func writeSample(t testing.TB) []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i, f := range sampleFrames(t) {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestSamplePcap checks that progs/sample.pcap is what the generator
// makes; go test -run SamplePcap -update rewrites it.
func TestSamplePcap(t *testing.T) {
	want := writeSample(t)
	if *update {
		if err := os.WriteFile("progs/sample.pcap", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := fs.ReadFile(Progs, SamplePcap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("progs/sample.pcap is stale: run go test ./examples -run SamplePcap -update")
	}
}
