package ctx

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// Device is the network device a frame arrives on, as far as a packet
// socket's filter can see it: its index, hardware address and type
// (ARPHRD_*), and its broadcast address.
type Device struct {
	Ifindex   uint32
	Addr      [6]byte
	Broadcast [6]byte
	Type      uint16
}

// Loopback is the device BPF_PROG_TEST_RUN uses: index 1, all-zero
// addresses (so every multicast frame, ff:ff:ff:ff:ff:ff too, counts as
// multicast), ARPHRD_LOOPBACK.
var Loopback = Device{Ifindex: loopbackIfidx, Type: 772}

// EthernetDevice is an Ethernet device (ARPHRD_ETHER) with index ifindex
// and address addr.
func EthernetDevice(ifindex uint32, addr [6]byte) Device {
	return Device{Ifindex: ifindex, Addr: addr, Broadcast: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Type: 1}
}

// MaxPacketSocketFrame is the largest frame NewPacketSocketSKB takes:
// libpcap's largest snap length. A packet socket sees frames far larger
// than a test run's page (jumbo frames, GRO aggregates).
const MaxPacketSocketFrame = 262144

// NewPacketSocketSKB maps the socket buffer a packet socket (AF_PACKET,
// what tcpdump reads from) hands its filter for a frame received on dev:
// packet_rcv pushes skb->data back to the MAC header before running the
// filter, so offset 0 is the first byte of the Ethernet frame, unlike a
// BPF_PROG_TEST_RUN of a socket filter, which starts at the network
// header. pkt_type and protocol are what eth_type_trans sets on dev.
// Frames of any length up to MaxPacketSocketFrame are taken, runts too: a
// capture filter must decide on whatever arrives.
func NewPacketSocketSKB(m *vm.Machine, frame []byte, dev Device) (*SKB, error) {
	if len(frame) > MaxPacketSocketFrame {
		return nil, fmt.Errorf("skb: frame of %d bytes exceeds %d: %w", len(frame), MaxPacketSocketFrame, ErrInvalidData)
	}
	s := &SKB{m: m, typ: ebpf.SocketFilter, l2: true, Ifindex: dev.Ifindex, DevType: dev.Type}
	s.buf = make([]byte, SkbHeadroom+len(frame)+skbShinfoSize)
	copy(s.buf[SkbHeadroom:], frame)
	s.mac, s.data, s.network = SkbHeadroom, SkbHeadroom, SkbHeadroom
	s.tail = SkbHeadroom + uint32(len(frame))
	if len(frame) >= ethHeaderLen {
		s.PktType = dev.pktType([6]byte(frame[:6]))
		s.setProtocol(frame)
		s.network += ethHeaderLen
	}
	s.WireLen = s.Len()
	s.Sock = &Sock{State: tcpClose, RxQueueMapping: -1}
	s.region = &vm.Region{Name: "pkt", Data: s.buf, Lo: s.data, Hi: s.tail, Describe: s.describePkt, DescribeSpan: s.describePktSpan, Kind: hooks.RegionPacket, Origin: s.data}
	s.region.Field, s.region.FieldSpan = s.fieldPkt, s.fieldPktSpan
	s.pkt = m.Map(s.region)
	s.ctxAddr = m.Map(&vm.Region{Name: "__sk_buff", Data: s.ctxImage[:], View: s, Describe: s.describeCtx, Kind: hooks.RegionCtx})
	s.sockAddr = m.Map(&vm.Region{Name: "bpf_sock", Data: make([]byte, sockSize), View: sockView{s}, Describe: describeSock, Kind: hooks.RegionCtx})
	m.SetSkb(s)
	return s, nil
}

// pktType is eth_type_trans's pkt_type for a frame to dst arriving on d.
func (d Device) pktType(dst [6]byte) uint8 {
	switch {
	case dst == d.Addr:
		return PacketHost
	case dst[0]&1 == 0:
		return PacketOtherhost
	case dst == d.Broadcast:
		return PacketBroadcast
	}
	return PacketMulticast
}

// setProtocol is eth_type_trans's skb->protocol for frame.
func (s *SKB) setProtocol(frame []byte) {
	switch proto := binary.BigEndian.Uint16(frame[12:]); {
	case proto >= 0x600: // eth_proto_is_802_3
		s.Protocol = proto
	case len(frame) >= 16 && frame[14] == 0xff && frame[15] == 0xff:
		s.Protocol = 0x0001 // ETH_P_802_3: raw IPX
	default:
		s.Protocol = 0x0004 // ETH_P_802_2
	}
}
