package helpers

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cilium/ebpf/asm"
)

// doc describes a helper for HELPERS.md: its semantics in a line, and
// what an Env (or the embedder) injects.
type doc struct {
	notes, inject string
}

var docs = map[asm.BuiltinFunc]doc{
	asm.FnMapLookupElem:       {"value pointer or NULL; per-CPU maps use Env.CPU", ""},
	asm.FnMapUpdateElem:       {"BPF_ANY/NOEXIST/EXIST, kernel errnos", ""},
	asm.FnMapDeleteElem:       {"-ENOENT when absent, -EINVAL on arrays", ""},
	asm.FnMapPushElem:         {"queue/stack; -E2BIG when full unless BPF_EXIST", ""},
	asm.FnMapPopElem:          {"queue/stack; -ENOENT and a zeroed value when empty", ""},
	asm.FnMapPeekElem:         {"as pop without removing", ""},
	asm.FnMapLookupPercpuElem: {"value on the given CPU, NULL beyond the possible CPUs", ""},
	asm.FnForEachMapElem:      {"callback(map, key, value, ctx) until it returns 1; returns calls; flags must be 0", ""},
	asm.FnLoop:                {"callback(i, ctx) until it returns 1; returns calls; -E2BIG above 1<<23, -EINVAL for flags", ""},
	asm.FnTailCall:            {"prog_array slot holding a *vm.Program; falls through on a miss or after 33 calls", "programs via ProgramArrayMap.SetProgram"},
	asm.FnSpinLock:            {"lock word in a map value; nested locks end the run, as the verifier forbids them", ""},
	asm.FnSpinUnlock:          {"unlocking a lock not held ends the run", ""},
	asm.FnKtimeGetNs:          {"CLOCK_MONOTONIC", "Env.KtimeNs"},
	asm.FnKtimeGetBootNs:      {"CLOCK_BOOTTIME", "Env.BootNs"},
	asm.FnKtimeGetCoarseNs:    {"coarse monotonic clock", "ClockEnv.CoarseNs (default Env.KtimeNs)"},
	asm.FnKtimeGetTaiNs:       {"CLOCK_TAI", "ClockEnv.TaiNs (default Env.KtimeNs)"},
	asm.FnJiffies64:           {"jiffies", "ClockEnv.Jiffies (default KtimeNs at HZ=250)"},
	asm.FnGetPrandomU32:       {"pseudo-random u32", "Env.Random (seeded)"},
	asm.FnGetSmpProcessorId:   {"current CPU", "Env.CPU"},
	asm.FnGetNumaNodeId:       {"NUMA node", "NUMAEnv (default 0)"},
	asm.FnGetCurrentPidTgid:   {"tgid<<32 | pid", "TaskEnv (default DefaultTask)"},
	asm.FnGetCurrentUidGid:    {"gid<<32 | uid", "TaskEnv"},
	asm.FnGetCurrentComm:      {"strscpy_pad of comm: NUL-terminated, zero-padded", "TaskEnv"},
	asm.FnGetCurrentTask:      {"opaque task_struct address", "TaskEnv"},
	asm.FnGetCurrentTaskBtf:   {"opaque task_struct address", "TaskEnv"},
	asm.FnProbeRead:           {"user below TASK_SIZE, else kernel; zeroed dst and -EFAULT on failure", "KernelMemory"},
	asm.FnProbeReadKernel:     {"-ERANGE below the kernel half (x86-64), -EFAULT unmapped; dst zeroed", "KernelMemory"},
	asm.FnProbeReadUser:       {"-EFAULT unmapped; dst zeroed", "KernelMemory"},
	asm.FnProbeReadStr:        {"as probe_read; returns length with NUL, always terminates", "KernelMemory"},
	asm.FnProbeReadKernelStr:  {"as probe_read_kernel; returns length with NUL", "KernelMemory"},
	asm.FnProbeReadUserStr:    {"as probe_read_user; returns length with NUL", "KernelMemory"},
	asm.FnTracePrintk:         {"bpf_bprintf rules, 3 args; line to RunState.Printk and Output events; returns full length", ""},
	asm.FnTraceVprintk:        {"as trace_printk with up to 12 args in an array", ""},
	asm.FnSnprintf:            {"bpf_bprintf rules; writes str_size-1 bytes and NUL; returns length+1", ""},
	asm.FnStrtol:              {"__bpf_strtoull rules; bytes consumed, -EINVAL, -ERANGE", ""},
	asm.FnStrtoul:             {"as strtol; a '-' gives -EINVAL", ""},
	asm.FnStrncmp:             {"kernel strncmp: -1, 0 or 1", ""},
	asm.FnRingbufOutput:       {"copy into a record; -EAGAIN when full; Output event", ""},
	asm.FnRingbufReserve:      {"record pointer or NULL (flags, no space)", ""},
	asm.FnRingbufSubmit:       {"commit; Output event; records drained with RingBufMap.Drain", ""},
	asm.FnRingbufDiscard:      {"commit as discarded", ""},
	asm.FnRingbufQuery:        {"avail data, ring size, consumer and producer positions", ""},
	asm.FnPerfEventOutput:     {"record on the current CPU's slot; packet bytes for BPF_F_CTXLEN_MASK; Output event", "Env.CPU"},
	asm.FnRedirect:            {"XDP_REDIRECT or TC_ACT_REDIRECT; target in RunState.Redirect", ""},
	asm.FnRedirectMap:         {"devmap/cpumap/xskmap: XDP_REDIRECT on a hit, else the flags' action", ""},
	asm.FnFibLookup:           {"-EINVAL, -EAFNOSUPPORT; default BPF_FIB_LKUP_RET_NOT_FWDED", "FibEnv"},
	asm.FnGetFuncIp:           {"attach address", "ProbeEnv (default 0)"},
	asm.FnGetAttachCookie:     {"attach cookie", "ProbeEnv (default 0)"},
	asm.FnSendSignal:          {"recorded in RunState.Signals; -EINVAL above 64, -EPERM for init", "TaskEnv"},
	asm.FnSendSignalThread:    {"as send_signal", "TaskEnv"},
	asm.FnGetStack:            {"call chain as u64s after skipped frames; -EFAULT without one", "StackEnv"},
	asm.FnGetStackid:          {"-EINVAL, -EFAULT without a call chain; stack trace maps not modelled", "StackEnv"},
}

// writeTable writes HELPERS.md: every helper New registers, by id.
func writeTable(w io.Writer) error {
	s := New(nil)
	ids := s.IDs()
	slices.Sort(ids)
	var b strings.Builder
	b.WriteString("# Implemented helpers\n\n")
	b.WriteString("Generated from the registry by `go test ./helpers -run TestHelpersTable -update`; do not edit.\n")
	b.WriteString("Injectable results come from the `Env` given to `helpers.New` and the optional\n")
	b.WriteString("interfaces in hostenv.go; everything else is a function of the program's inputs.\n\n")
	b.WriteString("| id | name | semantics | injectable |\n|---:|---|---|---|\n")
	for _, id := range ids {
		h, _ := s.Helper(id)
		d := docs[asm.BuiltinFunc(id)]
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", id, h.Name, d.notes, d.inject)
	}
	fmt.Fprintf(&b, "\n%d helpers.\n", len(ids))
	names := make([]string, len(ids))
	for i, id := range ids {
		h, _ := s.Helper(id)
		names[i] = h.Name
	}
	writeHostState(&b, names)
	_, err := io.WriteString(w, b.String())
	return err
}
