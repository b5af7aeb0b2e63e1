/* raw_tp.c — a raw tracepoint program that reads its arguments.
 *
 * Shows: struct bpf_raw_tracepoint_args (the tracepoint's raw u64
 * arguments; for sys_enter args[0] is struct pt_regs * and args[1] the
 * syscall number) and a hash map of counters. Test runs pass the arguments
 * as ctx_in.
 *
 * Returns the syscall number's low 16 bits (raw tracepoints ignore it).
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u64);	/* syscall number */
	__type(value, __u64);	/* calls */
} syscalls SEC(".maps");

__u64 last_id;	/* .bss */

SEC("raw_tp/sys_enter")
int count_syscalls(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = ctx->args[1], one = 1, *cnt;

	last_id = id;
	cnt = bpf_map_lookup_elem(&syscalls, &id);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		bpf_map_update_elem(&syscalls, &id, &one, BPF_NOEXIST);
	return id & 0xffff;
}

char LICENSE[] SEC("license") = "GPL";
