package helpers

import (
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// The local storage helpers: a value per socket, task or cgroup in a
// maps.LocalStorageMap. Owners are named by the pointer the program
// passes. The test runner's socket lives for one test run, so the socket
// storage a run creates is dropped when it ends, as the kernel frees it
// with the socket; task and cgroup storage stays. (The kernel keeps one
// socket over the repeats of a test run: with repeat > 1 a later repeat
// sees the storage of an earlier one there, not here.)

const storageGetCreate = 1 // BPF_LOCAL_STORAGE_GET_F_CREATE

func init() {
	register(asm.FnSkStorageGet, "bpf_sk_storage_get", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		if a[1] == 0 || !isTestRunSock(m, a[1]) || a[3] > storageGetCreate {
			return 0, nil
		}
		return storageGet(s, m, a, true)
	})
	register(asm.FnSkStorageDelete, "bpf_sk_storage_delete", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		if a[1] == 0 || !isTestRunSock(m, a[1]) {
			return neg(syscall.EINVAL), nil
		}
		return storageDelete(m, a)
	})
	for _, h := range []struct {
		get, del       asm.BuiltinFunc
		getName, delNm string
	}{
		{asm.FnTaskStorageGet, asm.FnTaskStorageDelete, "bpf_task_storage_get", "bpf_task_storage_delete"},
		{asm.FnCgrpStorageGet, asm.FnCgrpStorageDelete, "bpf_cgrp_storage_get", "bpf_cgrp_storage_delete"},
	} {
		register(h.get, h.getName, func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
			if a[3]&^storageGetCreate != 0 || a[1] == 0 {
				return 0, nil
			}
			return storageGet(s, m, a, false)
		})
		register(h.del, h.delNm, func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
			if a[1] == 0 {
				return neg(syscall.EINVAL), nil
			}
			return storageDelete(m, a)
		})
	}
}

func storageMap(m *vm.Machine, addr uint64) (*maps.LocalStorageMap, error) {
	mp, err := mapArg(m, addr)
	if err != nil {
		return nil, err
	}
	ls, ok := mp.(*maps.LocalStorageMap)
	if !ok {
		return nil, fmt.Errorf("map %s is a %v, not a local storage map", mp.Name(), mp.Type())
	}
	return ls, nil
}

// storageGet is *_storage_get(map, owner, value, flags): the owner's
// value, created from value (or zeros) with BPF_LOCAL_STORAGE_GET_F_CREATE;
// NULL otherwise or when the map is full.
func storageGet(s *Set, m *vm.Machine, a vm.Args, perRun bool) (uint64, error) {
	ls, err := storageMap(m, a[0])
	if err != nil {
		return 0, err
	}
	var init []byte
	if a[2] != 0 {
		if init, err = m.Bytes(a[2], ls.ValueSize(), false); err != nil {
			return 0, err
		}
	}
	off, existed := ls.Storage(a[1], false, nil)
	if !existed {
		var ok bool
		if off, ok = ls.Storage(a[1], a[3] == storageGetCreate, init); !ok {
			return 0, nil
		}
		if perRun {
			st := s.run(m)
			st.storage = append(st.storage, storageOwner{ls, a[1]})
		}
	}
	return m.MapValue(ls, off), nil
}

func storageDelete(m *vm.Machine, a vm.Args) (uint64, error) {
	ls, err := storageMap(m, a[0])
	if err != nil {
		return 0, err
	}
	return errnoRet(ls.DeleteStorage(a[1]))
}

// storageOwner is a socket storage value a run created.
type storageOwner struct {
	m     *maps.LocalStorageMap
	owner uint64
}

func init() {
	register(asm.FnUserRingbufDrain, "bpf_user_ringbuf_drain", userRingbufDrain)
}

const maxUserRingbufSamples = 128 << 10 // BPF_MAX_USER_RINGBUF_SAMPLES

// userRingbufDrain is bpf_user_ringbuf_drain(map, callback, ctx, flags):
// callback(dynptr, ctx) for each sample user space submitted (a local
// dynptr over it), until it returns 1 or the ring is empty; the number of
// samples taken, -EINVAL for flags other than the wakeup ones.
func userRingbufDrain(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	u, ok := mp.(*maps.UserRingBufMap)
	if !ok {
		return 0, fmt.Errorf("map %s is a %v, not a user ring buffer", mp.Name(), mp.Type())
	}
	if a[3]&^uint64(ringbufNoWakeup|ringbufForceWakeup) != 0 {
		return neg(syscall.EINVAL), nil
	}
	var dp [dynptrSize]byte
	dpAddr := m.Map(&vm.Region{Name: "user ringbuf dynptr", Data: dp[:]})
	defer m.Unmap(dpAddr)
	var samples uint64
	for samples < maxUserRingbufSamples {
		n, ok := u.Next()
		if !ok {
			break
		}
		dynptr{data: m.MapValue(u, 0), size: uint32(n), typ: dynptrLocal}.put(dp[:])
		ret, err := m.CallFunc(a[1], dpAddr, a[2])
		u.Release()
		samples++
		if err != nil {
			return 0, err
		}
		if ret != 0 {
			break
		}
	}
	return samples, nil
}

// Wakeup flags of the ring buffer helpers.
const (
	ringbufNoWakeup    = 1 << 0
	ringbufForceWakeup = 1 << 1
)
