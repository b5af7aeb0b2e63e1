package helpers

import (
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

func init() {
	register(asm.FnXdpAdjustHead, "bpf_xdp_adjust_head", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		x, err := xdpArg(m, a[0])
		if err != nil {
			return 0, err
		}
		return errnoRet(x.AdjustHead(int32(a[1])))
	})
	register(asm.FnXdpAdjustTail, "bpf_xdp_adjust_tail", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		x, err := xdpArg(m, a[0])
		if err != nil {
			return 0, err
		}
		return errnoRet(x.AdjustTail(int32(a[1])))
	})
	register(asm.FnXdpAdjustMeta, "bpf_xdp_adjust_meta", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		x, err := xdpArg(m, a[0])
		if err != nil {
			return 0, err
		}
		return errnoRet(x.AdjustMeta(int32(a[1])))
	})
	register(asm.FnXdpGetBuffLen, "bpf_xdp_get_buff_len", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		x, err := xdpArg(m, a[0])
		if err != nil {
			return 0, err
		}
		return uint64(x.Len()), nil
	})
	register(asm.FnXdpLoadBytes, "bpf_xdp_load_bytes", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return xdpCopy(m, a, false)
	})
	register(asm.FnXdpStoreBytes, "bpf_xdp_store_bytes", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return xdpCopy(m, a, true)
	})
}

// xdpArg finds the XDP context behind the ctx pointer a program passed.
func xdpArg(m *vm.Machine, addr uint64) (*ctx.XDP, error) {
	r, off, ok := m.RegionAt(addr)
	if ok && off == 0 {
		if x, ok := r.View.(*ctx.XDP); ok {
			return x, nil
		}
	}
	return nil, fmt.Errorf("%#x (%s) is not an xdp_md pointer", addr, m.Describe(addr))
}

// xdpCopy implements bpf_xdp_load_bytes (buf <- packet) and
// bpf_xdp_store_bytes (packet <- buf): offset and length are limited to
// 0xffff (-EFAULT) and must fall inside the packet, fragments included
// (-EINVAL). Packet bytes are reached through the machine, so traces see
// and name them ("pkt+14", "frag0+200").
func xdpCopy(m *vm.Machine, a vm.Args, store bool) (uint64, error) {
	x, err := xdpArg(m, a[0])
	if err != nil {
		return 0, err
	}
	off, n := uint32(a[1]), uint32(a[3])
	buf, err := m.Bytes(a[2], int(n), !store)
	if err != nil {
		return 0, err
	}
	if off > 0xffff || n > 0xffff {
		return neg(syscall.EFAULT), nil
	}
	var segs [1 + ctx.XDPMaxFrags]ctx.Segment
	pkt, ok := x.Segments(off, n, segs[:0])
	if !ok {
		return neg(syscall.EINVAL), nil
	}
	for _, s := range pkt {
		b, err := m.Bytes(s.Addr, int(s.Len), store)
		if err != nil {
			return 0, err
		}
		if store {
			copy(b, buf)
		} else {
			copy(buf, b)
		}
		buf = buf[s.Len:]
	}
	return 0, nil
}
