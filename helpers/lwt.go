package helpers

import (
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
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
// call. BPF_LWT_ENCAP_IP pushes the header (ctx.SKB.PushIPEncap). The two
// program types differ only in the headroom the kernel makes first (the
// MAC header's at lwt_in, the route device's at lwt_xmit) and in updating
// a CHECKSUM_COMPLETE sum at lwt_in, which a test-run skb (CHECKSUM_NONE)
// does not have: the packet and context that come out are the same, as the
// kernel's answers to the Linux selftests' encap_gre/encap_gre6 programs
// run as lwt_xmit show (testrun's third-party test). The segment routing
// types answer -EINVAL, as on the reference kernel, built without
// CONFIG_IPV6_SEG6_BPF.
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
	return errnoRet(k.PushIPEncap(append([]byte(nil), hdr...)))
}
