package helpers

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"syscall"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
)

// Kernel functions (kfuncs) are called like helpers: r1-r5 in, r0 out.
// The loader resolves a kfunc call by name against kernel BTF and rewrites
// it into a helper call at the id KfuncID gives, above every kernel helper
// id, so the vm has one call path and traces name the kfunc.

// KfuncBase is the first helper id serving a kfunc.
const KfuncBase = 0x200

type kfuncEntry struct {
	name string
	fn   func(s *Set, m *vm.Machine, a vm.Args) (uint64, error)
	doc  string // semantics, for KFUNCS.md
	env  string // what answers from the Env, if anything
}

var (
	kfuncRegistry = map[string]kfuncEntry{}
	kfuncOnce     sync.Once
	kfuncNames    []string // sorted: index+KfuncBase is the id
)

// registerKfunc adds a kfunc implementation at init time.
func registerKfunc(name, doc, env string, fn func(s *Set, m *vm.Machine, a vm.Args) (uint64, error)) {
	kfuncRegistry[name] = kfuncEntry{name: name, fn: fn, doc: doc, env: env}
}

func kfuncTable() []string {
	kfuncOnce.Do(func() {
		for n := range kfuncRegistry {
			kfuncNames = append(kfuncNames, n)
		}
		slices.Sort(kfuncNames)
	})
	return kfuncNames
}

// KfuncID returns the helper id that serves the kfunc name, false if this
// package does not implement it.
func KfuncID(name string) (int32, bool) {
	i, ok := slices.BinarySearch(kfuncTable(), name)
	if !ok {
		return 0, false
	}
	return KfuncBase + int32(i), true
}

// KfuncName is the kfunc a helper id from KfuncID serves, false for
// other ids.
func KfuncName(id int32) (string, bool) {
	names := kfuncTable()
	if i := int(id - KfuncBase); id >= KfuncBase && i < len(names) {
		return names[i], true
	}
	return "", false
}

// Kfuncs lists the implemented kfuncs by name.
func Kfuncs() []string { return slices.Clone(kfuncTable()) }

