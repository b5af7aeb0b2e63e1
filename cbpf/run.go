package cbpf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/vm"
)

// Machine binds the converted program to a new machine with the kernel
// helpers a classic filter can reach (SKF_AD_CPU, SKF_AD_RANDOM) drawing on
// env (nil: helpers.NewDefaultEnv), and the kernel functions the
// conversion calls directly (HelperPayOffset, HelperNlattr,
// HelperNlattrNest, HelperDevType). Attach hooks to it to trace the filter.
func (p *Program) Machine(env helpers.Env, cfg vm.Config) (*vm.Machine, error) {
	hs := helpers.New(env)
	hs.Add(HelperPayOffset, vm.Helper{Name: "bpf_skb_get_pay_offset", Fn: withSKB(payOffset)})
	hs.Add(HelperNlattr, vm.Helper{Name: "bpf_skb_get_nlattr", Fn: withSKB(nlattr)})
	hs.Add(HelperNlattrNest, vm.Helper{Name: "bpf_skb_get_nlattr_nest", Fn: withSKB(nlattrNest)})
	hs.Add(HelperDevType, vm.Helper{Name: "skb_dev_type", Fn: withSKB(func(s *bpfctx.SKB, _ vm.Args) uint64 { return uint64(s.DevType) })})
	cfg.Helpers = hs
	return vm.New(p.EBPF, cfg)
}

// withSKB gives a kernel function the socket buffer its first argument
// points to.
func withSKB(fn func(s *bpfctx.SKB, a vm.Args) uint64) vm.HelperFunc {
	return func(m *vm.Machine, a vm.Args) (uint64, error) {
		r, _, ok := m.RegionAt(a[0])
		if !ok {
			return 0, fmt.Errorf("%w: r1 is not the socket buffer", vm.ErrBadCall)
		}
		s, ok := r.View.(*bpfctx.SKB)
		if !ok {
			return 0, fmt.Errorf("%w: r1 is not the socket buffer", vm.ErrBadCall)
		}
		return fn(s, a), nil
	}
}

// Verdict is what a socket filter decided for one packet.
type Verdict struct {
	// Ret is the filter's return value: the number of bytes to keep.
	Ret uint32
	// Len is how many bytes the socket receives: min(Ret, the packet's
	// length), 0 when the packet is dropped (sk_filter_trim_cap,
	// packet_rcv's snaplen).
	Len int
}

// Accepted reports whether the socket receives the packet.
func (v Verdict) Accepted() bool { return v.Ret != 0 }

// SocketRunner runs a socket filter over frames as a packet socket does:
// the filter sees each frame from its Ethernet header (see
// ctx.NewPacketSocketSKB). It is not safe for concurrent use.
type SocketRunner struct {
	p *Program
	m *vm.Machine
	// Device is the device frames arrive on, which ancillary loads see
	// (ifindex, hatype, and pkt_type from its address). The default is
	// ctx.Loopback, the device of a test run.
	Device bpfctx.Device
}

// ErrMode is returned when a program runs in the wrong kind of runner.
var ErrMode = errors.New("classic filter run in the wrong mode")

// NewSocketRunner prepares a machine for p, a Socket-mode program.
func (p *Program) NewSocketRunner(env helpers.Env, cfg vm.Config) (*SocketRunner, error) {
	if p.Mode != Socket {
		return nil, fmt.Errorf("%w: a %s filter is not a socket filter", ErrMode, p.Mode)
	}
	m, err := p.Machine(env, cfg)
	if err != nil {
		return nil, err
	}
	return &SocketRunner{p: p, m: m, Device: bpfctx.Loopback}, nil
}

// Machine is the machine the filter runs in, for hooks.
func (r *SocketRunner) Machine() *vm.Machine { return r.m }

// Run runs the filter on one frame.
func (r *SocketRunner) Run(ctx context.Context, frame []byte) (Verdict, error) {
	r.m.Reset()
	s, err := bpfctx.NewPacketSocketSKB(r.m, frame, r.Device)
	if err != nil {
		return Verdict{}, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	r0, err := r.m.Run(ctx, s.Arg())
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Ret: uint32(r0)}
	v.Len = int(min(uint64(v.Ret), uint64(len(frame))))
	return v, nil
}

