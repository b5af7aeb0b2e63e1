package helpers

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"

	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Helpers of bpf_base_func_proto and the tracing protos that packet
// programs may call too: cgroups and namespaces of the current task,
// perf counters, timers, kptrs, socket casts, user memory.

// PidnsEnv names the current task's pid namespace, for
// bpf_get_ns_current_pid_tgid. Default: the initial namespace, nsfs
// device 4, inode 0xEFFFFFFC (PROC_PID_INIT_INO); pid and tgid then are
// TaskEnv's.
type PidnsEnv interface {
	PidNamespace() (dev, ino uint64)
}

const procPidInitIno = 0xeffffffc

func init() {
	register(asm.FnGetCurrentCgroupId, "bpf_get_current_cgroup_id", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		p := s.cgroups(false)
		return p[len(p)-1], nil
	})
	register(asm.FnGetCurrentAncestorCgroupId, "bpf_get_current_ancestor_cgroup_id", func(s *Set, _ *vm.Machine, a vm.Args) (uint64, error) {
		return ancestor(s.cgroups(false), int32(a[0])), nil
	})
	register(asm.FnCurrentTaskUnderCgroup, "bpf_current_task_under_cgroup", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		mp, err := mapArg(m, a[0])
		if err != nil {
			return 0, err
		}
		if uint32(a[1]) >= mp.Spec().MaxEntries {
			return neg(syscall.E2BIG), nil
		}
		return neg(syscall.EAGAIN), nil // a user-space run holds no cgroups in the array
	})
	register(asm.FnGetNsCurrentPidTgid, "bpf_get_ns_current_pid_tgid", nsCurrentPidTgid)
	register(asm.FnPerfEventRead, "bpf_perf_event_read", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		if e := perfCounter(s, m, a[0], a[1]); e != 0 {
			return neg(e), nil
		}
		return 0, nil
	})
	register(asm.FnPerfEventReadValue, "bpf_perf_event_read_value", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		const valueSize = 24 // struct bpf_perf_event_value
		e := syscall.EINVAL
		if uint32(a[3]) == valueSize {
			e = perfCounter(s, m, a[0], a[1])
		}
		return clearRet(m, a[2], a[3], e)
	})
	for _, c := range []struct {
		id   asm.BuiltinFunc
		name string
	}{
		{asm.FnSkcToTcp6Sock, "bpf_skc_to_tcp6_sock"}, {asm.FnSkcToTcpSock, "bpf_skc_to_tcp_sock"},
		{asm.FnSkcToTcpTimewaitSock, "bpf_skc_to_tcp_timewait_sock"}, {asm.FnSkcToTcpRequestSock, "bpf_skc_to_tcp_request_sock"},
		{asm.FnSkcToUdp6Sock, "bpf_skc_to_udp6_sock"}, {asm.FnSkcToUnixSock, "bpf_skc_to_unix_sock"},
		{asm.FnSkcToMptcpSock, "bpf_skc_to_mptcp_sock"},
	} {
		// The only socket a run has is the test runner's: a full,
		// closed socket of no protocol, which none of the casts accept.
		register(c.id, c.name, func(*Set, *vm.Machine, vm.Args) (uint64, error) { return 0, nil })
	}
	register(asm.FnGetTaskStack, "bpf_get_task_stack", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return getStack(s, m, vm.Args{0, a[1], a[2], a[3]})
	})
	register(asm.FnCopyFromUser, "bpf_copy_from_user", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return copyFromUser(s, m, a[0], a[1], a[2])
	})
	register(asm.FnCopyFromUserTask, "bpf_copy_from_user_task", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		if a[4] != 0 {
			return neg(syscall.EINVAL), nil
		}
		return copyFromUser(s, m, a[0], a[1], a[2])
	})
	register(asm.FnPerCpuPtr, "bpf_per_cpu_ptr", func(_ *Set, _ *vm.Machine, a vm.Args) (uint64, error) {
		if a[0] == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("bpf_per_cpu_ptr: per-CPU kernel variables are not modelled")
	})
	register(asm.FnThisCpuPtr, "bpf_this_cpu_ptr", func(*Set, *vm.Machine, vm.Args) (uint64, error) {
		return 0, fmt.Errorf("bpf_this_cpu_ptr: per-CPU kernel variables are not modelled")
	})
	register(asm.FnGetBranchSnapshot, "bpf_get_branch_snapshot", func(_ *Set, _ *vm.Machine, a vm.Args) (uint64, error) {
		if a[2] != 0 {
			return neg(syscall.EINVAL), nil
		}
		return neg(syscall.ENOENT), nil // no LBR snapshot
	})
	register(asm.FnFindVma, "bpf_find_vma", func(_ *Set, _ *vm.Machine, a vm.Args) (uint64, error) {
		if a[4] != 0 {
			return neg(syscall.EINVAL), nil
		}
		return neg(syscall.ENOENT), nil // no mapping known at the address
	})
	register(asm.FnTaskPtRegs, "bpf_task_pt_regs", func(*Set, *vm.Machine, vm.Args) (uint64, error) {
		return 0, fmt.Errorf("bpf_task_pt_regs: a task's registers are not modelled")
	})
	register(asm.FnKptrXchg, "bpf_kptr_xchg", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		b, err := m.Bytes(a[0], 8, true)
		if err != nil {
			return 0, err
		}
		old := binary.NativeEndian.Uint64(b)
		binary.NativeEndian.PutUint64(b, a[1])
		return old, nil
	})
	register(asm.FnTimerInit, "bpf_timer_init", timerInit)
	register(asm.FnTimerSetCallback, "bpf_timer_set_callback", timerSetCallback)
	register(asm.FnTimerStart, "bpf_timer_start", timerStart)
	register(asm.FnTimerCancel, "bpf_timer_cancel", timerCancel)
}

