package ctx

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// KernelCtx is a context that can show a program the kernel object
// behind it, as bpf_cast_to_kern_ctx does: struct sk_buff behind
// __sk_buff, struct xdp_buff behind xdp_md. The object is a read-only
// region laid out by the kernel's BTF whose members are those the test
// run gave the kernel's object, computed at each read from the context's
// state as it is then (after helpers moved the packet, or the program
// wrote __sk_buff.mark); a member bpfscope cannot know (kernel pointers
// to devices and sockets, the CPU that allocated the buffer) fails the
// read naming it, rather than give an invented value. Pointers into the
// packet (head, data) are addresses of the packet region, so their
// differences are the kernel's.
type KernelCtx interface {
	// KernelCtx returns the address of the kernel object, mapping it on
	// first use in a run.
	KernelCtx() (uint64, error)
}

// KernelObject is bpf_cast_to_kern_ctx(addr): the kernel object behind
// the context at addr. For netfilter the program's context already is
// the kernel's (struct bpf_nf_ctx), as bpf_ctx_convert pairs them.
func KernelObject(m *vm.Machine, addr uint64) (uint64, error) {
	r, off, ok := m.RegionAt(addr)
	if ok && off == 0 {
		if k, ok := r.View.(KernelCtx); ok {
			return k.KernelCtx()
		}
		if r.Name == "bpf_nf_ctx" && r.Kind == hooks.RegionCtx {
			return addr, nil
		}
	}
	return 0, fmt.Errorf("%#x (%s) is not a context whose kernel object bpfscope models (sk_buff, xdp_buff, bpf_nf_ctx)", addr, m.Describe(addr))
}

// kernObject is the region of a kernel object built on demand from a
// context's state.
type kernObject struct {
	m     *vm.Machine
	name  string
	types *btf.Spec
	addr  uint64
	view  kernView
}

type kernView struct {
	o     *kernObject
	build func(k *kstruct, img *kmem) // fills img from the context's state
}

// address maps the object once per run: the region lives as long as the
// run (a later run's regions may take its address).
func (o *kernObject) address() (uint64, error) {
	if o.addr != 0 {
		if r, off, ok := o.m.RegionAt(o.addr); ok && off == 0 && r.View == &o.view {
			return o.addr, nil
		}
	}
	k, err := o.layout()
	if err != nil {
		return 0, err
	}
	o.addr = o.m.Map(&vm.Region{Name: o.name, Data: make([]byte, k.size), View: &o.view,
		Describe: k.fieldAt, Kind: hooks.RegionCtx})
	return o.addr, nil
}

func (o *kernObject) layout() (*kstruct, error) {
	types := o.types
	if types == nil {
		var err error
		if types, err = runningKernelTypes(); err != nil {
			return nil, fmt.Errorf("struct %s needs the kernel's BTF: %w", o.name, err)
		}
	}
	return layoutOf(types, o.name)
}

func (v *kernView) image() (*kmem, error) {
	k, err := v.o.layout()
	if err != nil {
		return nil, err
	}
	img := newKmem(k.name, k.size, k.fieldAt)
	v.build(k, img)
	return img, nil
}

// Load implements vm.View: the object as the context is now.
func (v *kernView) Load(off uint32, size int) (uint64, error) {
	img, err := v.image()
	if err != nil {
		return 0, err
	}
	return img.Load(off, size)
}

// Store implements vm.View: the verifier lets no program type with a
// test run write these objects.
func (v *kernView) Store(off uint32, size int, x uint64) error {
	img, err := v.image()
	if err != nil {
		return err
	}
	return img.Store(off, size, x)
}

// kset sets member name of k in img, if the BTF has it.
func kset(k *kstruct, img *kmem, name string, v uint64) {
	if f, ok := k.byName[name]; ok {
		img.set(f.bitOff, f.bits, v)
	}
}

