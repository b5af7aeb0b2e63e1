package helpers

import (
	"syscall"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Encapsulation types of bpf_lwt_push_encap (enum bpf_lwt_encap_mode).
const (
	lwtEncapSeg6       = 0
	lwtEncapSeg6Inline = 1
	lwtEncapIP         = 2
)

func init() {
	register(asm.FnLwtPushEncap, "bpf_lwt_push_encap", lwtPushEncap)
}

// lwtPushEncap is bpf_lwt_push_encap(skb, type, hdr, len), which lwt_in
// (bpf_lwt_in_push_encap) and lwt_xmit (bpf_lwt_xmit_push_encap) programs
// call. BPF_LWT_ENCAP_IP at lwt_in pushes the header (ctx.SKB.PushIPEncap).
// The segment routing types answer -EINVAL, as on the reference kernel,
// built without CONFIG_IPV6_SEG6_BPF. At lwt_xmit, a header that passes
// the checks is pushed after making room for the route's device
// (LL_RESERVED_SPACE(skb_dst(skb)->dev)): a test-run skb has no route, and
// the kernel would dereference NULL there, so the run ends with a
// KernelStateError instead.
func lwtPushEncap(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	k, err := skbArg(m, a[0])
	if err != nil {
		return 0, err
	}
	hdr, err := m.Bytes(a[2], int(uint32(a[3])), false)
	if err != nil {
		return 0, err
	}
	if uint32(a[1]) != lwtEncapIP {
		return neg(syscall.EINVAL), nil // SEG6 and SEG6_INLINE too: no CONFIG_IPV6_SEG6_BPF
	}
	if k.Type() == ebpf.LWTXmit {
		if err := ctx.CheckIPEncap(hdr); err != nil {
			return errnoRet(err)
		}
		return 0, kernelStateError(m, "bpf_lwt_push_encap", "BPF_LWT_ENCAP_IP at lwt_xmit reserves room for the route's device, and a test-run skb has no route (the kernel dereferences NULL here)")
	}
	return errnoRet(k.PushIPEncap(append([]byte(nil), hdr...)))
}
