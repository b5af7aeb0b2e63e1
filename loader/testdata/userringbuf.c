// bpf_user_ringbuf_drain, for TestUserRingbuf and TestUserRingbufKernel.
// Build: ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} urb SEC(".maps");

__u64 out[8];

static long cb(struct bpf_dynptr *d, void *ctx)
{
	__u32 v = 0;

	if (bpf_dynptr_read(&v, sizeof(v), d, 0, 0) == 0)
		out[2] += v;
	out[3]++;
	return v == 0xffffffff; /* stop after this one */
}

SEC("xdp")
int drain(struct xdp_md *ctx)
{
	out[0] = bpf_user_ringbuf_drain(&urb, cb, 0, 0);
	out[1] = bpf_user_ringbuf_drain(&urb, cb, 0, 4);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