// skbTestRunZero are the struct sk_buff members bpf_prog_test_run_skb
// leaves at zero: slab_build_skb clears the struct up to tail, and a
// test run attaches no destructor, conntrack entry, extension or
// checksum state. Not here: dev and sk (kernel pointers), alloc_cpu.
var skbTestRunZero = []string{
	"next", "prev", "_skb_refdst", "destructor", "_nfct",
	"data_len", "hdr_len", "cloned", "nohdr", "fclone", "peeked", "head_frag",
	"pfmemalloc", "pp_recycle", "active_extensions", "ignore_df",
	"dst_pending_confirm", "ip_summed", "ooo_okay", "tc_at_ingress", "tc_skip_classify",
	"remcsum_offload", "csum_complete_sw", "csum_level", "no_fcs", "csum_valid",
	"nf_trace", "redirected", "from_ingress", "nf_skip_egress", "slow_gro", "unreadable",
	"csum", "napi_id", "secmark",
}

// skbEncapState are members bpf_skb_adjust_room's encapsulation and
// bpf_lwt_push_encap change in ways the SKB does not follow; they are
// known only until then.
var skbEncapState = []string{
	"encapsulation", "encap_hdr_csum", "inner_protocol_type", "inner_protocol",
	"inner_transport_header", "inner_network_header", "inner_mac_header", "transport_header",
}

// KernelCtx implements KernelCtx: struct sk_buff.
func (s *SKB) KernelCtx() (uint64, error) {
	if s.kern == nil {
		s.kern = &kernObject{m: s.m, name: "sk_buff", types: s.types}
		s.kern.view = kernView{o: s.kern, build: s.kernImage}
	}
	return s.kern.address()
}

// kernImage fills the struct sk_buff of bpf_prog_test_run_skb
// (slab_build_skb, skb_reserve, eth_type_trans, __skb_push for tc,
// bpf_compute_data_pointers for direct packet access, convert___skb_to_skb)
// as the context is now.
func (s *SKB) kernImage(k *kstruct, img *kmem) {
	set := func(name string, v uint64) { kset(k, img, name, v) }
	for _, n := range skbTestRunZero {
		if n == "_skb_refdst" && s.typ == ebpf.LWTXmit {
			continue // the test run sets the IPv6 null route's dst
		}
		set(n, 0)
	}
	if !s.kernStale {
		for _, n := range skbEncapState {
			set(n, 0)
		}
		set("transport_header", 0xffff) // ~0: never set in a test run
	}
	img.padding(k)
	set("tstamp", s.Tstamp)
	set("len", uint64(s.Len()))
	set("mac_len", uint64(s.macLen))
	set("queue_mapping", uint64(s.QueueMapping))
	set("pkt_type", uint64(s.PktType))
	set("l4_hash", b2u(s.L4Hash))
	set("sw_hash", b2u(s.SwHash))
	set("tc_index", uint64(s.TCIndex))
	set("priority", uint64(s.Priority))
	set("skb_iif", uint64(s.IngressIfindex))
	set("hash", uint64(s.Hash))
	set("mark", uint64(s.Mark))
	if s.VlanPresent {
		set("vlan_proto", uint64(bits.ReverseBytes16(s.VlanProto)))
		set("vlan_tci", uint64(s.VlanTCI))
	} else {
		set("vlan_all", 0)
	}
	set("protocol", uint64(bits.ReverseBytes16(s.Protocol)))
	set("network_header", uint64(s.network))
	set("mac_header", uint64(s.mac))
	set("tail", uint64(s.tail))
	set("head", s.pkt)
	set("data", s.pkt+uint64(s.data))
	set("users", 1)
	set("end", uint64(s.kernEnd))
	// SKB_TRUESIZE of the first end: pskb_expand_head leaves it alone
	// for an skb with a socket (the test run's dummy one).
	set("truesize", uint64(s.end0+skbDataAlign(k.size)+skbShinfoSize))

	// cb is struct bpf_skb_data_end: qdisc_skb_cb, then data_meta and
	// data_end where the type has direct packet access.
	if f, ok := k.byName["cb"]; ok && f.bits == 48*8 {
		var cb [48]byte
		binary.LittleEndian.PutUint32(cb[0:], s.WireLen)
		binary.LittleEndian.PutUint16(cb[6:], s.TCClassid)
		copy(cb[8:28], s.CB[:])
		if s.directPacketAccess() {
			binary.LittleEndian.PutUint64(cb[32:], s.pkt+uint64(s.data))
			binary.LittleEndian.PutUint64(cb[40:], s.pkt+uint64(s.tail))
		}
		img.setBytes(f.bitOff/8, cb[:])
	}
}

