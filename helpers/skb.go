package helpers

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"syscall"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// SkbEnv supplies the socket-buffer results that depend on per-boot kernel
// state. Default: SkbHash is FNV-1a (32-bit) over the packet from its
// network header, 1 if that is 0 (the kernel never reports hash 0); the
// socket cookie is 1; the classid 0 and the cgroup id 1 (the root cgroup).
type SkbEnv interface {
	// SkbHash is bpf_get_hash_recalc's flow hash of a packet; l3 starts at
	// the network header.
	SkbHash(l3 []byte) uint32
	SocketCookie() uint64 // bpf_get_socket_cookie of the test-run socket
	CgroupClassid() uint32
	SkbCgroupID() uint64
}

type defaultSkbEnv struct{}

func (defaultSkbEnv) SkbHash(l3 []byte) uint32 {
	h := fnv.New32a()
	h.Write(l3)
	if v := h.Sum32(); v != 0 {
		return v
	}
	return 1
}
func (defaultSkbEnv) SocketCookie() uint64  { return 1 }
func (defaultSkbEnv) CgroupClassid() uint32 { return 0 }
func (defaultSkbEnv) SkbCgroupID() uint64   { return 1 }

func (s *Set) skbEnv() SkbEnv {
	if e, ok := s.env.(SkbEnv); ok {
		return e
	}
	return defaultSkbEnv{}
}

// Flags of the checksum helpers.
const (
	fHdrFieldMask  = 0xf
	fPseudoHdr     = 1 << 4
	fMarkMangled0  = 1 << 5
	fMarkEnforce   = 1 << 6
	fIPv6          = 1 << 7
	csumMangled0   = 0xffff
	hdrStartMAC    = 0
	hdrStartNet    = 1
	maxSkbOffset   = 0xffff
	maxSkbIntRange = 0x7fffffff
)

