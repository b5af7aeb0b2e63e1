package helpers

import (
	"encoding/binary"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// The helpers of perf_event programs that read the event that fired.

// PerfEventEnv describes the perf event a perf_event program runs for:
// its counter, enabled and running times (perf_event_read_local), and the
// branch stack its sample carries (struct perf_branch_entry records, 24
// bytes each), hasStack false when the event does not sample one.
// ok false: no answer. Default: no answer for the value (the run ends
// with a KernelStateError: the counters are the kernel's), and a sample
// without a branch stack.
type PerfEventEnv interface {
	PerfValue() (counter, enabled, running uint64, ok bool)
	BranchStack() (entries []byte, hasStack bool)
}

const (
	perfEventValueSize   = 24 // sizeof(struct bpf_perf_event_value)
	perfBranchEntrySize  = 24 // sizeof(struct perf_branch_entry)
	getBranchRecordsSize = 1  // BPF_F_GET_BRANCH_RECORDS_SIZE
)

func init() {
	register(asm.FnPerfProgReadValue, "bpf_perf_prog_read_value", perfProgReadValue)
	register(asm.FnReadBranchRecords, "bpf_read_branch_records", readBranchRecords)
}

func (s *Set) perfValue() (uint64, uint64, uint64, bool) {
	if e, ok := s.env.(PerfEventEnv); ok {
		return e.PerfValue()
	}
	return 0, 0, 0, false
}

func (s *Set) branchStack() ([]byte, bool) {
	if e, ok := s.env.(PerfEventEnv); ok {
		return e.BranchStack()
	}
	return nil, false
}

// perfProgReadValue is bpf_perf_prog_read_value(ctx, buf, size): the
// event's counter, enabled and running times in buf; -EINVAL and a
// cleared buf for a size other than 24.
func perfProgReadValue(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	buf, err := m.Bytes(a[1], int(uint32(a[2])), true)
	if err != nil {
		return 0, err
	}
	if len(buf) != perfEventValueSize {
		clear(buf)
		return neg(syscall.EINVAL), nil
	}
	c, e, r, ok := s.perfValue()
	if !ok {
		return 0, kernelStateError(m, "bpf_perf_prog_read_value", "the counters of the event that fired are the kernel's: give the Env a PerfEventEnv")
	}
	binary.LittleEndian.PutUint64(buf, c)
	binary.LittleEndian.PutUint64(buf[8:], e)
	binary.LittleEndian.PutUint64(buf[16:], r)
	return 0, nil
}

// readBranchRecords is bpf_read_branch_records(ctx, buf, size, flags) as
// x86 has it: -EINVAL for unknown flags, -ENOENT without a branch stack;
// with BPF_F_GET_BRANCH_RECORDS_SIZE the stack's size in bytes; else
// -EINVAL for a NULL buf or a size not a multiple of 24, and the bytes
// copied (at most size).
func readBranchRecords(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	flags, size := a[3], uint32(a[2])
	if flags&^getBranchRecordsSize != 0 {
		return neg(syscall.EINVAL), nil
	}
	entries, ok := s.branchStack()
	if !ok {
		return neg(syscall.ENOENT), nil
	}
	n := uint32(len(entries) / perfBranchEntrySize * perfBranchEntrySize)
	if flags&getBranchRecordsSize != 0 {
		return uint64(n), nil
	}
	if a[1] == 0 || size%perfBranchEntrySize != 0 {
		return neg(syscall.EINVAL), nil
	}
	n = min(n, size)
	buf, err := m.Bytes(a[1], int(n), true)
	if err != nil {
		return 0, err
	}
	copy(buf, entries)
	return uint64(n), nil
}
