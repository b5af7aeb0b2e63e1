// A program calling a kfunc the kernel does not have, for
// TestKfuncUnknown. Build: ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void bpf_no_such_kfunc(void) __ksym;

SEC("xdp")
int unknown(struct xdp_md *ctx)
{
	bpf_no_such_kfunc();
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
