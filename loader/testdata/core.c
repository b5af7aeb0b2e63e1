/* core.c — CO-RE relocations, resolved against core_target.o's BTF:
 * field offsets that move, a field that does not exist there (guarded by
 * bpf_core_field_exists, so the poisoned read is dead code unless the
 * guard is wrong), and one unguarded read of a missing field.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task {
	int pid;
	int tgid;
	int gone;
} __attribute__((preserve_access_index));

__u64 out[4];

SEC("xdp")
int offsets(struct xdp_md *ctx)
{
	out[0] = bpf_core_field_offset(struct task, pid);
	out[1] = bpf_core_field_offset(struct task, tgid);
	out[2] = bpf_core_field_exists(struct task, gone);
	out[3] = bpf_core_type_size(struct task);
	return XDP_PASS;
}

SEC("xdp")
int guarded(struct xdp_md *ctx)
{
	if (bpf_core_field_exists(struct task, gone))
		out[0] = bpf_core_field_offset(struct task, gone);
	return XDP_PASS;
}

SEC("xdp")
int unguarded(struct xdp_md *ctx)
{
	out[0] = bpf_core_field_offset(struct task, gone);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
