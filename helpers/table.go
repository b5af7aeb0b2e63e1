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
	asm.FnMapLookupElem:              {"value pointer or NULL; per-CPU maps use Env.CPU", ""},
	asm.FnMapUpdateElem:              {"BPF_ANY/NOEXIST/EXIST, kernel errnos", ""},
	asm.FnMapDeleteElem:              {"-ENOENT when absent, -EINVAL on arrays", ""},
	asm.FnMapPushElem:                {"queue/stack; -E2BIG when full unless BPF_EXIST", ""},
	asm.FnMapPopElem:                 {"queue/stack; -ENOENT and a zeroed value when empty", ""},
	asm.FnMapPeekElem:                {"as pop without removing", ""},
	asm.FnMapLookupPercpuElem:        {"value on the given CPU, NULL beyond the possible CPUs", ""},
	asm.FnForEachMapElem:             {"callback(map, key, value, ctx) until it returns 1; returns calls; flags must be 0", ""},
	asm.FnLoop:                       {"callback(i, ctx) until it returns 1; returns calls; -E2BIG above 1<<23, -EINVAL for flags", ""},
	asm.FnTailCall:                   {"prog_array slot holding a *vm.Program; falls through on a miss or after 33 calls", "programs via ProgramArrayMap.SetProgram"},
	asm.FnSpinLock:                   {"lock word in a map value; nested locks end the run, as the verifier forbids them", ""},
	asm.FnSpinUnlock:                 {"unlocking a lock not held ends the run", ""},
	asm.FnKtimeGetNs:                 {"CLOCK_MONOTONIC", "Env.KtimeNs"},
	asm.FnKtimeGetBootNs:             {"CLOCK_BOOTTIME", "Env.BootNs"},
	asm.FnKtimeGetCoarseNs:           {"coarse monotonic clock", "ClockEnv.CoarseNs (default Env.KtimeNs)"},
	asm.FnKtimeGetTaiNs:              {"CLOCK_TAI", "ClockEnv.TaiNs (default Env.KtimeNs)"},
	asm.FnJiffies64:                  {"jiffies", "ClockEnv.Jiffies (default KtimeNs at HZ=250)"},
	asm.FnGetPrandomU32:              {"pseudo-random u32", "Env.Random (seeded)"},
	asm.FnGetSmpProcessorId:          {"current CPU", "Env.CPU"},
	asm.FnGetNumaNodeId:              {"NUMA node", "NUMAEnv (default 0)"},
	asm.FnGetCurrentPidTgid:          {"tgid<<32 | pid", "TaskEnv (default DefaultTask)"},
	asm.FnGetCurrentUidGid:           {"gid<<32 | uid", "TaskEnv"},
	asm.FnGetCurrentComm:             {"strscpy_pad of comm: NUL-terminated, zero-padded", "TaskEnv"},
	asm.FnGetCurrentTask:             {"opaque task_struct address", "TaskEnv"},
	asm.FnGetCurrentTaskBtf:          {"opaque task_struct address", "TaskEnv"},
	asm.FnProbeRead:                  {"user below TASK_SIZE, else kernel; zeroed dst and -EFAULT on failure", "KernelMemory"},
	asm.FnProbeReadKernel:            {"-ERANGE below the kernel half (x86-64), -EFAULT unmapped; dst zeroed", "KernelMemory"},
	asm.FnProbeReadUser:              {"-EFAULT unmapped; dst zeroed", "KernelMemory"},
	asm.FnProbeReadStr:               {"as probe_read; returns length with NUL, always terminates", "KernelMemory"},
	asm.FnProbeReadKernelStr:         {"as probe_read_kernel; returns length with NUL", "KernelMemory"},
	asm.FnProbeReadUserStr:           {"as probe_read_user; returns length with NUL", "KernelMemory"},
	asm.FnTracePrintk:                {"bpf_bprintf rules, 3 args; line to RunState.Printk and Output events; returns full length", ""},
	asm.FnTraceVprintk:               {"as trace_printk with up to 12 args in an array", ""},
	asm.FnSnprintf:                   {"bpf_bprintf rules; writes str_size-1 bytes and NUL; returns length+1", ""},
	asm.FnGetLocalStorage:            {"the run's cgroup storage (shared, or the CPU's for per-CPU maps): zeroed at each run as bpf_test_run allocates it; no map value changes", ""},
	asm.FnLwtPushEncap:               {"lwt_in and lwt_xmit: BPF_LWT_ENCAP_IP pushes the IPv4/IPv6 header (checksum filled, protocol set), -EINVAL, -ENOTSUPP for GSO; SEG6 types -EINVAL (no CONFIG_IPV6_SEG6_BPF)", ""},
	asm.FnBtfFindByNameKind:          {"first vmlinux type id of the kind and name; -EINVAL flags/name, -ENOENT (module BTF not searched)", "KernelBTFEnv (default the running kernel's)"},
	asm.FnKallsymsLookupName:         {"*res = address, -ENOENT for none; -EINVAL flags/name; no symbol table ends the run", "KallsymsEnv (helpers.ParseKallsyms)"},
	asm.FnSysBpf:                     {"-EINVAL for commands it does not allow; the others are the Env's bpf(), else the run ends", "SyscallEnv"},
	asm.FnSysClose:                   {"the Env's close_fd, else the run ends", "SyscallEnv"},
	asm.FnDPath:                      {"0 for sz 0; struct path read via KernelMemory (-EFAULT/-ERANGE); path NUL-terminated, length with NUL, -ENAMETOOLONG", "PathEnv, KernelMemory"},
	asm.FnSockFromFile:               {"file->private_data if file->f_op is socket_file_ops, else NULL (struct file layout from kernel BTF)", "KernelMemory, KallsymsEnv"},
	asm.FnSkbOutput:                  {"perf_event_output over a packet of the run; a kernel sk_buff ends the run", "Env.CPU"},
	asm.FnXdpOutput:                  {"perf_event_output over a packet of the run; a kernel xdp_buff ends the run", "Env.CPU"},
	asm.FnPerfProgReadValue:          {"counter, enabled, running of the event; -EINVAL and a cleared buffer for a size other than 24; no answer ends the run", "PerfEventEnv"},
	asm.FnReadBranchRecords:          {"-EINVAL for flags, -ENOENT without a branch stack (the default), its size, or the entries copied", "PerfEventEnv (default: no branch stack)"},
	asm.FnSnprintfBtf:                {"btf_type_snprintf_show over kernel BTF, all BTF_F_* flags; -EINVAL, -ENOENT, -EFAULT/-ERANGE from the safe copy", "KernelBTFEnv (default the running kernel's), PointerHashEnv for %p"},
	asm.FnStrtol:                     {"__bpf_strtoull rules; bytes consumed, -EINVAL, -ERANGE", ""},
	asm.FnStrtoul:                    {"as strtol; a '-' gives -EINVAL", ""},
	asm.FnStrncmp:                    {"kernel strncmp: -1, 0 or 1", ""},
	asm.FnRingbufOutput:              {"copy into a record; -EAGAIN when full; Output event", ""},
	asm.FnRingbufReserve:             {"record pointer or NULL (flags, no space)", ""},
	asm.FnRingbufSubmit:              {"commit; Output event; records drained with RingBufMap.Drain", ""},
	asm.FnRingbufDiscard:             {"commit as discarded", ""},
	asm.FnRingbufQuery:               {"avail data, ring size, consumer and producer positions", ""},
	asm.FnPerfEventOutput:            {"record on the current CPU's slot; packet bytes for BPF_F_CTXLEN_MASK; Output event", "Env.CPU"},
	asm.FnRedirect:                   {"XDP_REDIRECT or TC_ACT_REDIRECT; target in RunState.Redirect", ""},
	asm.FnRedirectMap:                {"devmap/cpumap/xskmap: XDP_REDIRECT on a hit, else the flags' action", ""},
	asm.FnFibLookup:                  {"-EINVAL, -EAFNOSUPPORT; default BPF_FIB_LKUP_RET_NOT_FWDED", "FibEnv"},
	asm.FnRedirectNeigh:              {notes: "TC_ACT_REDIRECT, TC_ACT_SHOT for flags or a short params; target and next hop in RunState.Redirect", inject: ""},
	asm.FnRedirectPeer:               {notes: "TC_ACT_REDIRECT, TC_ACT_SHOT for flags; target in RunState.Redirect", inject: ""},
	asm.FnCloneRedirect:              {notes: "-EINVAL for flags or an absent device; 0 up, -ENETDOWN / NET_RX_DROP down; clone in RunState.Clones", inject: "NetdevEnv (default: a fresh namespace's lo, down)"},
	asm.FnCheckMtu:                   {notes: "skb and XDP variants; BPF_MTU_CHK_RET_*, -EINVAL, -ENODEV; writes the device MTU", inject: "NetdevEnv (default lo, MTU 65536)"},
	asm.FnSkbEcnSetCe:                {notes: "INET_ECN_set_ce over VLAN tags: CE on ECT IPv4 (checksum fixed) and IPv6; 1 or 0", inject: ""},
	asm.FnCsumLevel:                  {notes: "query/inc/dec/reset of CHECKSUM_UNNECESSARY levels; -EACCES, -EINVAL", inject: ""},
	asm.FnSkbSetTstamp:               {notes: "sets tstamp; -EINVAL for 0 mono/tai or an unknown type", inject: ""},
	asm.FnGetRouteRealm:              {notes: "0: a test-run skb has no route", inject: ""},
	asm.FnSkbGetTunnelKey:            {notes: "the key set_tunnel_key attached, receive view; -EINVAL without, -EPROTO other family; compat sizes", inject: ""},
	asm.FnSkbSetTunnelKey:            {notes: "TX tunnel metadata in RunState.Tunnel; flag and size checks as the kernel", inject: ""},
	asm.FnSkbGetTunnelOpt:            {notes: "options length; -ENOENT, -ENOMEM; buffer cleared on failure", inject: ""},
	asm.FnSkbSetTunnelOpt:            {notes: "after set_tunnel_key; -EINVAL unaligned, -ENOMEM above 255", inject: ""},
	asm.FnSkbGetXfrmState:            {notes: "-EINVAL and a cleared buffer: no sec_path", inject: ""},
	asm.FnGetSocketUid:               {notes: "0: sk_uid of the test runner's socket", inject: ""},
	asm.FnSkbCgroupClassid:           {notes: "classid of the skb's socket", inject: "SkbEnv.CgroupClassid"},
	asm.FnSkbAncestorCgroupId:        {notes: "ancestor id at a level, 0 beyond", inject: "CgroupEnv.SkbCgroup (default root, id 1)"},
	asm.FnSkbUnderCgroup:             {notes: "-E2BIG beyond the array, else -EAGAIN: no cgroups in a user-space array", inject: ""},
	asm.FnGetNetnsCookie:             {notes: "namespace cookie", inject: "NetnsEnv (default 1)"},
	asm.FnSkAssign:                   {notes: "tc: -EINVAL, else -EOPNOTSUPP (a test-run skb is not at tc ingress); sk_lookup: -EINVAL for flags, NULL selects nothing", inject: ""},
	asm.FnSkCgroupId:                 {notes: "cgroup id of the test runner's socket, 0 for others", inject: "CgroupEnv.SkbCgroup"},
	asm.FnSkAncestorCgroupId:         {notes: "ancestor id at a level, 0 beyond", inject: "CgroupEnv.SkbCgroup"},
	asm.FnSkLookupTcp:                {notes: "NULL (no socket), also for bad flags/tuple size/netns; a socket the Env reports is a run error", inject: "SocketEnv (default none)"},
	asm.FnSkLookupUdp:                {notes: "as sk_lookup_tcp", inject: "SocketEnv (default none)"},
	asm.FnSkcLookupTcp:               {notes: "as sk_lookup_tcp", inject: "SocketEnv (default none)"},
	asm.FnSkRelease:                  {notes: "0", inject: ""},
	asm.FnSkFullsock:                 {notes: "the test runner's socket (TCP_CLOSE, full), else NULL", inject: ""},
	asm.FnTcpSock:                    {notes: "NULL: the test runner's socket is not TCP", inject: ""},
	asm.FnGetListenerSock:            {notes: "NULL: no listener", inject: ""},
	asm.FnTcpCheckSyncookie:          {notes: "-EINVAL: no listening TCP socket", inject: ""},
	asm.FnTcpGenSyncookie:            {notes: "-EINVAL: no listening TCP socket", inject: ""},
	asm.FnTcpRawGenSyncookieIpv4:     {notes: "-EINVAL for th_len; cookie, mss<<32 (kernel MSS table)", inject: "SyncookieEnv (default: fixed-key hash)"},
	asm.FnTcpRawGenSyncookieIpv6:     {notes: "as ipv4", inject: "SyncookieEnv"},
	asm.FnTcpRawCheckSyncookieIpv4:   {notes: "0 or -EACCES", inject: "SyncookieEnv"},
	asm.FnTcpRawCheckSyncookieIpv6:   {notes: "as ipv4", inject: "SyncookieEnv"},
	asm.FnGetCurrentCgroupId:         {notes: "id of the current task's cgroup", inject: "CgroupEnv.CurrentCgroup (default root, id 1)"},
	asm.FnGetCurrentAncestorCgroupId: {notes: "ancestor id at a level, 0 beyond", inject: "CgroupEnv.CurrentCgroup"},
	asm.FnCurrentTaskUnderCgroup:     {notes: "-E2BIG beyond the array, else -EAGAIN: no cgroups in a user-space array", inject: ""},
	asm.FnGetNsCurrentPidTgid:        {notes: "pid/tgid when dev and inode name the task's pid namespace, else -EINVAL and a cleared buffer", inject: "PidnsEnv (default the initial namespace), TaskEnv"},
	asm.FnPerfEventRead:              {notes: "-EINVAL, -E2BIG, else -ENOENT: no perf events are opened", inject: ""},
	asm.FnPerfEventReadValue:         {notes: "as perf_event_read; -EINVAL for a size other than 24; buffer cleared", inject: ""},
	asm.FnSkcToTcp6Sock:              {notes: "NULL: the test runner's socket has no protocol", inject: ""},
	asm.FnSkcToTcpSock:               {notes: "NULL, as skc_to_tcp6_sock", inject: ""},
	asm.FnSkcToTcpTimewaitSock:       {notes: "NULL, as skc_to_tcp6_sock", inject: ""},
	asm.FnSkcToTcpRequestSock:        {notes: "NULL, as skc_to_tcp6_sock", inject: ""},
	asm.FnSkcToUdp6Sock:              {notes: "NULL, as skc_to_tcp6_sock", inject: ""},
	asm.FnSkcToUnixSock:              {notes: "NULL, as skc_to_tcp6_sock", inject: ""},
	asm.FnSkcToMptcpSock:             {notes: "NULL, as skc_to_tcp6_sock", inject: ""},
	asm.FnGetTaskStack:               {notes: "as get_stack", inject: "StackEnv"},
	asm.FnCopyFromUser:               {notes: "user memory; -EFAULT and a zeroed dst", inject: "KernelMemory"},
	asm.FnCopyFromUserTask:           {notes: "as copy_from_user; -EINVAL for flags", inject: "KernelMemory"},
	asm.FnPerCpuPtr:                  {notes: "NULL for NULL; per-CPU kernel variables are a run error (not modelled)", inject: ""},
	asm.FnThisCpuPtr:                 {notes: "per-CPU kernel variables are a run error (not modelled)", inject: ""},
	asm.FnGetBranchSnapshot:          {notes: "-EINVAL for flags, else -ENOENT: no LBR", inject: ""},
	asm.FnFindVma:                    {notes: "-EINVAL for flags, else -ENOENT: no mapping", inject: ""},
	asm.FnTaskPtRegs:                 {notes: "a run error: task registers are not modelled", inject: ""},
	asm.FnKptrXchg:                   {notes: "exchanges the 8-byte slot, returns the old pointer", inject: ""},
	asm.FnTimerInit:                  {notes: "-EINVAL for the clock, -EBUSY twice (across runs, as the kernel); Set.Timers", inject: ""},
	asm.FnTimerSetCallback:           {notes: "-EINVAL before init; the callback is recorded, never called in a run", inject: ""},
	asm.FnTimerStart:                 {notes: "-EINVAL for flags or no callback; armed in Set.Timers", inject: ""},
	asm.FnTimerCancel:                {notes: "1 if armed, 0 if not, -EINVAL before init; drops the callback", inject: ""},
	asm.FnDynptrFromMem:              {notes: "local dynptr in the kernel's bpf_dynptr_kern layout; -EINVAL flags, -E2BIG size", inject: ""},
	asm.FnDynptrRead:                 {notes: "local, ring buffer, skb and XDP dynptrs; -EINVAL, -E2BIG", inject: ""},
	asm.FnDynptrWrite:                {notes: "as dynptr_read; read-only -EINVAL; skb flags as skb_store_bytes", inject: ""},
	asm.FnDynptrData:                 {notes: "pointer into local/ring buffer data; NULL for read-only, skb, XDP, out of range", inject: ""},
	asm.FnRingbufReserveDynptr:       {notes: "-EINVAL, -E2BIG, -EAGAIN with a null dynptr", inject: ""},
	asm.FnRingbufSubmitDynptr:        {notes: "commit and null; nothing for a null dynptr", inject: ""},
	asm.FnRingbufDiscardDynptr:       {notes: "as submit_dynptr, discarded", inject: ""},
	asm.FnSkStorageGet:               {notes: "value of the test runner's socket, created with F_CREATE (from value or zeros); dropped when the run ends, as the socket is", inject: ""},
	asm.FnSkStorageDelete:            {notes: "-EINVAL for another socket, -ENOENT without a value", inject: ""},
	asm.FnTaskStorageGet:             {notes: "value of the task pointer passed, created with F_CREATE; NULL for other flags", inject: ""},
	asm.FnTaskStorageDelete:          {notes: "-ENOENT without a value", inject: ""},
	asm.FnCgrpStorageGet:             {notes: "as task_storage_get, for a cgroup pointer", inject: ""},
	asm.FnCgrpStorageDelete:          {notes: "as task_storage_delete", inject: ""},
	asm.FnUserRingbufDrain:           {notes: "callback(dynptr, ctx) per sample user space submitted (maps.UserRingBufMap.Submit) until it returns 1; samples taken; -EINVAL for flags", inject: ""},
	asm.FnGetFuncIp:                  {"attach address", "ProbeEnv (default 0)"},
	asm.FnGetAttachCookie:            {"attach cookie", "ProbeEnv (default 0)"},
	asm.FnSendSignal:                 {"recorded in RunState.Signals; -EINVAL above 64, -EPERM for init", "TaskEnv"},
	asm.FnSendSignalThread:           {"as send_signal", "TaskEnv"},
	asm.FnGetStack:                   {"call chain as u64s after skipped frames; -EFAULT without one", "StackEnv"},
	asm.FnGetStackid:                 {"-EINVAL, -EFAULT without a call chain; stack trace maps not modelled", "StackEnv"},
}

