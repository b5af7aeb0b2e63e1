package helpers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Map helpers beyond lookup/update/delete, callbacks, tail calls and
// spin locks.

func init() {
	register(asm.FnMapPushElem, "bpf_map_push_elem", mapPush)
	register(asm.FnMapPopElem, "bpf_map_pop_elem", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return mapTake(m, a, true)
	})
	register(asm.FnMapPeekElem, "bpf_map_peek_elem", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return mapTake(m, a, false)
	})
	register(asm.FnMapLookupPercpuElem, "bpf_map_lookup_percpu_elem", mapLookupPercpu)
	register(asm.FnForEachMapElem, "bpf_for_each_map_elem", forEachMapElem)
	register(asm.FnLoop, "bpf_loop", loop)
	register(asm.FnTailCall, "bpf_tail_call", tailCall)
	register(asm.FnSpinLock, "bpf_spin_lock", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return spinLock(s, m, a[0], true)
	})
	register(asm.FnSpinUnlock, "bpf_spin_unlock", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return spinLock(s, m, a[0], false)
	})
}

func queueArg(m *vm.Machine, addr uint64) (*maps.QueueMap, error) {
	mp, err := mapArg(m, addr)
	if err != nil {
		return nil, err
	}
	q, ok := mp.(*maps.QueueMap)
	if !ok {
		return nil, fmt.Errorf("map %s is a %v, not a queue or stack", mp.Name(), mp.Type())
	}
	return q, nil
}

// mapPush implements bpf_map_push_elem(map, value, flags): -E2BIG when
// full unless flags is BPF_EXIST, which drops the oldest element.
func mapPush(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	q, err := queueArg(m, a[0])
	if err != nil {
		return 0, err
	}
	val, err := m.Bytes(a[1], q.ValueSize(), false)
	if err != nil {
		return 0, err
	}
	ret, err := errnoRet(q.Push(val, a[2]))
	if listen, _ := m.Listening(); listen {
		m.ReportMapOp(&hooks.MapOp{Map: q.Name(), Op: hooks.MapUpdate, Value: val, Flags: a[2], Errno: errnoOf(ret)})
	}
	return ret, err
}

// mapTake implements bpf_map_pop_elem and bpf_map_peek_elem(map, value):
// on an empty map value is zeroed and the result is -ENOENT.
func mapTake(m *vm.Machine, a vm.Args, pop bool) (uint64, error) {
	q, err := queueArg(m, a[0])
	if err != nil {
		return 0, err
	}
	val, err := m.Bytes(a[1], q.ValueSize(), true)
	if err != nil {
		return 0, err
	}
	var qerr error
	if pop {
		qerr = q.Pop(val)
	} else {
		qerr = q.Peek(val)
	}
	if qerr != nil {
		clear(val)
	}
	ret, err := errnoRet(qerr)
	if listen, _ := m.Listening(); listen {
		op := hooks.MapLookup
		if pop {
			op = hooks.MapDelete
		}
		m.ReportMapOp(&hooks.MapOp{Map: q.Name(), Op: op, Value: val, Hit: qerr == nil, Errno: errnoOf(ret)})
	}
	return ret, err
}

// mapLookupPercpu implements bpf_map_lookup_percpu_elem(map, key, cpu):
// the value of key on that CPU, NULL beyond the possible CPUs.
func mapLookupPercpu(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	key, err := keyArg(m, mp, a[1])
	if err != nil {
		return 0, err
	}
	cpu := uint32(a[2])
	if cpu > 1<<30 {
		return 0, nil
	}
	off, ok := mp.Lookup(key, int(cpu))
	if listen, _ := m.Listening(); listen {
		m.ReportMapOp(&hooks.MapOp{Map: mp.Name(), Op: hooks.MapLookup, Key: key, Hit: ok})
	}
	if !ok {
		return 0, nil
	}
	return m.MapValue(mp, off), nil
}

// forEachMapElem implements bpf_for_each_map_elem(map, callback, ctx,
// flags): callback(map, &key, &value, ctx) for each element (each index of
// an array, this CPU's value of a per-CPU map) until it returns 1. It
// returns the number of callback calls; flags must be 0.
func forEachMapElem(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	if a[3] != 0 {
		return neg(syscall.EINVAL), nil
	}
	switch mp.Type() {
	case maps.Array, maps.PerCPUArray, maps.Hash, maps.PerCPUHash, maps.LRUHash, maps.LRUCPUHash:
	default:
		return 0, fmt.Errorf("map %s: the kernel has no for_each_map_elem for %v maps", mp.Name(), mp.Type())
	}
	keyAddr, keyBuf := s.keyRegion(m, mp)
	cpu := int(s.env.CPU())
	var n uint64
	visit := func(k []byte) (bool, error) {
		off, ok := mp.Lookup(k, cpu)
		if !ok {
			return true, nil
		}
		copy(keyBuf, k)
		n++
		ret, err := m.CallFunc(a[1], m.MapHandle(mp), keyAddr, m.MapValue(mp, off), a[2])
		return ret == 0 && err == nil, err
	}
	switch mp.Type() {
	case maps.Array, maps.PerCPUArray: // indexes: walk them as they come
		for k := range mp.Keys() {
			if more, err := visit(k); !more {
				return n, err
			}
		}
		return n, nil
	}
	// Snapshot a hash map's keys: the callback may delete elements (the
	// kernel walks buckets and skips what is gone). The snapshot is work
	// done for the program: charge it, one unit per key.
	keys := slices.Collect(mp.Keys())
	if err := m.Charge(uint64(len(keys))); err != nil {
		return 0, err
	}
	for _, k := range keys {
		if more, err := visit(k); !more {
			return n, err
		}
	}
	return n, nil
}

