/* long_loop.c — a program that runs millions of instructions, for the
 * debugger's reverse-execution benchmarks: a plain loop and a bpf_loop
 * callback, both over the packet's bytes.
 * Build: clang-19 -target bpf -mcpu=v4 -O2 -g -I/usr/include/x86_64-linux-gnu -c long_loop.c -o long_loop.o */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ROUNDS (1 << 20)

struct acc {
	__u64 sum;
	__u8 bytes[64];
};

static long add(__u64 i, struct acc *a)
{
	a->sum = a->sum * 31 + a->bytes[i & 63];
	return 0;
}

SEC("xdp")
int long_loop(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	struct acc a = {};
	__u32 i;

	if (data + 64 > end)
		return XDP_ABORTED;
	__builtin_memcpy(a.bytes, data, 64);
	for (i = 0; i < ROUNDS; i++) {
		a.sum = a.sum * 7 + a.bytes[i & 63];
		a.bytes[(i * 13) & 63] ^= (__u8)a.sum;
	}
	return a.sum & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int long_callback(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	struct acc a = {};

	if (data + 64 > end)
		return XDP_ABORTED;
	__builtin_memcpy(a.bytes, data, 64);
	bpf_loop(ROUNDS, add, &a, 0);
	return a.sum & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
