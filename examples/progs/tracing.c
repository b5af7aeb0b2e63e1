/* tracing.c — kprobe and tracepoint programs (no test-run support in Linux;
 * they load and can be traced by bpfscope with a synthetic context).
 *
 * Shows: bpf_probe_read_kernel, bpf_probe_read_kernel_str,
 * bpf_probe_read_user, bpf_probe_read_user_str, bpf_get_current_pid_tgid,
 * bpf_get_current_comm, bpf_get_current_uid_gid, bpf_snprintf,
 * bpf_trace_printk (bpf_printk) and ring buffer output. Results depend on the environment (the current task,
 * the file names being opened).
 *
 *   trace_unlinkat (kprobe/do_unlinkat):  logs the removed path
 *   trace_openat (tracepoint/syscalls/sys_enter_openat): logs opened
 *                 absolute paths
 */
#include "common.h"
#include <linux/ptrace.h>
#include <bpf/bpf_tracing.h>

struct path_event {
	__u32 pid;
	__u32 uid;
	char comm[16];
	char path[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} path_events SEC(".maps");

/* do_unlinkat(int dfd, struct filename *name); `name` is the first member
 * of struct filename, a kernel pointer to the path string. */
SEC("kprobe/do_unlinkat")
int BPF_KPROBE(trace_unlinkat, int dfd, void *filename)
{
	struct path_event *e;
	const char *name;

	if (bpf_probe_read_kernel(&name, sizeof(name), filename))
		return 0;
	e = bpf_ringbuf_reserve(&path_events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->path, sizeof(e->path), name);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Layout of /sys/kernel/tracing/events/syscalls/sys_enter_openat/format. */
struct sys_enter_openat_args {
	__u64 common;		/* common_type, flags, preempt_count, pid */
	__s32 syscall_nr;
	__u32 pad;
	__s64 dfd;
	const char *filename;
	__s64 flags;
	__s64 mode;
};

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(struct sys_enter_openat_args *ctx)
{
	char path[64], line[96], first;
	__u64 id = bpf_get_current_pid_tgid();

	/* A one-byte peek skips relative paths before the string copy. */
	if (bpf_probe_read_user(&first, sizeof(first), ctx->filename) || first != '/')
		return 0;
	if (bpf_probe_read_user_str(path, sizeof(path), ctx->filename) < 0)
		return 0;
	BPF_SNPRINTF(line, sizeof(line), "pid %u opens %s", (__u32)(id >> 32), path);
	bpf_printk("%s", line);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