func init() {
	skb := func(id asm.BuiltinFunc, name string, fn func(s *Set, m *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error)) {
		register(id, name, func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
			k, err := skbArg(m, a[0])
			if err != nil {
				return 0, err
			}
			return fn(s, m, k, a)
		})
	}
	register(asm.FnSkbLoadBytes, "bpf_skb_load_bytes", skbLoadBytes)
	skb(asm.FnSkbLoadBytesRelative, "bpf_skb_load_bytes_relative", func(_ *Set, m *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		to, err := m.Bytes(a[2], int(uint32(a[3])), true)
		if err != nil {
			return 0, err
		}
		off := uint32(a[1])
		if off <= maxSkbOffset && (a[4] == hdrStartMAC || a[4] == hdrStartNet) {
			if b, ok := k.Header(a[4] == hdrStartMAC, off, uint32(len(to))); ok {
				copy(to, b)
				return 0, nil
			}
		}
		clear(to)
		return neg(syscall.EFAULT), nil
	})
	skb(asm.FnSkbStoreBytes, "bpf_skb_store_bytes", func(_ *Set, m *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		from, err := m.Bytes(a[2], int(uint32(a[3])), false)
		if err != nil {
			return 0, err
		}
		return errnoRet(k.StoreBytes(uint32(a[1]), append([]byte(nil), from...), a[4]))
	})
	skb(asm.FnL3CsumReplace, "bpf_l3_csum_replace", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		off, from, to, flags := uint32(a[1]), a[2], a[3], a[4]
		if flags&^fHdrFieldMask != 0 {
			return neg(syscall.EINVAL), nil
		}
		ptr, errno := csumField(k, off)
		if errno != 0 {
			return neg(errno), nil
		}
		sum := binary.LittleEndian.Uint16(ptr)
		switch flags & fHdrFieldMask {
		case 0:
			if from != 0 {
				return neg(syscall.EINVAL), nil
			}
			sum = csumFold(csumAdd(uint32(to), ^uint32(sum)))
		case 2:
			sum = ^csum16Add(csum16Add(^sum, ^uint16(from)), uint16(to))
		case 4:
			sum = csumFold(csumAdd(csumAdd(^uint32(sum), ^uint32(from)), uint32(to)))
		default:
			return neg(syscall.EINVAL), nil
		}
		binary.LittleEndian.PutUint16(ptr, sum)
		return 0, nil
	})
	skb(asm.FnL4CsumReplace, "bpf_l4_csum_replace", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		off, from, to, flags := uint32(a[1]), a[2], a[3], a[4]
		if flags&^uint64(fMarkMangled0|fMarkEnforce|fPseudoHdr|fHdrFieldMask|fIPv6) != 0 {
			return neg(syscall.EINVAL), nil
		}
		ptr, errno := csumField(k, off)
		if errno != 0 {
			return neg(errno), nil
		}
		sum := binary.LittleEndian.Uint16(ptr)
		mmzero := flags&fMarkMangled0 != 0
		if mmzero && flags&fMarkEnforce == 0 && sum == 0 {
			return 0, nil
		}
		// The test run's skb is CHECKSUM_NONE, so BPF_F_PSEUDO_HDR only
		// matters to skb->csum, which is not kept.
		var diff [8]byte
		switch flags & fHdrFieldMask {
		case 0:
			if from != 0 {
				return neg(syscall.EINVAL), nil
			}
			sum = csumFold(csumAdd(uint32(to), ^uint32(sum)))
		case 2:
			binary.LittleEndian.PutUint32(diff[0:], ^uint32(uint16(from)))
			binary.LittleEndian.PutUint32(diff[4:], uint32(uint16(to)))
			sum = csumFold(csumPartial(diff[:], ^uint32(sum)))
		case 4:
			binary.LittleEndian.PutUint32(diff[0:], ^uint32(from))
			binary.LittleEndian.PutUint32(diff[4:], uint32(to))
			sum = csumFold(csumPartial(diff[:], ^uint32(sum)))
		default:
			return neg(syscall.EINVAL), nil
		}
		if mmzero && sum == 0 {
			sum = csumMangled0
		}
		binary.LittleEndian.PutUint16(ptr, sum)
		return 0, nil
	})
	skb(asm.FnCsumUpdate, "bpf_csum_update", func(*Set, *vm.Machine, *ctx.SKB, vm.Args) (uint64, error) {
		return neg(ctx.ErrNotSupp), nil // the test run's skb is never CHECKSUM_COMPLETE
	})
	skb(asm.FnSkbChangeProto, "bpf_skb_change_proto", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		p := uint16(a[1])
		return errnoRet(k.ChangeProto(p>>8|p<<8, a[2]))
	})
	skb(asm.FnSkbChangeType, "bpf_skb_change_type", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		return errnoRet(k.ChangeType(uint32(a[1])))
	})
	skb(asm.FnSkbChangeTail, "bpf_skb_change_tail", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		return errnoRet(k.ChangeTail(uint32(a[1]), a[2]))
	})
	skb(asm.FnSkbChangeHead, "bpf_skb_change_head", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		return errnoRet(k.ChangeHead(uint32(a[1]), a[2]))
	})
	skb(asm.FnSkbAdjustRoom, "bpf_skb_adjust_room", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		return errnoRet(k.AdjustRoom(int32(a[1]), uint32(a[2]), a[3]))
	})
	skb(asm.FnSkbPullData, "bpf_skb_pull_data", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		return errnoRet(k.PullData(uint32(a[1])))
	})
	skb(asm.FnGetHashRecalc, "bpf_get_hash_recalc", func(s *Set, _ *vm.Machine, k *ctx.SKB, _ vm.Args) (uint64, error) {
		if !k.SwHash && !k.L4Hash {
			l3 := k.Data()
			if off := k.NetworkOffset(); off > 0 && off <= len(l3) {
				l3 = l3[off:]
			}
			k.Hash, k.L4Hash = s.skbEnv().SkbHash(l3), true
		}
		return uint64(k.Hash), nil
	})
	skb(asm.FnSetHash, "bpf_set_hash", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		k.Hash, k.SwHash, k.L4Hash = uint32(a[1]), true, true // __skb_set_sw_hash(skb, hash, true)
		return 0, nil
	})
	skb(asm.FnSetHashInvalid, "bpf_set_hash_invalid", func(_ *Set, _ *vm.Machine, k *ctx.SKB, _ vm.Args) (uint64, error) {
		k.ClearHash()
		return 0, nil
	})
	skb(asm.FnGetSocketCookie, "bpf_get_socket_cookie", func(s *Set, _ *vm.Machine, k *ctx.SKB, _ vm.Args) (uint64, error) {
		if k.Sock == nil {
			return 0, nil
		}
		if k.Cookie == 0 {
			k.Cookie = s.skbEnv().SocketCookie()
		}
		return k.Cookie, nil
	})
	skb(asm.FnGetCgroupClassid, "bpf_get_cgroup_classid", func(s *Set, _ *vm.Machine, _ *ctx.SKB, _ vm.Args) (uint64, error) {
		return uint64(s.skbEnv().CgroupClassid()), nil
	})
	skb(asm.FnSkbCgroupId, "bpf_skb_cgroup_id", func(s *Set, _ *vm.Machine, k *ctx.SKB, _ vm.Args) (uint64, error) {
		if k.Sock == nil {
			return 0, nil
		}
		return s.skbEnv().SkbCgroupID(), nil
	})
	skb(asm.FnSkbVlanPush, "bpf_skb_vlan_push", func(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
		p := uint16(a[1])
		return errnoRet(k.VlanPush(p>>8|p<<8, uint16(a[2])))
	})
	skb(asm.FnSkbVlanPop, "bpf_skb_vlan_pop", func(_ *Set, _ *vm.Machine, k *ctx.SKB, _ vm.Args) (uint64, error) {
		return errnoRet(k.VlanPop())
	})
}

