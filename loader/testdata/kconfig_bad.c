// A __kconfig extern libbpf does not know, for TestErrors. Build: ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int LINUX_NO_SUCH_THING __kconfig;

SEC("xdp")
int uses_kconfig(struct xdp_md *ctx)
{
	return LINUX_NO_SUCH_THING ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
