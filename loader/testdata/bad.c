/* bad.c — programs the loader must refuse, each with a typed error.
 * Build: ./build.sh (clang-19 -target bpf -mcpu=v4 -O2 -g)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;
extern void bpf_preempt_disable(void) __ksym; /* in the kernel, not in bpfscope */

SEC("xdp")
int uses_kconfig(struct xdp_md *ctx)
{
	return LINUX_KERNEL_VERSION > 0x60000 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int uses_kfunc(struct xdp_md *ctx)
{
	bpf_preempt_disable();
	return XDP_PASS;
}

SEC("no_such_type/foo")
int unknown_section(void *ctx)
{
	return 0;
}

SEC("xdp")
int good(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
