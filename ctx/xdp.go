package ctx

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
)

// XDP test-run buffer geometry (net/bpf/test_run.c, include/net/xdp.h).
const (
	XDPHeadroom    = 256  // XDP_PACKET_HEADROOM
	XDPFrameSize   = 4096 // one page
	XDPTailroom    = 320  // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	XDPMaxData     = XDPFrameSize - XDPHeadroom - XDPTailroom
	xdpFrameSize   = 40 // sizeof(struct xdp_frame): adjust_head keeps it free
	xdpMdSize      = 24 // sizeof(struct xdp_md)
	ethHeaderLen   = 14 // ETH_HLEN: the shortest frame a test run accepts
	loopbackIfidx  = 1
	xdpMetaMaxSize = 32 // adjust_meta limit
)

// Offsets of struct xdp_md fields.
const (
	xdpData           = 0
	xdpDataEnd        = 4
	xdpDataMeta       = 8
	xdpIngressIfindex = 12
	xdpRxQueueIndex   = 16
	xdpEgressIfindex  = 20
)

var xdpFields = map[uint32]string{
	xdpData: "data", xdpDataEnd: "data_end", xdpDataMeta: "data_meta",
	xdpIngressIfindex: "ingress_ifindex", xdpRxQueueIndex: "rx_queue_index",
	xdpEgressIfindex: "egress_ifindex",
}

// XDP is the context of an XDP program as BPF_PROG_TEST_RUN builds it: a
// page-sized buffer with 256 bytes of headroom, the packet, and tailroom,
// seen by the program through struct xdp_md. Helpers that resize the
// packet (bpf_xdp_adjust_head/tail/meta) find it through the ctx pointer.
type XDP struct {
	m        *vm.Machine
	buf      []byte
	pkt      uint64 // base address of buf in the machine
	meta     uint32 // offsets into buf
	data     uint32
	end      uint32
	ifindex  uint32
	rxQueue  uint32
	ctxAddr  uint64
	ctxImage [xdpMdSize]byte
	ctxIn    [xdpMdSize]byte // ctx_in as given: ctx_out echoes its device fields

	pktRegion, ctxRegion vm.Region // mapped anew by each Reset
}

// NewXDP maps an XDP context for one run. ctxIn, if not empty, is a struct
// xdp_md with the kernel's test-run rules: data is the length of metadata
// taken from the front of data, data_end may shorten the packet,
// data_meta and egress_ifindex must be 0.
func NewXDP(m *vm.Machine, data, ctxIn []byte) (*XDP, error) {
	x := &XDP{m: m, buf: make([]byte, XDPFrameSize)}
	x.pktRegion = vm.Region{Name: "pkt", Data: x.buf, Describe: x.describePkt, Kind: hooks.RegionPacket}
	x.ctxRegion = vm.Region{Name: "xdp_md", Data: x.ctxImage[:], View: x, Describe: x.describeCtx, Kind: hooks.RegionCtx}
	if err := x.Reset(data, ctxIn); err != nil {
		return nil, err
	}
	return x, nil
}

// Reset makes x the context of the next run on its machine with a new
// packet, as NewXDP would, but reuses x's buffer: a loop over packets then
// allocates nothing. The caller resets the machine (vm.Machine.Reset) first.
func (x *XDP) Reset(data, ctxIn []byte) error {
	m := x.m
	x.ifindex, x.rxQueue = loopbackIfidx, 0
	x.ctxIn = [xdpMdSize]byte{}
	metaLen := uint32(0)
	linear := uint32(len(data))
	if len(ctxIn) > 0 {
		if len(ctxIn) > xdpMdSize {
			for _, b := range ctxIn[xdpMdSize:] {
				if b != 0 {
					return fmt.Errorf("xdp_md ctx_in: bytes beyond %d must be zero: %w", xdpMdSize, ErrInvalidCtx)
				}
			}
		}
		md := &x.ctxIn
		copy(md[:], ctxIn)
		field := func(off int) uint32 { return binary.LittleEndian.Uint32(md[off:]) }
		if field(xdpDataMeta) != 0 || field(xdpEgressIfindex) != 0 {
			return fmt.Errorf("xdp_md ctx_in: data_meta and egress_ifindex must be 0: %w", ErrInvalidCtx)
		}
		metaLen = field(xdpData)
		end := field(xdpDataEnd)
		if metaLen > end || end > uint32(len(data)) || metaLen > xdpMetaMaxSize {
			return fmt.Errorf("xdp_md ctx_in: data %d and data_end %d do not fit %d bytes: %w", metaLen, end, len(data), ErrInvalidCtx)
		}
		linear = end
		x.ifindex = field(xdpIngressIfindex)
		x.rxQueue = field(xdpRxQueueIndex)
		if x.ifindex == 0 {
			x.ifindex = loopbackIfidx
		}
	}
	if int(linear)-int(metaLen) < ethHeaderLen {
		return fmt.Errorf("xdp: packet of %d bytes is shorter than an Ethernet header: %w", int(linear)-int(metaLen), ErrInvalidData)
	}
	if linear > XDPMaxData {
		return fmt.Errorf("xdp: packet of %d bytes exceeds %d (multi-buffer frames are not modelled): %w", linear, XDPMaxData, ErrInvalidData)
	}
	clear(x.buf) // the kernel's buffer starts zeroed
	x.meta = XDPHeadroom
	x.data = XDPHeadroom + metaLen
	x.end = XDPHeadroom + linear
	copy(x.buf[XDPHeadroom:], data[:linear])
	x.pktRegion.Lo, x.pktRegion.Hi, x.pktRegion.Origin = x.meta, x.end, x.data
	x.pkt = m.Map(&x.pktRegion)
	x.ctxAddr = m.Map(&x.ctxRegion)
	return nil
}

