package ctx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"syscall"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/pktfield"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/btf"
)

// XDP test-run buffer geometry (net/bpf/test_run.c, include/net/xdp.h).
// The linear part lives in one page: headroom, at most XDPMaxData bytes of
// packet, and the skb_shared_info tailroom. A longer frame continues in up
// to XDPMaxFrags page-sized fragments, so the largest frame a test run
// takes is XDPMaxFrame bytes (the kernel fails a longer one with ENOMEM).
const (
	XDPHeadroom  = 256  // XDP_PACKET_HEADROOM
	XDPFrameSize = 4096 // one page: the linear part's frame_sz
	XDPTailroom  = 320  // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	XDPMaxData   = XDPFrameSize - XDPHeadroom - XDPTailroom
	XDPFragSize  = 4096 // PAGE_SIZE: each fragment is one page (rxq frag_size)
	XDPMaxFrags  = 17   // MAX_SKB_FRAGS
	XDPMaxFrame  = XDPMaxData + XDPMaxFrags*XDPFragSize

	xdpFrameSize   = 40 // sizeof(struct xdp_frame): adjust_head/meta keep it free
	xdpMdSize      = 24 // sizeof(struct xdp_md)
	ethHeaderLen   = 14 // ETH_HLEN: the shortest frame a test run accepts
	loopbackIfidx  = 1
	xdpMetaMaxSize = 255 // type_max(skb_shared_info.meta_len): xdp_metalen_invalid
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

// fragNames name fragment bytes in traces: "frag0+200" is byte 200 of
// the first fragment (the kernel's sinfo->frags[0]).
var fragNames = func() (t [XDPMaxFrags]*offsetNames) {
	for i := range t {
		t[i] = &offsetNames{prefix: "frag" + strconv.Itoa(i)}
	}
	return t
}()

// xdpFrag is one fragment: a page of which the first size bytes are packet.
// It is mapped as a region of its own, so helpers' accesses to it are
// checked and named like any other memory.
type xdpFrag struct {
	page   []byte
	size   uint32
	addr   uint64
	region vm.Region
}

// XDP is the context of an XDP program as BPF_PROG_TEST_RUN builds it: a
// page-sized buffer with 256 bytes of headroom, the packet's linear part,
// and tailroom, seen by the program through struct xdp_md; the rest of a
// frame longer than the linear part in page-sized fragments, which the
// program reaches only through helpers (bpf_xdp_load_bytes, ...). Every
// program gets fragments, whether it was loaded frags-aware
// (BPF_F_XDP_HAS_FRAGS) or not: test_run does not look. Helpers that
// resize the packet (bpf_xdp_adjust_head/tail/meta) find it through the
// ctx pointer.
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

	frags     [XDPMaxFrags]xdpFrag
	nfrags    int
	fragBytes uint32 // sinfo->xdp_frags_size

	// types lays out struct xdp_buff (nil: the running kernel's BTF);
	// kern is it, mapped when a program asks (bpf_cast_to_kern_ctx).
	types *btf.Spec
	kern  *kernObject

	pktRegion, ctxRegion vm.Region // mapped anew by each Reset
	fields               pktfield.Cache

	// dirtyLo and dirtyHi bound the bytes of buf the last run could
	// have written: every window it had (see sync). Reset zeroes only
	// those, not the whole page.
	dirtyLo, dirtyHi uint32
}

// NewXDP maps an XDP context for one run. ctxIn, if not empty, is a struct
// xdp_md with the kernel's test-run rules: data is the length of metadata
// taken from the front of data, data_end the length of the linear part
// (metadata included; the rest goes to fragments), data_meta and
// egress_ifindex must be 0.
func NewXDP(m *vm.Machine, data, ctxIn []byte) (*XDP, error) {
	x := &XDP{m: m, buf: make([]byte, XDPFrameSize)}
	x.pktRegion = vm.Region{Name: "pkt", Data: x.buf, Describe: x.describePkt, DescribeSpan: x.describePktSpan, Kind: hooks.RegionPacket}
	x.pktRegion.Field, x.pktRegion.FieldSpan = x.fieldPkt, x.fieldPktSpan
	x.ctxRegion = vm.Region{Name: "xdp_md", Data: x.ctxImage[:], View: x, Describe: x.describeCtx, Kind: hooks.RegionCtx}
	if err := x.Reset(data, ctxIn); err != nil {
		return nil, err
	}
	return x, nil
}

