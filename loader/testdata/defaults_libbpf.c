// Map definitions libbpf adjusts and the kernel (through cilium/ebpf)
// would refuse, for TestLibbpfMapDefaults: a ring buffer size that is not
// a power-of-2 number of pages, a map pinned by name; and the __kconfig
// externs libbpf answers from feature probes, which cilium/ebpf cannot
// answer without tracefs. Build: ./build.sh.
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
/* "# CONFIG_COMPILE_TEST is not set": n for libbpf, unknown to cilium/ebpf. */
extern enum libbpf_tristate CONFIG_COMPILE_TEST __kconfig;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 5000);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned SEC(".maps");

SEC("xdp")
int defaults(struct xdp_md *ctx)
{
	__u32 k = 0, v = LINUX_HAS_SYSCALL_WRAPPER + LINUX_HAS_BPF_COOKIE;
	bpf_map_update_elem(&pinned, &k, &v, BPF_ANY);
	k = 1;
	v = 10 + CONFIG_COMPILE_TEST;
	bpf_map_update_elem(&pinned, &k, &v, BPF_ANY);
	return bpf_ringbuf_output(&rb, &v, sizeof(v), 0) == 0 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
