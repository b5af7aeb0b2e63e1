package ctx

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// nfSkbZero are the struct sk_buff fields bpf_prog_test_run_nf leaves at
// zero: slab_build_skb clears the head of the struct, and no socket,
// device queue, checksum, hash, mark or extension is attached. Names
// absent from a kernel's BTF are skipped.
var nfSkbZero = []string{
	"next", "prev", "sk", "tstamp", "cb", "_skb_refdst", "destructor", "_nfct",
	"data_len", "mac_len", "hdr_len", "queue_mapping",
	"cloned", "nohdr", "fclone", "peeked", "head_frag", "pfmemalloc", "pp_recycle",
	"active_extensions",
	"ignore_df", "dst_pending_confirm", "ip_summed", "ooo_okay", "tstamp_type",
	"tc_at_ingress", "tc_skip_classify", "remcsum_offload", "csum_complete_sw",
	"csum_level", "inner_protocol_type", "l4_hash", "sw_hash", "no_fcs",
	"encapsulation", "encap_hdr_csum", "csum_valid", "nf_trace", "redirected",
	"from_ingress", "nf_skip_egress", "slow_gro", "unreadable",
	"tc_index", "csum", "priority", "skb_iif", "hash", "vlan_all", "napi_id",
	"secmark", "mark", "inner_protocol", "inner_transport_header",
	"inner_network_header", "inner_mac_header",
}

// runningKernelTypes parses the running kernel's BTF once: it takes a
// while, and the layouts cached per spec would otherwise miss.
var runningKernelTypes = sync.OnceValues(btf.LoadKernelSpec)

// skbDataAlign is SKB_DATA_ALIGN: SMP_CACHE_BYTES is 64 on x86-64.
func skbDataAlign(n uint32) uint32 { return (n + 63) &^ 63 }

// nfSkbImage builds the struct sk_buff of a netfilter test run as the
// kernel's BTF lays it out. Kernel pointers (head, data, extensions, and
// dev past LOCAL_OUT, where eth_type_trans sets it to loopback) and
// alloc_cpu stay unknown, so reading them fails the run.
func nfSkbImage(types *btf.Spec, n *Netfilter) (*kmem, error) {
	if types == nil {
		var err error
		if types, err = runningKernelTypes(); err != nil {
			return nil, fmt.Errorf("struct sk_buff needs the kernel's BTF: %w", err)
		}
	}
	k, err := layoutOf(types, "sk_buff")
	if err != nil {
		return nil, err
	}
	img := newKmem("sk_buff", k.size, func(off uint32) string { return k.fieldAt(off) })
	set := func(name string, v uint64) {
		if f, ok := k.byName[name]; ok {
			img.set(f.bitOff, f.bits, v)
		}
	}
	for _, name := range nfSkbZero {
		set(name, 0)
	}
	img.padding(k)
	// bpf_test_init allocates headroom, data and tailroom with kzalloc;
	// slab_build_skb takes the whole kmalloc bucket (a power of two
	// here), less the shared info, as the buffer.
	size := uint32(len(n.data))
	alloc := skbDataAlign(size) + SkbHeadroom + skbShinfoSize
	end := uint32(1)<<bits.Len32(alloc-1) - skbShinfoSize
	set("end", uint64(end))
	set("truesize", uint64(end+skbDataAlign(k.size)+skbShinfoSize)) // SKB_TRUESIZE
	set("users", 1)
	set("tail", uint64(SkbHeadroom+size))
	set("transport_header", 0xffff)

	var proto [2]byte
	if n.State[0] == nfInetLocalOut {
		// The data is the IP packet; nothing resets the MAC or network
		// header, and protocol comes from pf.
		set("len", uint64(size))
		set("dev", 0)
		set("pkt_type", PacketHost)
		set("mac_header", 0xffff)
		set("network_header", 0)
		binary.BigEndian.PutUint16(proto[:], ethPIP)
		if n.State[1] == nfprotoIPv6 {
			binary.BigEndian.PutUint16(proto[:], ethPIPv6)
		}
	} else {
		// eth_type_trans pulled the Ethernet header.
		set("len", uint64(size-ethHeaderLen))
		set("pkt_type", uint64(n.SKB.PktType))
		set("mac_header", SkbHeadroom)
		set("network_header", SkbHeadroom+ethHeaderLen)
		copy(proto[:], n.data[12:14])
	}
	if f, ok := k.byName["protocol"]; ok && f.bits == 16 {
		img.setBytes(f.bitOff/8, proto[:])
	}
	return img, nil
}

// nfSkbView serves the sk_buff behind bpf_nf_ctx.skb, built at the first
// read: only programs that read it need the kernel's BTF.
type nfSkbView struct {
	n   *Netfilter
	img *kmem
	err error
}

func (v *nfSkbView) build() error {
	if v.img == nil && v.err == nil {
		v.img, v.err = nfSkbImage(v.n.types, v.n)
	}
	return v.err
}

func (v *nfSkbView) Load(off uint32, size int) (uint64, error) {
	if err := v.build(); err != nil {
		return 0, err
	}
	return v.img.Load(off, size)
}

func (v *nfSkbView) Store(off uint32, size int, x uint64) error {
	if err := v.build(); err != nil {
		return err
	}
	return v.img.Store(off, size, x)
}

func (v *nfSkbView) describe(off uint32) string {
	if v.build() != nil {
		return fmt.Sprintf("sk_buff+%d", off)
	}
	return v.img.describe(off)
}
