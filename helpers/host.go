package helpers

import (
	"bytes"
	"errors"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Helpers that report host state: clocks, randomness, the CPU and the
// current task. Everything comes from the Set's Env.

func init() {
	register(asm.FnKtimeGetNs, "bpf_ktime_get_ns", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return s.env.KtimeNs(), nil
	})
	register(asm.FnKtimeGetBootNs, "bpf_ktime_get_boot_ns", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return s.env.BootNs(), nil
	})
	register(asm.FnKtimeGetCoarseNs, "bpf_ktime_get_coarse_ns", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		if c, ok := s.env.(ClockEnv); ok {
			return c.CoarseNs(), nil
		}
		return s.env.KtimeNs(), nil
	})
	register(asm.FnKtimeGetTaiNs, "bpf_ktime_get_tai_ns", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		if c, ok := s.env.(ClockEnv); ok {
			return c.TaiNs(), nil
		}
		return s.env.KtimeNs(), nil
	})
	register(asm.FnJiffies64, "bpf_jiffies64", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		if c, ok := s.env.(ClockEnv); ok {
			return c.Jiffies(), nil
		}
		return s.env.KtimeNs() / jiffyNs, nil
	})
	register(asm.FnGetPrandomU32, "bpf_get_prandom_u32", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return uint64(s.env.Random()), nil
	})
	register(asm.FnGetSmpProcessorId, "bpf_get_smp_processor_id", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return uint64(s.env.CPU()), nil
	})
	register(asm.FnGetNumaNodeId, "bpf_get_numa_node_id", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		if n, ok := s.env.(NUMAEnv); ok {
			return uint64(n.NUMANode()), nil
		}
		return 0, nil
	})

	register(asm.FnGetCurrentPidTgid, "bpf_get_current_pid_tgid", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return s.task().PidTgid(), nil
	})
	register(asm.FnGetCurrentUidGid, "bpf_get_current_uid_gid", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return s.task().UidGid(), nil
	})
	register(asm.FnGetCurrentComm, "bpf_get_current_comm", getCurrentComm)
	register(asm.FnGetCurrentTask, "bpf_get_current_task", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return s.task().Task(), nil
	})
	register(asm.FnGetCurrentTaskBtf, "bpf_get_current_task_btf", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return s.task().Task(), nil
	})

	register(asm.FnProbeReadKernel, "bpf_probe_read_kernel", probeRead(kernelSpace, false))
	register(asm.FnProbeReadUser, "bpf_probe_read_user", probeRead(userSpace, false))
	register(asm.FnProbeRead, "bpf_probe_read", probeRead(eitherSpace, false))
	register(asm.FnProbeReadKernelStr, "bpf_probe_read_kernel_str", probeRead(kernelSpace, true))
	register(asm.FnProbeReadUserStr, "bpf_probe_read_user_str", probeRead(userSpace, true))
	register(asm.FnProbeReadStr, "bpf_probe_read_str", probeRead(eitherSpace, true))
}

// taskCommLen is TASK_COMM_LEN.
const taskCommLen = 16

// getCurrentComm implements bpf_get_current_comm(buf, size): strscpy_pad
// of the task's comm, so buf is always NUL-terminated and zero-padded.
func getCurrentComm(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	buf, err := m.Bytes(a[0], int(uint32(a[1])), true)
	if err != nil {
		return 0, err
	}
	if len(buf) == 0 {
		return 0, nil
	}
	comm := s.task().Comm()
	if i := bytes.IndexByte([]byte(comm), 0); i >= 0 {
		comm = comm[:i]
	}
	comm = comm[:min(len(comm), taskCommLen-1, len(buf)-1)]
	clear(buf[copy(buf, comm):])
	return 0, nil
}

type addrSpace int

const (
	kernelSpace addrSpace = iota
	userSpace
	eitherSpace // bpf_probe_read(_str): user below TASK_SIZE, else kernel
)

// x86-64 address-space limits: TASK_SIZE_MAX, and the first address
// copy_from_kernel_nofault accepts (TASK_SIZE_MAX + PAGE_SIZE); it answers
// -ERANGE below that.
const (
	taskSizeMax   = 1<<47 - 4096
	kernelMinAddr = taskSizeMax + 4096
)

// probeRead implements the bpf_probe_read family (dst, size, unsafe_ptr).
// An address in the program's own address space (stack, maps, packet)
// reads that memory, as the kernel does for pointers the program holds;
// other addresses read the Env's KernelMemory. On failure dst is zeroed
// and the helper returns -EFAULT (or -ERANGE for a kernel read of a user
// address, as x86-64 does). The _str forms copy up to a NUL, always
// NUL-terminate dst, and return the length including the NUL.
func probeRead(space addrSpace, str bool) func(*Set, *vm.Machine, vm.Args) (uint64, error) {
	return func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		dst, err := m.Bytes(a[0], int(uint32(a[1])), true)
		if err != nil {
			return 0, err
		}
		if len(dst) == 0 {
			return 0, nil
		}
		if err := chargeBytes(m, len(dst)); err != nil {
			return 0, err
		}
		src, user := a[2], space == userSpace
		if space == eitherSpace {
			user = src < taskSizeMax
		}
		if !str {
			if err := s.readHost(m, src, dst, user); err != nil {
				clear(dst)
				return errnoRet(err)
			}
			return 0, nil
		}
		n, err := s.readHostString(m, src, dst, user)
		if err != nil {
			clear(dst)
			return errnoRet(err)
		}
		return uint64(n), nil
	}
}

// readHost copies memory at addr: program memory if addr is mapped in the
// machine, else the Env's.
func (s *Set) readHost(m *vm.Machine, addr uint64, dst []byte, user bool) error {
	if _, _, ok := m.RegionAt(addr); ok {
		b, err := m.Bytes(addr, len(dst), false)
		if err != nil {
			return syscall.EFAULT
		}
		copy(dst, b)
		return nil
	}
	if !user && addr < kernelMinAddr {
		return syscall.ERANGE
	}
	err := s.memory().ReadMemory(addr, dst, user)
	if err != nil {
		var en syscall.Errno
		if !errors.As(err, &en) {
			return syscall.EFAULT
		}
	}
	return err
}

// readHostString is strncpy_from_{user,kernel}_nofault: it copies bytes
// up to and including a NUL, at most len(dst), and returns the count with
// the NUL; a string that fills dst is truncated to len(dst)-1 bytes and
// terminated. A fault part-way is an error.
func (s *Set) readHostString(m *vm.Machine, addr uint64, dst []byte, user bool) (int, error) {
	if !user && addr < kernelMinAddr {
		if _, _, ok := m.RegionAt(addr); !ok {
			return 0, syscall.ERANGE
		}
	}
	for i := range dst {
		if err := s.readHost(m, addr+uint64(i), dst[i:i+1], user); err != nil {
			return 0, err
		}
		if dst[i] == 0 {
			return i + 1, nil
		}
	}
	dst[len(dst)-1] = 0
	return len(dst), nil
}
