// Package helpers implements Linux's BPF helper functions for the vm
// package, with the kernel's semantics and error codes. Every result that
// depends on the host (time, randomness, the CPU, the current task) comes
// from an Env, so a run is a function of its inputs and can be replayed.
package helpers

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Set is a vm.HelperSet of kernel helpers bound to one environment.
type Set struct {
	env   Env
	funcs map[int32]vm.Helper

	ctOnce sync.Once
	ct     *Conntrack // the default conntrack table

	timerMu sync.Mutex
	timers  map[timerKey]*Timer

	last atomic.Pointer[lastState] // State's last answer

	kernelBTF *btf.Spec // SetKernelTypes
}

// New returns the helpers this package implements, drawing host state from env
// (nil: a DefaultEnv).
func New(env Env) *Set {
	if env == nil {
		env = NewDefaultEnv()
	}
	s := &Set{env: env, funcs: map[int32]vm.Helper{}}
	for _, r := range registry {
		s.funcs[int32(r.id)] = vm.Helper{Name: r.name, Fn: r.bind(s)}
	}
	for i, name := range kfuncTable() {
		fn := kfuncRegistry[name].fn
		s.funcs[KfuncBase+int32(i)] = vm.Helper{Name: name, Fn: func(m *vm.Machine, a vm.Args) (uint64, error) { return fn(s, m, a) }}
	}
	return s
}

// Helper implements vm.HelperSet.
func (s *Set) Helper(id int32) (vm.Helper, bool) {
	h, ok := s.funcs[id]
	return h, ok
}

// Env returns the environment the helpers read.
func (s *Set) Env() Env { return s.env }

// Add installs or replaces a helper, for embedders that model more of the kernel.
func (s *Set) Add(id int32, h vm.Helper) { s.funcs[id] = h }

// IDs lists the implemented helper ids.
func (s *Set) IDs() []int32 {
	ids := make([]int32, 0, len(s.funcs))
	for id := range s.funcs {
		ids = append(ids, id)
	}
	return ids
}

// entry registers one helper implementation.
type entry struct {
	id   asm.BuiltinFunc
	name string
	bind func(*Set) vm.HelperFunc
}

var registry []entry

// register adds helper implementations at init time; fn is bound to the Set
// so it can reach the environment.
func register(id asm.BuiltinFunc, name string, fn func(s *Set, m *vm.Machine, a vm.Args) (uint64, error)) {
	registry = append(registry, entry{id: id, name: name, bind: func(s *Set) vm.HelperFunc {
		return func(m *vm.Machine, a vm.Args) (uint64, error) { return fn(s, m, a) }
	}})
}

// errnoRet converts err into the helper's return value: 0, or -errno. Errors
// that are not errnos (a fault in program memory) end the run.
func errnoRet(err error) (uint64, error) {
	if err == nil {
		return 0, nil
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return neg(en), nil
	}
	var me interface{ Is(error) bool }
	if errors.As(err, &me) {
		for _, e := range []syscall.Errno{syscall.ENOENT, syscall.EEXIST, syscall.E2BIG, syscall.EINVAL,
			syscall.ENOSPC, syscall.EPERM, syscall.EBUSY, syscall.ENOMEM, syscall.EAGAIN, syscall.EOPNOTSUPP, syscall.EFAULT, syscall.ERANGE} {
			if errors.Is(err, e) {
				return neg(e), nil
			}
		}
	}
	return 0, err
}

func neg(e syscall.Errno) uint64 { return uint64(-int64(e)) }
