package helpers

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Helpers of tracing programs whose answers depend on the attach point.

func init() {
	register(asm.FnGetFuncIp, "bpf_get_func_ip", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		if p, ok := s.env.(ProbeEnv); ok {
			return p.FuncIP(), nil
		}
		return 0, nil
	})
	register(asm.FnGetAttachCookie, "bpf_get_attach_cookie", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		if p, ok := s.env.(ProbeEnv); ok {
			return p.AttachCookie(), nil
		}
		return 0, nil
	})
	register(asm.FnSendSignal, "bpf_send_signal", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return sendSignal(s, m, uint32(a[0]), false)
	})
	register(asm.FnSendSignalThread, "bpf_send_signal_thread", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return sendSignal(s, m, uint32(a[0]), true)
	})
	register(asm.FnGetStackid, "bpf_get_stackid", getStackID)
	register(asm.FnGetStack, "bpf_get_stack", getStack)
}

// maxSignal is _NSIG.
const maxSignal = 64

// sendSignal implements bpf_send_signal(_thread)(sig): -EPERM for init
// (pid 1), -EINVAL for a signal above _NSIG; else the signal is recorded
// in the RunState and the result is 0.
func sendSignal(s *Set, m *vm.Machine, sig uint32, thread bool) (uint64, error) {
	if uint32(s.task().PidTgid()>>32) == 1 {
		return neg(syscall.EPERM), nil
	}
	if sig > maxSignal {
		return neg(syscall.EINVAL), nil
	}
	st := s.State(m)
	st.Signals = append(st.Signals, Signal{Sig: sig, Thread: thread})
	return 0, nil
}

// Stack flags (BPF_F_*).
const (
	stackSkipMask  = 0xff
	stackUser      = 1 << 8
	stackFastCmp   = 1 << 9
	stackReuseID   = 1 << 10
	stackUserBuild = 1 << 11
)

// getStackID implements bpf_get_stackid(ctx, map, flags): -EINVAL for
// unknown flags, -EFAULT without a call chain. Stack trace maps are not
// modelled, so a call chain from the Env ends the run.
func getStackID(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	if a[2]&^(stackSkipMask|stackUser|stackFastCmp|stackReuseID) != 0 {
		return neg(syscall.EINVAL), nil
	}
	if len(s.stack(a[2]&stackUser != 0)) <= int(a[2]&stackSkipMask) {
		return neg(syscall.EFAULT), nil
	}
	return 0, fmt.Errorf("BPF_MAP_TYPE_STACK_TRACE is not modelled")
}

// getStack implements bpf_get_stack(ctx, buf, size, flags): it copies the
// call chain (after skipping flags&0xff frames) as u64 addresses, zeroes
// the rest of buf and returns the bytes copied; on error buf is zeroed:
// -EINVAL for unknown flags or a size not a multiple of 8, -EFAULT without
// a call chain. Build IDs are not modelled (-EFAULT).
func getStack(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	buf, err := m.Bytes(a[1], int(uint32(a[2])), true)
	if err != nil {
		return 0, err
	}
	clear(buf)
	flags := a[3]
	user := flags&stackUser != 0
	if flags&^(stackSkipMask|stackUser|stackUserBuild) != 0 || flags&stackUserBuild != 0 && !user {
		return neg(syscall.EINVAL), nil
	}
	if flags&stackUserBuild != 0 {
		if len(buf)%32 != 0 { // sizeof(struct bpf_stack_build_id)
			return neg(syscall.EINVAL), nil
		}
		return neg(syscall.EFAULT), nil
	}
	if len(buf)%8 != 0 {
		return neg(syscall.EINVAL), nil
	}
	skip := int(flags & stackSkipMask)
	ips := s.stack(user)
	if len(ips) < skip || len(ips) == 0 {
		return neg(syscall.EFAULT), nil
	}
	ips = ips[skip:]
	n := min(len(ips), len(buf)/8)
	for i := range n {
		binary.LittleEndian.PutUint64(buf[8*i:], ips[i])
	}
	return uint64(8 * n), nil
}

func (s *Set) stack(user bool) []uint64 {
	if st, ok := s.env.(StackEnv); ok {
		return st.Stack(user)
	}
	return nil
}