// keyRegion returns the read-only buffer bpf_for_each_map_elem hands its
// callback the key in, one per map and call depth, mapped once per run.
func (s *Set) keyRegion(m *vm.Machine, mp maps.Map) (uint64, []byte) {
	st := s.run(m)
	slot := keySlot{mp, m.Depth()}
	if r, ok := st.keys[slot]; ok {
		return r.addr, r.buf
	}
	buf := make([]byte, mp.KeySize())
	r := keyRegion{m.Map(&vm.Region{Name: "key " + mp.Name(), Data: buf, ReadOnly: true, Kind: hooks.RegionHelperBuffer}), buf}
	if st.keys == nil {
		st.keys = map[keySlot]keyRegion{}
	}
	st.keys[slot] = r
	return r.addr, r.buf
}

// maxLoops is BPF_MAX_LOOPS.
const maxLoops = 8 << 20

// loop implements bpf_loop(nr_loops, callback, ctx, flags): callback(i,
// ctx) for i from 0 until it returns 1 or nr_loops calls. It returns the
// number of calls, -EINVAL if flags is not 0, -E2BIG above 1<<23 loops.
func loop(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	nr := uint32(a[0])
	if a[3] != 0 {
		return neg(syscall.EINVAL), nil
	}
	if nr > maxLoops {
		return neg(syscall.E2BIG), nil
	}
	for i := uint64(0); i < uint64(nr); i++ {
		ret, err := m.CallFunc(a[1], i, a[2])
		if err != nil {
			return 0, err
		}
		if ret != 0 {
			return i + 1, nil
		}
	}
	return uint64(nr), nil
}

// tailCall implements bpf_tail_call(ctx, prog_array, index): the program
// at index replaces the running one. When the slot is empty, the index is
// out of range or 33 tail calls were made, execution continues after the
// call. The verifier forbids reading r0 then; it is left unchanged.
func tailCall(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	r0 := m.Regs()[0]
	mp, err := mapArg(m, a[1])
	if err != nil {
		return 0, err
	}
	pa, ok := mp.(*maps.ProgramArrayMap)
	if !ok {
		return 0, fmt.Errorf("map %s is a %v, not a program array", mp.Name(), mp.Type())
	}
	ref, ok := pa.Program(uint32(a[2]))
	if !ok {
		return r0, nil
	}
	p, ok := ref.(*vm.Program)
	if !ok {
		return 0, fmt.Errorf("program array %s[%d] holds a %T, not a *vm.Program", mp.Name(), uint32(a[2]), ref)
	}
	if err := m.TailCall(p); err != nil {
		if isTailCallLimit(err) {
			return r0, nil
		}
		return 0, err
	}
	return r0, nil
}

// isTailCallLimit reports the error of a tail call past MaxTailCalls.
func isTailCallLimit(err error) bool {
	return errors.Is(err, vm.ErrTailCallLimit)
}

// spinLock implements bpf_spin_lock and bpf_spin_unlock(lock). The lock
// word reads 1 while held, as a qspinlock's locked byte does, and is taken
// atomically: machines sharing the map on other goroutines wait for it
// (maps.SpinLock), as other CPUs do. What the verifier forbids (a lock
// outside a map value, taking a second lock, unlocking a lock not held)
// ends the run.
func spinLock(s *Set, m *vm.Machine, addr uint64, lock bool) (uint64, error) {
	name := "bpf_spin_unlock"
	if lock {
		name = "bpf_spin_lock"
	}
	r, _, ok := m.RegionAt(addr)
	if !ok || r.View != nil || !strings.HasPrefix(r.Name, "map ") || addr%4 != 0 {
		return 0, fmt.Errorf("%s: %#x (%s) is not a bpf_spin_lock in a map value (the verifier rejects this)", name, addr, m.Describe(addr))
	}
	word, err := m.Bytes(addr, 4, true)
	if err != nil {
		return 0, err
	}
	// Whether a lock is held is bpfscope's bookkeeping; the word only
	// shows it, and the program may have overwritten it.
	st := s.run(m)
	_, held := st.locks[addr]
	switch {
	case lock && len(st.locks) > 0:
		return 0, fmt.Errorf("bpf_spin_lock: %s while holding another lock (the verifier rejects nested locks)", m.Describe(addr))
	case !lock && !held:
		return 0, fmt.Errorf("bpf_spin_unlock: %s is not locked (the verifier rejects unlocking without a lock)", m.Describe(addr))
	case lock:
		ctx := m.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		if err := maps.SpinLock(ctx, word); err != nil {
			return 0, fmt.Errorf("bpf_spin_lock: %s: %w", m.Describe(addr), err)
		}
		st.locks = map[uint64][]byte{addr: word}
	default:
		delete(st.locks, addr)
		maps.SpinUnlock(word)
	}
	return 0, nil
}