// writeTable writes HELPERS.md: every helper New registers, by id.
func writeTable(w io.Writer) error {
	s := New(nil)
	ids := slices.DeleteFunc(s.IDs(), func(id int32) bool { return id >= KfuncBase })
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
	writeCoverage(&b, s)
	writeKfuncs(&b)
	names := make([]string, len(ids))
	for i, id := range ids {
		h, _ := s.Helper(id)
		names[i] = h.Name
	}
	writeHostState(&b, append(names, kfuncTable()...))
	_, err := io.WriteString(w, b.String())
	return err
}

// typeColumn is one program type of the coverage table; name is the
// kernel's (bpftool's) name of the type.
type typeColumn struct{ name, title string }

// typeColumns are the program types bpfscope has a context for.
var typeColumns = []typeColumn{
	{"xdp", "xdp"},
	{"sched_cls", "tc cls"},
	{"sched_act", "tc act"},
	{"cgroup_skb", "cg skb"},
	{"lwt_in", "lwt in"},
	{"lwt_out", "lwt out"},
	{"lwt_xmit", "lwt xmit"},
	{"socket_filter", "sock filter"},
	{"flow_dissector", "flow diss"},
	{"sk_lookup", "sk lookup"},
	{"syscall", "syscall"},
	{"raw_tracepoint", "raw tp"},
	{"netfilter", "netfilter"},
	{"kprobe", "kprobe"},
	{"tracepoint", "tp"},
	{"perf_event", "perf ev"},
	{"tracing", "tracing"},
}