// metaLenValid is xdp_metalen_invalid negated: metadata is whole 32-bit
// words and fits skb_shared_info's u8 meta_len.
func metaLenValid(n uint32) bool { return n%4 == 0 && n <= xdpMetaMaxSize }

// Reset makes x the context of the next run on its machine with a new
// packet, as NewXDP would, but reuses x's buffers: a loop over packets then
// allocates nothing (fragment pages are allocated once, on first use). The
// caller resets the machine (vm.Machine.Reset) first.
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
		if metaLen > end || end > uint32(len(data)) {
			return fmt.Errorf("xdp_md ctx_in: data %d and data_end %d do not fit %d bytes: %w", metaLen, end, len(data), ErrInvalidCtx)
		}
		// The metadata is taken from the headroom, which must keep
		// room for struct xdp_frame.
		if !metaLenValid(metaLen) || XDPHeadroom-metaLen < xdpFrameSize {
			return fmt.Errorf("xdp_md ctx_in: %d bytes of metadata (whole words, at most %d): %w", metaLen, XDPHeadroom-xdpFrameSize, ErrInvalidCtx)
		}
		linear = end
		x.ifindex = field(xdpIngressIfindex)
		x.rxQueue = field(xdpRxQueueIndex)
		if x.ifindex == 0 {
			x.ifindex = loopbackIfidx
		}
	}
	if len(data)-int(metaLen) < ethHeaderLen {
		return fmt.Errorf("xdp: packet of %d bytes is shorter than an Ethernet header: %w", len(data)-int(metaLen), ErrInvalidData)
	}
	// The linear part holds what fits the page after the headroom (less
	// the metadata, which comes out of it) and the tailroom.
	linear = min(linear, XDPMaxData+metaLen)
	rest := uint32(len(data)) - linear
	nfrags := int((rest + XDPFragSize - 1) / XDPFragSize)
	if nfrags > XDPMaxFrags {
		return fmt.Errorf("xdp: frame of %d bytes needs %d fragments after its %d-byte linear part, the kernel allocates at most %d (%d bytes in all): %w",
			len(data), nfrags, linear, XDPMaxFrags, XDPMaxFrame+metaLen, syscall.ENOMEM)
	}
	clear(x.buf[x.dirtyLo:x.dirtyHi]) // the kernel's buffer starts zeroed
	x.meta = XDPHeadroom - metaLen
	x.data = XDPHeadroom
	x.end = x.meta + linear
	x.dirtyLo, x.dirtyHi = x.meta, x.end
	copy(x.buf[x.meta:], data[:linear])
	x.pktRegion.Lo, x.pktRegion.Hi, x.pktRegion.Origin = x.meta, x.end, x.data
	x.pkt = m.Map(&x.pktRegion)
	x.ctxAddr = m.Map(&x.ctxRegion)

	x.nfrags, x.fragBytes = nfrags, rest
	for i := range nfrags {
		f := &x.frags[i]
		if f.page == nil {
			f.page = make([]byte, XDPFragSize)
			f.region = vm.Region{Name: fragNames[i].prefix, Data: f.page, Describe: fragNames[i].name, Kind: hooks.RegionPacket}
		}
		chunk := data[linear+uint32(i)*XDPFragSize:]
		chunk = chunk[:min(len(chunk), XDPFragSize)]
		copy(f.page, chunk)
		f.size = uint32(len(chunk))
		f.region.Lo, f.region.Hi = 0, f.size
		f.addr = m.Map(&f.region)
	}
	return nil
}

// Reuse implements Reusable: Reset with in's data_in and ctx_in.
func (x *XDP) Reuse(in Input) error {
	x.types = in.KernelTypes
	return x.Reset(in.Data, in.Ctx)
}

// Arg is the ctx pointer the program receives in r1.
func (x *XDP) Arg() uint64 { return x.ctxAddr }

// Data returns the linear part of the packet, from data to data_end.
func (x *XDP) Data() []byte { return x.buf[x.data:x.end] }

// Meta returns the metadata in front of the packet.
func (x *XDP) Meta() []byte { return x.buf[x.meta:x.data] }