// Reuse implements Reusable: Reset with in's data_in and ctx_in.
func (x *XDP) Reuse(in Input) error { return x.Reset(in.Data, in.Ctx) }

// Arg is the ctx pointer the program receives in r1.
func (x *XDP) Arg() uint64 { return x.ctxAddr }

// Data returns the packet from data to data_end.
func (x *XDP) Data() []byte { return x.buf[x.data:x.end] }

// Meta returns the metadata in front of the packet.
func (x *XDP) Meta() []byte { return x.buf[x.meta:x.data] }

// Len is bpf_xdp_get_buff_len: the packet length (one buffer, no frags).
func (x *XDP) Len() int { return int(x.end - x.data) }

// CtxOut is the xdp_md the kernel copies back: ctx_in (zeros without one)
// with data and data_end updated, relative to data_meta.
func (x *XDP) CtxOut() []byte {
	md := x.ctxIn
	binary.LittleEndian.PutUint32(md[xdpData:], x.data-x.meta)
	binary.LittleEndian.PutUint32(md[xdpDataEnd:], x.end-x.meta)
	return md[:]
}

// Load implements vm.View: the kernel rewrites these 4-byte loads into
// loads of the real xdp_buff, so pointer fields yield full addresses.
func (x *XDP) Load(off uint32, size int) (uint64, error) {
	if size != 4 || off%4 != 0 {
		return 0, fmt.Errorf("invalid xdp_md access off=%d size=%d", off, size)
	}
	switch off {
	case xdpData:
		return x.pkt + uint64(x.data), nil
	case xdpDataEnd:
		return x.pkt + uint64(x.end), nil
	case xdpDataMeta:
		return x.pkt + uint64(x.meta), nil
	case xdpIngressIfindex:
		return uint64(x.ifindex), nil
	case xdpRxQueueIndex:
		return uint64(x.rxQueue), nil
	}
	return 0, fmt.Errorf("invalid xdp_md access off=%d size=%d", off, size)
}

// Store implements vm.View: xdp_md is read-only to XDP programs.
func (x *XDP) Store(off uint32, size int, _ uint64) error {
	return fmt.Errorf("xdp_md is read-only (off=%d size=%d)", off, size)
}

// AdjustHead moves data by delta, as bpf_xdp_adjust_head: the new start
// must leave room for struct xdp_frame and at least an Ethernet header.
func (x *XDP) AdjustHead(delta int32) error {
	metaLen := x.data - x.meta
	nd := int64(x.data) + int64(delta)
	if nd-int64(metaLen) < xdpFrameSize || nd > int64(x.end)-ethHeaderLen {
		return errInval
	}
	if metaLen > 0 {
		copy(x.buf[nd-int64(metaLen):], x.buf[x.meta:x.data])
	}
	x.data = uint32(nd)
	x.meta = x.data - metaLen
	x.sync()
	return nil
}

// AdjustTail moves data_end by delta, as bpf_xdp_adjust_tail.
func (x *XDP) AdjustTail(delta int32) error {
	ne := int64(x.end) + int64(delta)
	if ne-int64(x.data) < ethHeaderLen || ne > XDPFrameSize-XDPTailroom {
		return errInval
	}
	if delta > 0 {
		clear(x.buf[x.end:ne])
	}
	x.end = uint32(ne)
	x.sync()
	return nil
}

// AdjustMeta moves data_meta by delta, as bpf_xdp_adjust_meta.
func (x *XDP) AdjustMeta(delta int32) error {
	nm := int64(x.meta) + int64(delta)
	if nm > int64(x.data) || nm < xdpFrameSize {
		return errInval
	}
	if l := int64(x.data) - nm; l > xdpMetaMaxSize || l%4 != 0 {
		return syscall.EACCES // xdp_metalen_invalid
	}
	x.meta = uint32(nm)
	x.sync()
	return nil
}

// Bytes returns the packet bytes [off, off+n) relative to data, for
// bpf_xdp_load_bytes and bpf_xdp_store_bytes.
func (x *XDP) Bytes(off uint32, n uint32) ([]byte, bool) {
	l := x.end - x.data
	if off > l || n > l-off {
		return nil, false
	}
	s := x.data + off
	return x.buf[s : s+n], true
}

// sync publishes the new packet window to the machine.
func (x *XDP) sync() {
	x.pktRegion.Origin = x.data
	x.m.SetWindow(x.pkt, x.meta, x.end)
}

func (x *XDP) describePkt(off uint32) string {
	if off < x.data {
		return metaNames.name(off - x.meta)
	}
	return pktNames.name(off - x.data)
}

func (x *XDP) describeCtx(off uint32) string {
	if f, ok := xdpFields[off]; ok {
		return "ctx xdp_md." + f
	}
	return fmt.Sprintf("ctx xdp_md+%d", off)
}

// Output implements Instance: the packet from data_meta on (the kernel
// returns metadata and data together) and the xdp_md.
func (x *XDP) Output() Output {
	return Output{Data: append([]byte(nil), x.buf[x.meta:x.end]...), Ctx: x.CtxOut()}
}