// payOffset is skb_get_poff: the offset of the transport payload, from the
// flow dissector's transport header offset plus the transport header's
// length (its fixed part, or TCP's data offset); 0 when the frame does not
// dissect. The dissection here covers Ethernet (up to two VLAN tags) with
// IPv4 (not fragments) or IPv6 without extension headers.
func payOffset(s *bpfctx.SKB, _ vm.Args) uint64 {
	b := s.Data()
	proto, thoff, ok := dissect(b)
	if !ok {
		return 0
	}
	poff := uint64(thoff)
	switch proto {
	case 6: // TCP: its data offset, at least the 20-byte header
		if thoff+12 >= len(b) {
			return poff
		}
		poff += max(uint64(b[thoff+12]>>4)*4, 20)
	case 17, 136: // UDP, UDP-Lite
		poff += 8
	case 1, 58, 2: // ICMP, ICMPv6, IGMP: their fixed headers
		poff += 8
	case 33, 132: // DCCP, SCTP: their fixed headers
		poff += 12
	}
	return poff
}

// dissect finds the transport protocol and header offset of an Ethernet
// frame (through one or two VLAN tags) carrying IPv4 or IPv6.
func dissect(b []byte) (proto uint8, thoff int, ok bool) {
	if len(b) < 14 {
		return 0, 0, false
	}
	off, et := 14, binary.BigEndian.Uint16(b[12:])
	for range 2 {
		if (et == 0x8100 || et == 0x88a8) && len(b) >= off+4 {
			et = binary.BigEndian.Uint16(b[off+2:])
			off += 4
		}
	}
	switch et {
	case 0x0800:
		if len(b) < off+20 || b[off]>>4 != 4 {
			return 0, 0, false
		}
		ihl := int(b[off]&0xf) * 4
		if ihl < 20 || binary.BigEndian.Uint16(b[off+6:])&0x3fff != 0 { // fragments have no transport header to count
			return 0, 0, false
		}
		return b[off+9], off + ihl, true
	case 0x86dd:
		if len(b) < off+40 {
			return 0, 0, false
		}
		return b[off+6], off + 40, true
	}
	return 0, 0, false
}

// nlattr is bpf_skb_get_nlattr: the offset of the netlink attribute of
// type X in the attributes starting at A, or 0.
func nlattr(s *bpfctx.SKB, a vm.Args) uint64 {
	b := s.Data()
	at := uint64(uint32(a[1]))
	if len(b) < 4 || at > uint64(len(b)-4) {
		return 0
	}
	return nlaFind(b, int(at), len(b), uint16(a[2]))
}

// nlattrNest is bpf_skb_get_nlattr_nest: the same within the attribute at A.
func nlattrNest(s *bpfctx.SKB, a vm.Args) uint64 {
	b := s.Data()
	at := uint64(uint32(a[1]))
	if len(b) < 4 || at > uint64(len(b)-4) {
		return 0
	}
	l := int(binary.LittleEndian.Uint16(b[at:]))
	if l > len(b)-int(at) {
		return 0
	}
	return nlaFind(b, int(at)+4, int(at)+l, uint16(a[2]))
}

// nlaFind walks netlink attributes in b[start:end] (nla_find: nla_len and
// nla_type in host order, each aligned to 4) for one of type typ.
func nlaFind(b []byte, start, end int, typ uint16) uint64 {
	for pos := start; pos+4 <= end; {
		l := int(binary.LittleEndian.Uint16(b[pos:]))
		if l < 4 || pos+l > end {
			return 0
		}
		if binary.LittleEndian.Uint16(b[pos+2:])&0x3fff == typ { // nla_type masks NLA_F_NESTED and NLA_F_NET_BYTEORDER
			return uint64(pos)
		}
		pos += (l + 3) &^ 3
	}
	return 0
}