// perfCounter is get_map_perf_counter's error: -EINVAL for flags, -E2BIG
// past the array, -ENOENT for an empty slot: a user-space run opens no
// perf events, so every slot is empty.
func perfCounter(s *Set, m *vm.Machine, mapAddr, flags uint64) syscall.Errno {
	mp, err := mapArg(m, mapAddr)
	if err != nil {
		return syscall.EINVAL
	}
	if flags&^maps.PerfIndexMask != 0 {
		return syscall.EINVAL
	}
	i := flags & maps.PerfIndexMask
	if i == maps.PerfCurrentCPU {
		i = uint64(s.env.CPU())
	}
	if i >= uint64(mp.Spec().MaxEntries) {
		return syscall.E2BIG
	}
	return syscall.ENOENT
}

// copyFromUser reads user memory; on a fault dst is zeroed and -EFAULT.
func copyFromUser(s *Set, m *vm.Machine, dstAddr, size, src uint64) (uint64, error) {
	dst, err := m.Bytes(dstAddr, int(uint32(size)), true)
	if err != nil {
		return 0, err
	}
	if len(dst) == 0 {
		return 0, nil
	}
	if err := s.readHost(m, src, dst, true); err != nil {
		clear(dst)
		return neg(syscall.EFAULT), nil
	}
	return 0, nil
}

func nsCurrentPidTgid(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	const infoSize = 8 // struct bpf_pidns_info
	dev, ino := uint64(4), uint64(procPidInitIno)
	if e, ok := s.env.(PidnsEnv); ok {
		dev, ino = e.PidNamespace()
	}
	// A dev_t is 32 bits; new_encode_dev packs major and minor.
	if uint32(a[3]) != infoSize || uint64(uint32(a[0])) != a[0] || a[0] != dev || a[1] != ino {
		return clearRet(m, a[2], a[3], syscall.EINVAL)
	}
	b, err := m.Bytes(a[2], infoSize, true)
	if err != nil {
		return 0, err
	}
	pt := s.task().PidTgid()
	binary.NativeEndian.PutUint32(b, uint32(pt))
	binary.NativeEndian.PutUint32(b[4:], uint32(pt>>32))
	return 0, nil
}