func init() {
	registerKfunc("bpf_rcu_read_lock", "no-op: a run is one RCU read-side section", "", func(*Set, *vm.Machine, vm.Args) (uint64, error) { return 0, nil })
	registerKfunc("bpf_rcu_read_unlock", "no-op", "", func(*Set, *vm.Machine, vm.Args) (uint64, error) { return 0, nil })

	registerKfunc("bpf_iter_num_new", "cur=start-1, end; -EINVAL for start > end, -E2BIG above BPF_MAX_LOOPS (both zero the iterator)", "", iterNumNew)
	registerKfunc("bpf_iter_num_next", "pointer to the next value, NULL (and a zeroed iterator) at the end", "", iterNumNext)
	registerKfunc("bpf_iter_num_destroy", "zeroes the iterator", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		it, err := m.Bytes(a[0], 8, true)
		if err != nil {
			return 0, err
		}
		clear(it)
		setShadow(m, it)
		return 0, nil
	})

	registerKfunc("bpf_dynptr_from_skb", "skb dynptr over skb->len; -EINVAL for flags (null dynptr)", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		k, err := skbArg(m, a[0])
		if err != nil {
			return 0, err
		}
		return dynptrFromCtx(m, a, dynptrSKB, k.Len())
	})
	registerKfunc("bpf_dynptr_from_xdp", "XDP dynptr over xdp_get_buff_len; -EINVAL for flags (null dynptr)", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		x, err := xdpArg(m, a[0])
		if err != nil {
			return 0, err
		}
		return dynptrFromCtx(m, a, dynptrXDP, uint32(x.Len()))
	})
	registerKfunc("bpf_dynptr_slice", "pointer into the data (packet, or one XDP fragment), else a copy into the buffer; NULL out of range", "", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return dynptrSlice(s, m, a, false)
	})
	registerKfunc("bpf_dynptr_slice_rdwr", "as bpf_dynptr_slice; NULL for read-only dynptrs", "", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return dynptrSlice(s, m, a, true)
	})
	registerKfunc("bpf_dynptr_size", "the dynptr's size", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		d, _, err := readDynptr(m, a[0])
		if err != nil || d.data == 0 {
			return 0, err
		}
		return uint64(d.size), nil
	})
	registerKfunc("bpf_dynptr_is_null", "true for a null dynptr", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		d, _, err := readDynptr(m, a[0])
		if err != nil {
			return 0, err
		}
		return b2u(d.data == 0), nil
	})
	registerKfunc("bpf_dynptr_is_rdonly", "true for a read-only dynptr, false for a null one", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		d, _, err := readDynptr(m, a[0])
		if err != nil {
			return 0, err
		}
		return b2u(d.data != 0 && d.rdonly), nil
	})
	registerKfunc("bpf_dynptr_adjust", "narrows to [start, end); -EINVAL null or start > end, -ERANGE beyond", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		d, b, err := readDynptr(m, a[0])
		if err != nil {
			return 0, err
		}
		start, end := uint32(a[1]), uint32(a[2])
		switch {
		case d.data == 0 || start > end:
			return neg(syscall.EINVAL), nil
		case end > d.size:
			return neg(syscall.ERANGE), nil
		}
		d.offset += start
		d.size = end - start
		d.put(m, b)
		return 0, nil
	})
	registerKfunc("bpf_dynptr_clone", "copies the dynptr; -EINVAL for a null one (clone nulled)", "", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		d, _, err := readDynptr(m, a[0])
		if err != nil {
			return 0, err
		}
		cb, err := dynptrSlot(m, a[1])
		if err != nil {
			return 0, err
		}
		if d.data == 0 {
			setNull(m, cb)
			return neg(syscall.EINVAL), nil
		}
		d.put(m, cb)
		return 0, nil
	})

	registerKfunc("bpf_cast_to_kern_ctx", "the context as the kernel object behind it (struct sk_buff, struct xdp_buff; netfilter's bpf_nf_ctx is already), read-only, with the members the test run set; other members fail the read naming them", "", castToKernCtx)
	registerKfunc("bpf_rdonly_cast", "obj itself (the kernel inlines it as r0 = r1): reads go through the checked address space, where the kernel's probe reads would give 0 for unmapped memory", "", func(_ *Set, _ *vm.Machine, a vm.Args) (uint64, error) {
		return a[0], nil
	})

	// A program not bound to a device (every test-run program) gets the
	// kernel's generic metadata kfuncs, which have no device to ask.
	for _, n := range []string{"bpf_xdp_metadata_rx_timestamp", "bpf_xdp_metadata_rx_hash", "bpf_xdp_metadata_rx_vlan_tag"} {
		registerKfunc(n, "-EOPNOTSUPP: the program is not bound to a device", "", func(*Set, *vm.Machine, vm.Args) (uint64, error) {
			return neg(syscall.EOPNOTSUPP), nil
		})
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

const bpfMaxLoops = 8 << 20 // BPF_MAX_LOOPS

// iterNumNew is bpf_iter_num_new(it, start, end) on struct
// bpf_iter_num_kern { int cur; int end; }.
func iterNumNew(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	it, err := m.Bytes(a[0], 8, true)
	if err != nil {
		return 0, err
	}
	defer setShadow(m, it) // what the program may find there
	start, end := int32(a[1]), int32(a[2])
	switch {
	case start > end:
		clear(it)
		return neg(syscall.EINVAL), nil
	case int64(end)-int64(start) > bpfMaxLoops:
		clear(it)
		return neg(syscall.E2BIG), nil
	}
	binary.NativeEndian.PutUint32(it, uint32(start-1))
	binary.NativeEndian.PutUint32(it[4:], uint32(end))
	return 0, nil
}

func iterNumNext(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	it, err := m.Bytes(a[0], 8, true)
	if err != nil {
		return 0, err
	}
	if err := checkShadow(m, it, "bpf_iter_num", a[0]); err != nil {
		return 0, err
	}
	defer setShadow(m, it)
	cur, end := int32(binary.NativeEndian.Uint32(it)), int32(binary.NativeEndian.Uint32(it[4:]))
	if int64(cur)+1 >= int64(end) {
		clear(it)
		return 0, nil
	}
	binary.NativeEndian.PutUint32(it, uint32(cur+1))
	return a[0], nil
}

// dynptrFromCtx is bpf_dynptr_from_skb/xdp(ctx, flags, ptr).
func dynptrFromCtx(m *vm.Machine, a vm.Args, typ uint8, size uint32) (uint64, error) {
	b, err := dynptrSlot(m, a[2])
	if err != nil {
		return 0, err
	}
	if a[1] != 0 {
		setNull(m, b)
		return neg(syscall.EINVAL), nil
	}
	dynptr{data: a[0], size: size, typ: typ}.put(m, b)
	return 0, nil
}

// dynptrSlice is bpf_dynptr_slice(_rdwr)(ptr, offset, buffer, buffer__szk).
func dynptrSlice(s *Set, m *vm.Machine, a vm.Args, rdwr bool) (uint64, error) {
	d, _, err := readDynptr(m, a[0])
	if err != nil {
		return 0, err
	}
	off, buf, n := uint32(a[1]), a[2], uint32(a[3])
	if d.data == 0 || rdwr && d.rdonly || d.checkOffLen(uint64(off), uint64(n)) != 0 {
		return 0, nil
	}
	at := d.offset + off
	switch d.typ {
	case dynptrLocal, dynptrRingbuf:
		return d.data + uint64(at), nil
	case dynptrSKB:
		k, err := skbArg(m, d.data)
		if err != nil {
			return 0, err
		}
		if _, ok := k.Bytes(at, n); !ok {
			return 0, nil // skb_header_pointer fails beyond the packet
		}
		data, err := k.Load(skbDataOff, 4)
		if err != nil {
			return 0, err
		}
		return data + uint64(at), nil // a test-run skb is linear
	case dynptrXDP:
		x, err := xdpArg(m, d.data)
		if err != nil {
			return 0, err
		}
		if addr, ok := x.Pointer(at, n); ok {
			return addr, nil // in the linear part or one fragment
		}
		if buf == 0 {
			return 0, nil
		}
		if r, err := xdpCopy(m, vm.Args{d.data, uint64(at), buf, uint64(n)}, false); err != nil || r != 0 {
			return 0, err
		}
		return buf, nil
	}
	return 0, fmt.Errorf("dynptr of type %d", d.typ)
}

const skbDataOff = 76 // struct __sk_buff.data

// castToKernCtx is bpf_cast_to_kern_ctx(obj): obj is the program's
// context (the verifier allows nothing else).
func castToKernCtx(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	k, err := ctx.KernelObject(m, a[0])
	if err != nil {
		return 0, fmt.Errorf("bpf_cast_to_kern_ctx: %w", err)
	}
	return k, nil
}