// Frags returns the packet bytes of each fragment, in order.
func (x *XDP) Frags() [][]byte {
	out := make([][]byte, x.nfrags)
	for i := range out {
		out[i] = x.frags[i].page[:x.frags[i].size]
	}
	return out
}

// Len is bpf_xdp_get_buff_len: the linear part from data on and the
// fragments.
func (x *XDP) Len() int { return int(x.end-x.data) + int(x.fragBytes) }

// CtxOut is the xdp_md the kernel copies back: ctx_in (zeros without one)
// with data and data_end updated, relative to data_meta.
func (x *XDP) CtxOut() []byte {
	md := x.ctxOut()
	return md[:]
}

func (x *XDP) ctxOut() [xdpMdSize]byte {
	md := x.ctxIn
	binary.LittleEndian.PutUint32(md[xdpData:], x.data-x.meta)
	binary.LittleEndian.PutUint32(md[xdpDataEnd:], x.end-x.meta)
	return md
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
// must leave room for struct xdp_frame and the metadata in front, and at
// least an Ethernet header in the linear part. Fragments do not move.
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

// AdjustTail moves the end of the packet by delta, as
// bpf_xdp_adjust_tail. A linear packet's data_end moves within the page
// (keeping the tailroom). A fragmented packet grows in its last
// fragment's page (zeroed) and shrinks from its last fragment backwards,
// releasing fragments it empties; once none is left the rest comes off
// the linear part.
func (x *XDP) AdjustTail(delta int32) error {
	if x.nfrags > 0 {
		if delta < 0 {
			return x.shrinkFrags(uint32(-int64(delta)))
		}
		f := &x.frags[x.nfrags-1]
		if uint32(delta) > XDPFragSize-f.size {
			return errInval
		}
		clear(f.page[f.size : f.size+uint32(delta)])
		f.size += uint32(delta)
		x.fragBytes += uint32(delta)
		x.m.SetWindow(f.addr, 0, f.size)
		return nil
	}
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

// shrinkFrags is bpf_xdp_frags_shrink_tail: at least an Ethernet header's
// worth of the packet stays.
func (x *XDP) shrinkFrags(n uint32) error {
	if int64(n) > int64(x.Len())-ethHeaderLen {
		return errInval
	}
	for x.nfrags > 0 && n > 0 {
		f := &x.frags[x.nfrags-1]
		cut := min(n, f.size)
		f.size -= cut
		x.fragBytes -= cut
		n -= cut
		if f.size == 0 {
			// A released fragment's region stays mapped, with nothing
			// accessible, until the next Reset.
			x.m.SetWindow(f.addr, XDPFragSize, XDPFragSize)
			x.nfrags--
		} else {
			x.m.SetWindow(f.addr, 0, f.size)
		}
	}
	if x.nfrags == 0 && n > 0 {
		x.end -= n
		x.sync()
	}
	return nil
}

// AdjustMeta moves data_meta by delta, as bpf_xdp_adjust_meta: -EINVAL
// when it would pass data or eat into struct xdp_frame's room, -EACCES
// when the metadata would not be whole words of at most 255 bytes.
func (x *XDP) AdjustMeta(delta int32) error {
	nm := int64(x.meta) + int64(delta)
	if nm > int64(x.data) || nm < xdpFrameSize {
		return errInval
	}
	if !metaLenValid(uint32(int64(x.data) - nm)) {
		return syscall.EACCES
	}
	x.meta = uint32(nm)
	x.sync()
	return nil
}

// Segment is a run of packet bytes in one piece of memory: the linear
// part or a fragment, at Addr in the machine.
type Segment struct {
	Addr uint64
	Len  uint32
}

// Segments returns where the packet bytes [off, off+n) (off relative to
// data, running on into the fragments) lie in the machine, in order, for
// helpers that copy packet bytes (bpf_xdp_load_bytes, ...). ok is false
// when the range passes the end of the packet.
func (x *XDP) Segments(off, n uint32, seg []Segment) (_ []Segment, ok bool) {
	if uint64(off)+uint64(n) > uint64(x.Len()) {
		return seg, false
	}
	if lin := x.end - x.data; off < lin {
		k := min(n, lin-off)
		seg = append(seg, Segment{Addr: x.pkt + uint64(x.data+off), Len: k})
		off, n = lin, n-k
	}
	off -= x.end - x.data
	for i := 0; i < x.nfrags && n > 0; i++ {
		f := &x.frags[i]
		if off >= f.size {
			off -= f.size
			continue
		}
		k := min(n, f.size-off)
		seg = append(seg, Segment{Addr: f.addr + uint64(off), Len: k})
		off, n = 0, n-k
	}
	return seg, true
}

// Pointer is bpf_xdp_pointer: the address of the packet bytes [off, off+n)
// (relative to data) when they lie in one piece — the linear part or one
// fragment — for bpf_dynptr_slice; ok is false when they straddle two or
// pass the end of the packet.
func (x *XDP) Pointer(off, n uint32) (addr uint64, ok bool) {
	var buf [2]Segment
	segs, ok := x.Segments(off, n, buf[:0])
	if !ok || len(segs) != 1 {
		return 0, false
	}
	return segs[0].Addr, true
}

// Bytes returns a copy of the packet bytes [off, off+n) relative to data,
// across fragments, as bpf_xdp_copy gathers them for
// bpf_perf_event_output; ok is false past the end of the packet.
func (x *XDP) Bytes(off uint32, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(x.Len()) {
		return nil, false
	}
	out := make([]byte, 0, n)
	if lin := x.end - x.data; off < lin {
		k := min(n, lin-off)
		out = append(out, x.buf[x.data+off:x.data+off+k]...)
		off, n = lin, n-k
	}
	off -= x.end - x.data
	for i := 0; i < x.nfrags && n > 0; i++ {
		f := &x.frags[i]
		if off >= f.size {
			off -= f.size
			continue
		}
		k := min(n, f.size-off)
		out = append(out, f.page[off:off+k]...)
		off, n = 0, n-k
	}
	return out, true
}

// sync publishes the new packet window to the machine.
func (x *XDP) sync() {
	x.dirtyLo, x.dirtyHi = min(x.dirtyLo, x.meta), max(x.dirtyHi, x.end)
	x.pktRegion.Origin = x.data
	x.m.SetWindow(x.pkt, x.meta, x.end)
}

func (x *XDP) describePkt(off uint32) string {
	if off < x.data {
		return metaNames.name(off - x.meta)
	}
	return pktNames.name(off - x.data)
}

// describePktSpan is describePkt's form (vm.Region.DescribeSpan): from
// data on, "pkt" and the offset from data; before it, the metadata,
// "pkt_meta" and the offset from data_meta.
func (x *XDP) describePktSpan(off uint32) (string, uint32, uint32, uint32) {
	if off < x.data {
		return metaNames.prefix, x.meta, x.meta, x.data
	}
	return pktNames.prefix, x.data, x.data, math.MaxUint32
}

// fieldPkt names packet bytes by header field, dissecting the frame as it
// is now: after bpf_xdp_adjust_head, the new frame.
func (x *XDP) fieldPkt(off uint32, size int) string {
	if off < x.data || off >= x.end {
		return ""
	}
	return x.fields.Name(x.buf[x.data:x.end], int(off-x.data), size)
}

// fieldPktSpan is fieldPkt with the span of its answer (vm.Region.FieldSpan).
func (x *XDP) fieldPktSpan(off uint32, size int) (string, uint32, uint32) {
	if off < x.data || off >= x.end {
		return "", off, off + 1
	}
	name, lo, hi := x.fields.NameSpan(x.buf[x.data:x.end], int(off-x.data), size)
	return name, x.data + uint32(lo), x.data + uint32(hi)
}

func (x *XDP) describeCtx(off uint32) string {
	if f, ok := xdpFields[off]; ok {
		return "ctx xdp_md." + f
	}
	return fmt.Sprintf("ctx xdp_md+%d", off)
}

// Output implements Instance: the packet from data_meta on (the kernel
// returns metadata and data together) followed by the fragments, and the
// xdp_md.
func (x *XDP) Output() Output {
	return x.AppendOutput(make([]byte, 0, int(x.end-x.meta)+int(x.fragBytes)), nil)
}

// AppendOutput implements OutputAppender.
func (x *XDP) AppendOutput(data, ctx []byte) Output {
	data = append(data, x.buf[x.meta:x.end]...)
	for i := range x.nfrags {
		data = append(data, x.frags[i].page[:x.frags[i].size]...)
	}
	md := x.ctxOut()
	return Output{Data: data, Ctx: append(ctx, md[:]...), FragBytes: int(x.fragBytes)}
}
