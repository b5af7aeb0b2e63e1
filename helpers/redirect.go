package helpers

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

func init() {
	register(asm.FnRedirect, "bpf_redirect", redirect)
	register(asm.FnRedirectMap, "bpf_redirect_map", redirectMap)
	register(asm.FnFibLookup, "bpf_fib_lookup", fibLookup)
}

// Program return codes the redirect helpers answer with.
const (
	xdpAborted    = 0
	xdpRedirect   = 4
	tcActShot     = 2
	tcActRedirect = 7
)

// Redirect flags (BPF_F_*).
const (
	flagIngress        = 1 << 0
	flagBroadcast      = 1 << 3
	flagExcludeIngress = 1 << 4
)

// isXDP reports whether the run's context is an XDP one: bpf_redirect
// takes no context argument, and the kernel gives XDP and tc programs
// different implementations.
func isXDP(m *vm.Machine) bool {
	for id := uint64(1); ; id++ {
		r, _, ok := m.RegionAt(id << 32)
		if !ok {
			return false
		}
		if _, ok := r.View.(*ctx.XDP); ok {
			return true
		}
	}
}

// redirect implements bpf_redirect(ifindex, flags). XDP: XDP_REDIRECT, or
// XDP_ABORTED if flags is not 0. tc: TC_ACT_REDIRECT, or TC_ACT_SHOT for
// flags other than BPF_F_INGRESS. The target is recorded in the RunState.
func redirect(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	ifindex, flags := uint32(a[0]), a[1]
	xdp := isXDP(m)
	switch {
	case xdp && flags != 0:
		return xdpAborted, nil
	case !xdp && flags&^flagIngress != 0:
		return tcActShot, nil
	}
	s.State(m).Redirect = &Redirect{Helper: "bpf_redirect", Ifindex: ifindex, Flags: flags}
	if xdp {
		return xdpRedirect, nil
	}
	return tcActRedirect, nil
}

// redirectMap implements XDP's bpf_redirect_map(map, index, flags) for
// devmaps, cpumaps and xskmaps (__bpf_xdp_redirect_map): XDP_REDIRECT
// when the entry at index (truncated to the u32 key) exists, or with
// BPF_F_BROADCAST on a devmap; otherwise the action in the low two bits of
// flags, and the target is cleared, as the last call takes precedence.
// Unknown flags give XDP_ABORTED. A test run reports XDP_REDIRECT and
// carries nothing out; the target is left in the RunState.
func redirectMap(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	const actionMask = 3 // XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX
	var flagMask uint64
	switch t := mp.Type(); t {
	case maps.DevMap, maps.DevMapHash:
		flagMask = flagBroadcast | flagExcludeIngress
	case maps.CPUMap, maps.XSKMap:
	default:
		return 0, fmt.Errorf("map %s is a %v; bpf_redirect_map wants a devmap, cpumap or xskmap", mp.Name(), t)
	}
	index, flags := a[1], a[2]
	if flags&^(actionMask|flagMask) != 0 {
		return xdpAborted, nil
	}
	st := s.State(m)
	r := &Redirect{Helper: "bpf_redirect_map", Map: mp.Name(), Key: index, Flags: flags}
	if flags&flagBroadcast == 0 {
		ok := false
		switch t := mp.(type) {
		case interface{ Ifindex(uint32) (uint32, bool) }: // devmaps
			r.Ifindex, ok = t.Ifindex(uint32(index))
		default:
			_, ok = mp.Lookup(binary.NativeEndian.AppendUint32(nil, uint32(index)), int(s.env.CPU()))
		}
		if !ok {
			st.Redirect = nil
			return flags & actionMask, nil
		}
	}
	st.Redirect = r
	return xdpRedirect, nil
}

// FIB lookup flags and results (BPF_FIB_LOOKUP_*, BPF_FIB_LKUP_RET_*).
const (
	fibLookupMask      = 0x3f // DIRECT, OUTPUT, SKIP_NEIGH, TBID, SRC, MARK
	FibRetSuccess      = 0
	FibRetNotForwarded = 4
	afInet             = 2
	afInet6            = 10
)

// fibLookup implements bpf_fib_lookup(ctx, params, plen, flags): -EINVAL
// for a short params struct or unknown flags, -EAFNOSUPPORT unless the
// family is AF_INET or AF_INET6, else the Env's answer (by default
// BPF_FIB_LKUP_RET_NOT_FWDED, as for a destination with no route).
func fibLookup(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	if int32(a[2]) < FibParamsSize || uint32(a[3])&^fibLookupMask != 0 {
		return neg(syscall.EINVAL), nil
	}
	buf, err := m.Bytes(a[1], FibParamsSize, true)
	if err != nil {
		return 0, err
	}
	var p FibParams
	if err := p.UnmarshalBinary(buf); err != nil {
		return 0, err
	}
	if p.Family != afInet && p.Family != afInet6 {
		return neg(syscall.EAFNOSUPPORT), nil
	}
	fib, ok := s.env.(FibEnv)
	if !ok {
		return FibRetNotForwarded, nil
	}
	ret := fib.FibLookup(&p, uint32(a[3]))
	out, err := p.MarshalBinary()
	if err != nil {
		return 0, err
	}
	copy(buf, out)
	return uint64(ret), nil
}