// skbTestRunEnd is skb->end for a test run of n bytes: bpf_test_init
// kzallocs SKB_DATA_ALIGN(n) with head- and tailroom, and slab_build_skb
// takes the whole kmalloc bucket (a power of two: the request is above
// 256 bytes), less the shared info.
func skbTestRunEnd(n uint32) uint32 {
	alloc := skbDataAlign(n) + SkbHeadroom + skbShinfoSize
	return uint32(1)<<bits.Len32(alloc-1) - skbShinfoSize
}

// skbSmallHeadCacheSize is SKB_SMALL_HEAD_CACHE_SIZE on x86-64
// (SKB_HEAD_ALIGN(MAX_TCP_HEADER)), as skb->end after a reallocation
// shows it on Linux 6.18.
const skbSmallHeadCacheSize = 576

// skbExpandedEnd is skb->end after pskb_expand_head asked for size bytes
// of buffer: kmalloc_reserve takes SKB_HEAD_ALIGN(size) from the small
// head cache when it fits, else the kmalloc bucket (a power of two at
// these sizes), less the shared info.
func skbExpandedEnd(size uint32) uint32 {
	obj := skbDataAlign(size) + skbShinfoSize
	if obj <= skbSmallHeadCacheSize {
		return skbSmallHeadCacheSize - skbShinfoSize
	}
	return uint32(1)<<bits.Len32(obj-1) - skbShinfoSize
}

// directPacketAccess says whether the test run computes the packet
// pointers in cb (bpf_compute_data_pointers): tc, lwt and, on Linux
// 6.18, cgroup_skb (the kernel's cb says so).
func (s *SKB) directPacketAccess() bool {
	switch s.typ {
	case ebpf.SchedCLS, ebpf.SchedACT, ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit, ebpf.CGroupSKB:
		return true
	}
	return false
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// KernelCtx implements KernelCtx: struct xdp_buff.
func (x *XDP) KernelCtx() (uint64, error) {
	if x.kern == nil {
		x.kern = &kernObject{m: x.m, name: "xdp_buff", types: x.types}
		x.kern.view = kernView{o: x.kern, build: x.kernImage}
	}
	x.kern.types = x.types
	return x.kern.address()
}

// xdpFlagsHasFrags is XDP_FLAGS_HAS_FRAGS.
const xdpFlagsHasFrags = 1

// kernImage fills the struct xdp_buff of bpf_prog_test_run_xdp: the
// packet pointers as the program's helpers left them, frame_sz one page
// (the test run's rxq frag_size), flags saying whether fragments are
// attached (bpf_xdp_adjust_tail clears it with the last fragment). rxq points to the kernel's queue: unknown.
func (x *XDP) kernImage(k *kstruct, img *kmem) {
	set := func(name string, v uint64) { kset(k, img, name, v) }
	img.padding(k)
	set("data", x.pkt+uint64(x.data))
	set("data_end", x.pkt+uint64(x.end))
	set("data_meta", x.pkt+uint64(x.meta))
	set("data_hard_start", x.pkt)
	set("txq", 0) // struct xdp_buff xdp = {}
	set("frame_sz", XDPFrameSize)
	switch {
	case x.nfrags > 0:
		set("flags", xdpFlagsHasFrags)
	default: // none from the start, or bpf_xdp_adjust_tail dropped the last
		set("flags", 0)
	}
}
