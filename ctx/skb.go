package ctx

import (
	"encoding/binary"
	"fmt"
	"math"
	"syscall"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/pktfield"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Socket buffer geometry of bpf_prog_test_run_skb on x86-64.
const (
	SkbHeadroom   = 64 + 0 // NET_SKB_PAD + NET_IP_ALIGN
	skbShinfoSize = 320    // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	// SkbMaxData is the longest data_in: PAGE_SIZE - headroom - tailroom.
	SkbMaxData = 4096 - SkbHeadroom - skbShinfoSize
	// SkbMaxLen is __bpf_skb_max_len on loopback: mtu 65536 + ETH_HLEN.
	SkbMaxLen = 65536 + ethHeaderLen
	// SkbSize is sizeof(struct __sk_buff).
	SkbSize = 192

	gsoMaxSegs       = 65535 // GSO_MAX_SEGS
	gsoLegacyMaxSize = 65536 // GSO_LEGACY_MAX_SIZE
	noQueueMapping   = 0xffff
)

// Ethernet protocol numbers and address families the test runner uses.
const (
	ethPIP   = 0x0800
	ethPIPv6 = 0x86dd
	afInet   = 2
	afInet6  = 10
)

// Packet types (include/uapi/linux/if_packet.h).
const (
	PacketHost      = 0
	PacketBroadcast = 1
	PacketMulticast = 2
	PacketOtherhost = 3
)

// SKB is the context of the socket-buffer program types (socket filter,
// tc, cgroup_skb, lwt) as bpf_prog_test_run_skb builds it: the frame in a
// buffer with NET_SKB_PAD of headroom, parsed by eth_type_trans on the
// loopback device, seen through struct __sk_buff with the kernel's
// per-type field rules. Helpers that resize or rewrite the packet
// (bpf_skb_change_tail, bpf_skb_adjust_room, ...) work on it through its
// exported methods.
type SKB struct {
	m      *vm.Machine
	typ    ebpf.ProgramType
	l2     bool // data starts at the MAC header (tc)
	region *vm.Region
	fields pktfield.Cache
	pkt    uint64 // base address of buf

	buf []byte
	// Offsets into buf: skb->data, skb_tail_pointer, skb_mac_header,
	// skb_network_header.
	data, tail, mac, network uint32

	// Kernel sk_buff state behind the __sk_buff fields.
	PktType        uint8
	Mark           uint32
	Priority       uint32
	QueueMapping   uint16
	Protocol       uint16 // host order: 0x0800 for IPv4
	VlanPresent    bool
	VlanTCI        uint16
	VlanProto      uint16 // host order
	IngressIfindex uint32
	Ifindex        uint32
	DevType        uint16 // dev->type, ARPHRD_*
	TCIndex        uint16
	CB             [20]byte
	Hash           uint32
	SwHash, L4Hash bool
	TCClassid      uint16
	Tstamp         uint64
	WireLen        uint32 // qdisc_skb_cb pkt_len
	GSOSegs        uint16
	GSOSize        uint16
	Hwtstamp       uint64
	// Sock is the dummy socket the test runner attaches.
	Sock *Sock
	// Cookie is the socket cookie (0: not generated yet); see helpers.
	Cookie uint64

	// types is the kernel BTF struct sk_buff is laid out by (nil: the
	// running kernel's); kern the struct, mapped when a program asks
	// for it (bpf_cast_to_kern_ctx). kernStale says a helper changed
	// header bookkeeping the SKB does not follow (skbEncapState);
	// bufLen0 is the buffer's length before any reallocation.
	types     *btf.Spec
	kern      *kernObject
	kernStale bool
	kernEnd   uint32 // skb->end (see reserve)
	end0      uint32 // skb->end as built
	macLen    uint16 // skb->mac_len: 0 until a helper resets it

	ctxIn    []byte // the __sk_buff the user passed, nil if none
	ctxAddr  uint64
	sockAddr uint64
	ctxImage [SkbSize]byte
}

// Sock is the test runner's dummy struct sock, seen through struct bpf_sock.
type Sock struct {
	Family         uint32
	SrcIP4, DstIP4 [4]byte
	SrcIP6, DstIP6 [16]byte
	SrcPort        uint32 // host order (sk_num)
	DstPort        uint16 // network order value as stored (sk_dport)
	State          uint32
	RxQueueMapping int32
}

// sockSize is sizeof(struct bpf_sock).
const sockSize = 80

const tcpClose = 7 // sk_state after sock_init_data

// NewSKB maps the context of one skb-family test run: typ is one of
// SocketFilter, SchedCLS, SchedACT, CGroupSKB, LWTIn, LWTOut, LWTXmit; data
// is the Ethernet frame; ctxIn, if not nil, is a struct __sk_buff in which
// only mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len,
// gso_segs, gso_size and hwtstamp may be set.
func NewSKB(m *vm.Machine, typ ebpf.ProgramType, data, ctxIn []byte) (*SKB, error) {
	s := &SKB{m: m, typ: typ, Ifindex: loopbackIfidx, DevType: Loopback.Type}
	switch typ {
	case ebpf.SchedCLS, ebpf.SchedACT:
		s.l2 = true
	case ebpf.SocketFilter, ebpf.CGroupSKB, ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit:
	default:
		return nil, fmt.Errorf("%s is not a socket buffer program type", typ)
	}
	if len(data) < ethHeaderLen || len(data) > SkbMaxData {
		return nil, fmt.Errorf("skb: data_in of %d bytes is outside [%d, %d]: %w", len(data), ethHeaderLen, SkbMaxData, ErrInvalidData)
	}
	var in [SkbSize]byte
	if ctxIn != nil {
		if err := checkTailZero(ctxIn, SkbSize); err != nil {
			return nil, fmt.Errorf("__sk_buff ctx_in: %w", err)
		}
		copy(in[:], ctxIn)
		if ifx := le32(in[:], skbIfindex); ifx > 1 {
			return nil, fmt.Errorf("__sk_buff ctx_in: ifindex %d: only loopback (1) is modelled: %w", ifx, ErrInvalidCtx)
		}
		s.ctxIn = in[:]
	}

	s.buf = make([]byte, SkbHeadroom+len(data)+skbShinfoSize)
	s.kernEnd = skbTestRunEnd(uint32(len(data)))
	s.end0 = s.kernEnd
	copy(s.buf[SkbHeadroom:], data)
	s.mac = SkbHeadroom
	s.data = SkbHeadroom + ethHeaderLen // eth_type_trans pulls the MAC header
	s.network = s.data
	s.tail = SkbHeadroom + uint32(len(data))
	s.ethTypeTrans(data)

	s.Sock = &Sock{State: tcpClose, RxQueueMapping: -1}
	l3 := s.buf[s.data:s.tail]
	switch s.Protocol {
	case ethPIP:
		if len(l3) < 20 {
			return nil, fmt.Errorf("skb: IPv4 frame of %d bytes is shorter than Ethernet and IP headers: %w", len(data), ErrInvalidData)
		}
		s.Sock.Family = afInet
		copy(s.Sock.SrcIP4[:], l3[12:16])
		copy(s.Sock.DstIP4[:], l3[16:20])
	case ethPIPv6:
		if len(l3) < 40 {
			return nil, fmt.Errorf("skb: IPv6 frame of %d bytes is shorter than Ethernet and IPv6 headers: %w", len(data), ErrInvalidData)
		}
		s.Sock.Family = afInet6
		copy(s.Sock.SrcIP6[:], l3[8:24])
		copy(s.Sock.DstIP6[:], l3[24:40])
	}
	if s.l2 {
		s.data = s.mac
	}
	if ctxIn != nil {
		if err := s.applyCtxIn(in[:]); err != nil {
			return nil, err
		}
	}

	s.region = &vm.Region{Name: "pkt", Data: s.buf, Lo: s.data, Hi: s.tail, Describe: s.describePkt, DescribeSpan: s.describePktSpan, Kind: hooks.RegionPacket, Origin: s.data}
	s.region.Field, s.region.FieldSpan = s.fieldPkt, s.fieldPktSpan
	s.pkt = m.Map(s.region)
	s.ctxAddr = m.Map(&vm.Region{Name: "__sk_buff", Data: s.ctxImage[:], View: s, Describe: s.describeCtx, Kind: hooks.RegionCtx})
	s.sockAddr = m.Map(&vm.Region{Name: "bpf_sock", Data: make([]byte, sockSize), View: sockView{s}, Describe: describeSock, Kind: hooks.RegionCtx})
	if s.typ == ebpf.SocketFilter || s.l2 {
		m.SetSkb(s) // LD_ABS/LD_IND: may_access_skb
	} else {
		m.SetSkb(nil)
	}
	return s, nil
}

// ethTypeTrans sets pkt_type and protocol as eth_type_trans does on the
// loopback device, whose address is all zeros.
func (s *SKB) ethTypeTrans(frame []byte) {
	s.PktType = Loopback.pktType([6]byte(frame[:6]))
	s.setProtocol(frame)
}

// applyCtxIn is convert___skb_to_skb: only the permitted fields may be set.
func (s *SKB) applyCtxIn(in []byte) error {
	allowed := [][2]int{
		{skbMark, 4}, {skbPriority, 12}, // priority, ingress_ifindex, ifindex
		{skbCB, 20}, {skbTstamp, 16}, // tstamp, wire_len, gso_segs
		{skbGSOSize, 4}, {skbHwtstamp, 8},
	}
	pos := 0
	for _, a := range allowed {
		if !isZero(in[pos:a[0]]) {
			return fmt.Errorf("__sk_buff ctx_in: field %s must be zero: %w", skbFieldName(firstNonZero(in, pos)), ErrInvalidCtx)
		}
		pos = a[0] + a[1]
	}
	if !isZero(in[pos:]) {
		return fmt.Errorf("__sk_buff ctx_in: field %s must be zero: %w", skbFieldName(firstNonZero(in, pos)), ErrInvalidCtx)
	}
	s.Mark = le32(in, skbMark)
	s.Priority = le32(in, skbPriority)
	s.IngressIfindex = le32(in, skbIngressIfindex)
	s.Tstamp = binary.LittleEndian.Uint64(in[skbTstamp:])
	copy(s.CB[:], in[skbCB:skbCB+20])
	switch wl := le32(in, skbWireLen); {
	case wl == 0:
		s.WireLen = s.Len()
	case wl < s.Len() || wl > gsoLegacyMaxSize:
		return fmt.Errorf("__sk_buff ctx_in: wire_len %d outside [%d, %d]: %w", wl, s.Len(), gsoLegacyMaxSize, ErrInvalidCtx)
	default:
		s.WireLen = wl
	}
	segs := le32(in, skbGSOSegs)
	if segs > gsoMaxSegs {
		return fmt.Errorf("__sk_buff ctx_in: gso_segs %d exceeds %d: %w", segs, gsoMaxSegs, ErrInvalidCtx)
	}
	s.GSOSegs = uint16(segs)
	s.GSOSize = uint16(le32(in, skbGSOSize))
	s.Hwtstamp = binary.LittleEndian.Uint64(in[skbHwtstamp:])
	return nil
}

// Type is the program type the context was built for.
func (s *SKB) Type() ebpf.ProgramType { return s.typ }

// Arg is the ctx pointer the program receives in r1.
func (s *SKB) Arg() uint64 { return s.ctxAddr }

// Len is skb->len.
func (s *SKB) Len() uint32 { return s.tail - s.data }

// Data returns the packet from skb->data to the tail.
func (s *SKB) Data() []byte { return s.buf[s.data:s.tail] }

// Headroom is skb_headroom.
func (s *SKB) Headroom() uint32 { return s.data }

// MacOffset and NetworkOffset are the MAC and network headers relative to
// skb->data (negative for L3 program types).
func (s *SKB) MacOffset() int     { return int(s.mac) - int(s.data) }
func (s *SKB) NetworkOffset() int { return int(s.network) - int(s.data) }

// Bytes returns the packet bytes [off, off+n) relative to skb->data.
func (s *SKB) Bytes(off, n uint32) ([]byte, bool) {
	l := s.Len()
	if off > l || n > l-off {
		return nil, false
	}
	return s.buf[s.data+off : s.data+off+n], true
}

// Header returns n bytes at off relative to the MAC header (mac true) or
// the network header, within the linear data, as
// bpf_skb_load_bytes_relative reads them.
func (s *SKB) Header(mac bool, off, n uint32) ([]byte, bool) {
	start := s.network
	if mac {
		start = s.mac
	}
	end := uint64(start) + uint64(off) + uint64(n)
	if end > uint64(s.tail) {
		return nil, false
	}
	return s.buf[start+off : uint32(end)], true
}

// LoadAbs implements vm.SkbData: LD_ABS/LD_IND with the SKF_NET_OFF and
// SKF_LL_OFF bases (bpf_internal_load_pointer_neg_helper).
func (s *SKB) LoadAbs(off int64, size int) ([]byte, bool) {
	const skfNetOff, skfLLOff = -0x100000, -0x200000
	var p int64
	switch {
	case off >= 0:
		p = int64(s.data) + off
	case off >= skfNetOff:
		p = int64(s.network) + off - skfNetOff
	case off >= skfLLOff:
		p = int64(s.mac) + off - skfLLOff
	default:
		return nil, false
	}
	if p < 0 || p+int64(size) > int64(s.tail) {
		return nil, false
	}
	return s.buf[p : p+int64(size)], true
}

// ClearHash is skb_clear_hash.
func (s *SKB) ClearHash() { s.Hash, s.SwHash, s.L4Hash = 0, false, false }

// sync publishes the packet window after a helper moved it.
func (s *SKB) sync() {
	s.region.Data, s.region.Origin = s.buf, s.data
	s.m.SetWindow(s.pkt, s.data, s.tail)
}

// reserve makes sure there are at least head bytes of headroom and tail
// bytes of tailroom, reallocating the buffer as pskb_expand_head would
// (the headroom grows in NET_SKB_PAD steps).
func (s *SKB) reserve(head, tail uint32) {
	// The kernel reallocates when its own buffer, a whole kmalloc
	// bucket, lacks the room (pskb_expand_head): skb->end moves.
	var nhead, ntail uint32
	if head > s.data {
		nhead = (head - s.data + SkbHeadroom - 1) / SkbHeadroom * SkbHeadroom
	}
	if room := s.kernEnd - min(s.tail, s.kernEnd); tail > room {
		ntail = tail - room
	}
	if nhead+ntail != 0 {
		s.kernEnd = skbExpandedEnd(s.kernEnd + nhead + ntail)
	}
	needHead := uint32(0)
	if head > s.data {
		needHead = (head - s.data + SkbHeadroom - 1) / SkbHeadroom * SkbHeadroom
	}
	room := uint32(len(s.buf)) - skbShinfoSize - s.tail
	needTail := uint32(0)
	if tail > room {
		needTail = tail - room
	}
	if needHead == 0 && needTail == 0 {
		return
	}
	nb := make([]byte, uint32(len(s.buf))+needHead+needTail)
	copy(nb[needHead:], s.buf[:s.tail])
	s.buf = nb
	s.data += needHead
	s.tail += needHead
	s.mac += needHead
	s.network += needHead
}

// Push is __skb_push: it extends the packet at the front by n bytes.
func (s *SKB) push(n uint32) {
	s.reserve(n, 0)
	s.data -= n
}

// Output implements Instance: data_out is the packet from skb->data (for
// L3 types with a zeroed Ethernet header pushed back, as the test runner
// does) and ctx_out the __sk_buff, if one was passed in.
func (s *SKB) Output() Output {
	var out Output
	if s.l2 {
		out.Data = append([]byte(nil), s.Data()...)
	} else {
		out.Data = append(make([]byte, ethHeaderLen), s.Data()...)
	}
	if s.ctxIn != nil {
		out.Ctx = s.CtxOut()
	}
	return out
}

// CtxOut is convert_skb_to___skb applied to the ctx_in buffer.
func (s *SKB) CtxOut() []byte {
	o := make([]byte, SkbSize)
	copy(o, s.ctxIn)
	binary.LittleEndian.PutUint32(o[skbMark:], s.Mark)
	binary.LittleEndian.PutUint32(o[skbPriority:], s.Priority)
	binary.LittleEndian.PutUint32(o[skbIngressIfindex:], s.IngressIfindex)
	binary.LittleEndian.PutUint32(o[skbIfindex:], s.Ifindex)
	binary.LittleEndian.PutUint64(o[skbTstamp:], s.Tstamp)
	copy(o[skbCB:], s.CB[:])
	binary.LittleEndian.PutUint32(o[skbWireLen:], s.WireLen)
	binary.LittleEndian.PutUint32(o[skbGSOSegs:], uint32(s.GSOSegs))
	binary.LittleEndian.PutUint64(o[skbHwtstamp:], s.Hwtstamp)
	return o
}

// describePktSpan is describePkt's form (vm.Region.DescribeSpan): "pkt"
// and the signed offset from data, at every offset.
func (s *SKB) describePktSpan(uint32) (string, uint32, uint32, uint32) {
	return "pkt", s.data, 0, math.MaxUint32
}

func (s *SKB) describePkt(off uint32) string {
	if off < s.data {
		return fmt.Sprintf("pkt%d", int(off)-int(s.data))
	}
	return pktNames.name(off - s.data)
}

// fieldPkt names packet bytes by header field, dissecting the frame from
// its MAC header as it is now (after bpf_skb_adjust_room and friends, the
// new frame).
func (s *SKB) fieldPkt(off uint32, size int) string {
	if off < s.mac || off >= s.tail || s.mac > s.tail {
		return ""
	}
	return s.fields.Name(s.buf[s.mac:s.tail], int(off-s.mac), size)
}

// fieldPktSpan is fieldPkt with the span of its answer (vm.Region.FieldSpan).
func (s *SKB) fieldPktSpan(off uint32, size int) (string, uint32, uint32) {
	if off < s.mac || off >= s.tail || s.mac > s.tail {
		return "", off, off + 1
	}
	name, lo, hi := s.fields.NameSpan(s.buf[s.mac:s.tail], int(off-s.mac), size)
	return name, s.mac + uint32(lo), s.mac + uint32(hi)
}

func (s *SKB) describeCtx(off uint32) string { return "ctx __sk_buff." + skbFieldName(off) }

// checkTailZero is bpf_check_uarg_tail_zero: bytes beyond the kernel's
// structure must be zero (E2BIG otherwise).
func checkTailZero(in []byte, size int) error {
	if len(in) > size && !isZero(in[size:]) {
		return fmt.Errorf("%d bytes given, bytes beyond %d must be zero (%w): %w", len(in), size, syscall.E2BIG, ErrInvalidCtx)
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func firstNonZero(b []byte, from int) uint32 {
	for i := from; i < len(b); i++ {
		if b[i] != 0 {
			return uint32(i)
		}
	}
	return uint32(len(b))
}

func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

// skbProvider serves the socket buffer program types.
type skbProvider ebpf.ProgramType

func (p skbProvider) Type() ebpf.ProgramType { return ebpf.ProgramType(p) }

func (p skbProvider) New(m *vm.Machine, in Input) (Instance, error) {
	s, err := NewSKB(m, ebpf.ProgramType(p), in.Data, in.Ctx)
	if err != nil {
		return nil, err
	}
	s.types = in.KernelTypes
	return s, nil
}

func init() {
	for _, t := range []ebpf.ProgramType{ebpf.SocketFilter, ebpf.SchedCLS, ebpf.SchedACT,
		ebpf.CGroupSKB, ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit} {
		Register(skbProvider(t))
	}
}