// skbArg finds the socket buffer behind the ctx pointer a program passed.
func skbArg(m *vm.Machine, addr uint64) (*ctx.SKB, error) {
	r, off, ok := m.RegionAt(addr)
	if ok && off == 0 {
		if k, ok := r.View.(*ctx.SKB); ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%#x (%s) is not an __sk_buff pointer", addr, m.Describe(addr))
}

// skbLoadBytes is bpf_skb_load_bytes, and for flow dissectors
// bpf_flow_dissector_load_bytes, which fails in a test run (no skb).
func skbLoadBytes(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	r, off, ok := m.RegionAt(a[0])
	var k *ctx.SKB
	if ok && off == 0 {
		switch v := r.View.(type) {
		case *ctx.SKB:
			k = v
		case *ctx.FlowDissector:
		default:
			ok = false
		}
	}
	if !ok {
		return 0, fmt.Errorf("%#x (%s) is not an __sk_buff pointer", a[0], m.Describe(a[0]))
	}
	to, err := m.Bytes(a[2], int(uint32(a[3])), true)
	if err != nil {
		return 0, err
	}
	if k != nil && uint32(a[1]) <= maxSkbIntRange {
		if b, ok := k.Bytes(uint32(a[1]), uint32(len(to))); ok {
			copy(to, b)
			return 0, nil
		}
	}
	clear(to)
	return neg(syscall.EFAULT), nil
}

// csumField returns the 16-bit checksum at off for the csum_replace
// helpers: even offsets up to 0xffff inside the packet.
func csumField(k *ctx.SKB, off uint32) ([]byte, syscall.Errno) {
	if off > maxSkbOffset || off&1 != 0 {
		return nil, syscall.EFAULT
	}
	b, ok := k.Bytes(off, 2)
	if !ok {
		return nil, syscall.EFAULT
	}
	return b, 0
}

// csumAdd is the kernel's 32-bit one's-complement csum_add.
func csumAdd(a, b uint32) uint32 {
	r := a + b
	if r < b {
		r++
	}
	return r
}

// csumFold is csum_fold: fold to 16 bits and complement.
func csumFold(s uint32) uint16 {
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// csum16Add is csum16_add.
func csum16Add(c, a uint16) uint16 {
	r := c + a
	if r < a {
		r++
	}
	return r
}
