package ctx

import (
	"fmt"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// NewPacketSocketSKB maps the socket buffer a packet socket (AF_PACKET,
// what tcpdump reads from) hands its filter: packet_rcv pushes skb->data
// back to the MAC header before running the filter, so offset 0 is the
// first byte of the Ethernet frame, unlike a BPF_PROG_TEST_RUN of a socket
// filter, which starts at the network header. The device is loopback, as
// in a test run; pkt_type and protocol come from the frame as
// eth_type_trans sets them. Frames of any length up to SkbMaxData are
// taken, runts too: a capture filter must decide on whatever arrives.
func NewPacketSocketSKB(m *vm.Machine, frame []byte) (*SKB, error) {
	if len(frame) > SkbMaxData {
		return nil, fmt.Errorf("skb: frame of %d bytes exceeds %d: %w", len(frame), SkbMaxData, ErrInvalidData)
	}
	s := &SKB{m: m, typ: ebpf.SocketFilter, l2: true, Ifindex: loopbackIfidx}
	s.buf = make([]byte, SkbHeadroom+len(frame)+skbShinfoSize)
	copy(s.buf[SkbHeadroom:], frame)
	s.mac, s.data, s.network = SkbHeadroom, SkbHeadroom, SkbHeadroom
	s.tail = SkbHeadroom + uint32(len(frame))
	if len(frame) >= ethHeaderLen {
		s.ethTypeTrans(frame)
		s.network += ethHeaderLen
	}
	s.WireLen = s.Len()
	s.Sock = &Sock{State: tcpClose, RxQueueMapping: -1}
	s.region = &vm.Region{Name: "pkt", Data: s.buf, Lo: s.data, Hi: s.tail, Describe: s.describePkt}
	s.pkt = m.Map(s.region)
	s.ctxAddr = m.Map(&vm.Region{Name: "__sk_buff", Data: s.ctxImage[:], View: s, Describe: s.describeCtx})
	s.sockAddr = m.Map(&vm.Region{Name: "bpf_sock", Data: make([]byte, sockSize), View: sockView{s}, Describe: describeSock})
	m.SetSkb(s)
	return s, nil
}
