// An object relying on libbpf's loader defaults that the kernel can run
// through cilium/ebpf too (TestDefaultsKernel): __kconfig externs and a
// perf event array declared without key, value sizes or max_entries.
// Build: ./build.sh.
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig;
extern unsigned long long CONFIG_NR_CPUS __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_NF_CONNTRACK __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
} events SEC(".maps");

__u64 out[8];

SEC("xdp")
int kconfig(struct xdp_md *ctx)
{
	out[0] = LINUX_KERNEL_VERSION;
	out[2] = CONFIG_HZ;
	out[3] = CONFIG_NR_CPUS;
	out[4] = CONFIG_BPF_SYSCALL;
	out[5] = CONFIG_NF_CONNTRACK;
	__builtin_memcpy(&out[7], CONFIG_DEFAULT_HOSTNAME, 8);
	__u64 v = 0x1122334455667788;
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &v, sizeof(v));
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