// Coverage marks of the per-type table.
const (
	markImplemented = "I"
	markEnv         = "E"
	markMissing     = "-"
)

// coverage is what one helper is for a program type whose kernel lets it
// call that helper: "" when the kernel does not.
func coverage(s *Set, col string, id int32) string {
	if !slices.Contains(kernelHelpers[col], id) {
		return ""
	}
	if _, ok := s.Helper(id); !ok {
		return markMissing
	}
	if docs[asm.BuiltinFunc(id)].inject != "" {
		return markEnv
	}
	return markImplemented
}

// writeCoverage writes the helper × program type table: for every helper
// some column's kernel allows, whether bpfscope implements it.
func writeCoverage(b *strings.Builder, s *Set) {
	fmt.Fprintf(b, "\n## Coverage by program type\n\n")
	fmt.Fprintf(b, "Which helpers each program type may call is the verifier's answer on Linux %s\n", kernelRelease)
	b.WriteString("(kernel_lists.go, checked against the running kernel by `TestKernelHelperLists`).\n")
	fmt.Fprintf(b, "%s: implemented, a function of the program's inputs; %s: implemented, the answer\n", markImplemented, markEnv)
	fmt.Fprintf(b, "comes from the Env (see README.md); %s: missing; blank: the type cannot call it.\n", markMissing)
	b.WriteString("The tracing column is empty where the probing kernel does not load fentry programs.\n\n")
	b.WriteString("| id | name |")
	for _, c := range typeColumns {
		fmt.Fprintf(b, " %s |", c.title)
	}
	b.WriteString("\n|---:|---|")
	for range typeColumns {
		b.WriteString(":-:|")
	}
	b.WriteString("\n")
	var ids []int32
	for id := range kernelHelperNames {
		for _, c := range typeColumns {
			if slices.Contains(kernelHelpers[c.name], id) {
				ids = append(ids, id)
				break
			}
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(b, "| %d | `%s` |", id, kernelHelperNames[id])
		for _, c := range typeColumns {
			fmt.Fprintf(b, " %s |", coverage(s, c.name, id))
		}
		b.WriteString("\n")
	}
	b.WriteString("| | **implemented / kernel** |")
	for _, c := range typeColumns {
		n := 0
		for _, id := range kernelHelpers[c.name] {
			if m := coverage(s, c.name, id); m != markMissing {
				n++
			}
		}
		fmt.Fprintf(b, " %d/%d |", n, len(kernelHelpers[c.name]))
	}
	b.WriteString("\n")
}

// writeKfuncs lists the implemented kfuncs.
func writeKfuncs(b *strings.Builder) {
	b.WriteString("\n## Kfuncs\n\n")
	b.WriteString("The loader resolves a kfunc call against kernel BTF (the running kernel's, or the\n")
	b.WriteString("prototypes bundled in loader/kfuncs.btf) and calls these; any other kfunc is a\n")
	b.WriteString("load error naming it.\n\n")
	b.WriteString("| kfunc | semantics | injectable |\n|---|---|---|\n")
	for _, n := range kfuncTable() {
		e := kfuncRegistry[n]
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", n, e.doc, e.env)
	}
	fmt.Fprintf(b, "\n%d kfuncs.\n", len(kfuncTable()))
}