// Timer is a bpf_timer a program initialised in a map value. It lives as
// long as the Set, as the kernel's lives in the map element across runs.
// Timers never fire during a run: a test run returns before any callback
// could, and the callback the program set is recorded, not called.
type Timer struct {
	Map      string // the map whose value holds it
	Off      uint64 // and its offset in the map's value memory
	Clock    uint64 // CLOCK_MONOTONIC, CLOCK_REALTIME or CLOCK_BOOTTIME
	Callback uint64 // the callback's address, 0 if not set
	Armed    bool
	Nsecs    uint64 // bpf_timer_start's expiry
	Flags    uint64 // and flags (BPF_F_TIMER_ABS, BPF_F_TIMER_CPU_PIN)
}

// timerKey names a bpf_timer by the map memory holding it, which every
// machine bound to the map shares.
type timerKey struct {
	mem *byte
	off uint32
}

// Timers lists the timers programs initialised.
func (s *Set) Timers() []Timer {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	var ts []Timer
	for _, t := range s.timers {
		ts = append(ts, *t)
	}
	return ts
}

// timer finds the timer at addr, a bpf_timer in a map value; create makes
// it when absent.
func (s *Set) timer(m *vm.Machine, addr uint64, create bool) (*Timer, bool, error) {
	r, off, ok := m.RegionAt(addr)
	if !ok || len(r.Data) == 0 || !strings.HasPrefix(r.Name, "map ") {
		return nil, false, fmt.Errorf("%#x (%s) is not a bpf_timer in a map value", addr, m.Describe(addr))
	}
	k := timerKey{&r.Data[0], off}
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	if t, ok := s.timers[k]; ok {
		return t, true, nil
	}
	if !create {
		return nil, false, nil
	}
	if s.timers == nil {
		s.timers = map[timerKey]*Timer{}
	}
	t := &Timer{Map: strings.TrimPrefix(r.Name, "map "), Off: uint64(off)}
	s.timers[k] = t
	return t, false, nil
}

// timerInit is bpf_timer_init(timer, map, clock): -EINVAL for another
// clock, -EBUSY when already initialised.
func timerInit(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	const realtime, monotonic, boottime = 0, 1, 7
	if c := a[2]; c != realtime && c != monotonic && c != boottime {
		return neg(syscall.EINVAL), nil
	}
	if _, err := m.Bytes(a[0], 16, true); err != nil {
		return 0, err
	}
	t, existed, err := s.timer(m, a[0], true)
	if err != nil {
		return 0, err
	}
	if existed {
		return neg(syscall.EBUSY), nil
	}
	t.Clock = a[2]
	return 0, nil
}

func timerSetCallback(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	t, _, err := s.timer(m, a[0], false)
	if err != nil || t == nil {
		return neg(syscall.EINVAL), err
	}
	t.Callback = a[1]
	return 0, nil
}

func timerStart(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	const abs, cpuPin = 1 << 0, 1 << 1
	if a[2]&^uint64(abs|cpuPin) != 0 {
		return neg(syscall.EINVAL), nil
	}
	t, _, err := s.timer(m, a[0], false)
	if err != nil {
		return 0, err
	}
	if t == nil || t.Callback == 0 {
		return neg(syscall.EINVAL), nil
	}
	t.Armed, t.Nsecs, t.Flags = true, a[1], a[2]
	return 0, nil
}

// timerCancel is bpf_timer_cancel: 1 if the timer was armed, 0 if not,
// -EINVAL when not initialised. It drops the callback (drop_prog_refcnt):
// a later start needs a new set_callback.
func timerCancel(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	t, _, err := s.timer(m, a[0], false)
	if err != nil || t == nil {
		return neg(syscall.EINVAL), err
	}
	t.Callback = 0
	if t.Armed {
		t.Armed = false
		return 1, nil
	}
	return 0, nil
}
