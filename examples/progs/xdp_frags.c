/* xdp_frags.c — multi-buffer XDP: frames longer than a page.
 *
 * BPF_PROG_TEST_RUN puts at most 3520 bytes of a frame in the linear part
 * (data..data_end) and the rest in page-sized fragments, which a program
 * reaches only through helpers. Both programs run the same steps, chosen by
 * a 16-byte command in the frame's last 16 bytes (read across fragments):
 * bpf_xdp_load_bytes, bpf_xdp_store_bytes, bpf_xdp_adjust_tail (grow or
 * shrink, across fragments), bpf_xdp_adjust_head, bpf_xdp_adjust_meta and
 * bpf_xdp_get_buff_len, recording every helper's return in .bss.
 * xdp_frags is loaded frags-aware (SEC("xdp.frags"), BPF_F_XDP_HAS_FRAGS);
 * xdp_frags_unaware is not: test_run hands it fragments all the same.
 */
#include "common.h"

struct command {
	__u16 load_off;		/* bpf_xdp_load_bytes of 64 bytes here */
	__u16 store_off;	/* bpf_xdp_store_bytes of 32 bytes here */
	__s16 tail;		/* bpf_xdp_adjust_tail delta */
	__s16 head;		/* bpf_xdp_adjust_head delta */
	__s16 meta;		/* bpf_xdp_adjust_meta delta */
	__u16 load2_off;	/* a second load, after the resizing */
	__u8 ops;		/* which steps run: OP_* bits */
	__u8 pad[3];
};

#define OP_LOAD  0x01
#define OP_STORE 0x02
#define OP_TAIL  0x04
#define OP_HEAD  0x08
#define OP_META  0x10
#define OP_LOAD2 0x20
#define OP_TX    0x40

struct results {
	__u32 len0;		/* bpf_xdp_get_buff_len at entry */
	__u32 linear0;		/* data_end - data at entry */
	__s32 cmd_ret;
	__s32 load_ret;
	__u32 load_hash;
	__s32 store_ret;
	__s32 tail_ret;
	__s32 head_ret;
	__s32 meta_ret;
	__s32 load2_ret;
	__u32 load2_hash;
	__u32 len1;		/* bpf_xdp_get_buff_len at exit */
	__u32 linear1;		/* data_end - data at exit */
	__u32 runs;
};

struct results frags_aware, frags_unaware;

static __always_inline __u32 hash64(const __u8 *b)
{
	__u32 h = 2166136261u;

	for (int i = 0; i < 64; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static __always_inline int steps(struct xdp_md *ctx, struct results *r)
{
	struct command c = {};
	__u8 buf[64] = {};
	__u8 pattern[32];
	__u32 len;

	r->runs++;
	len = bpf_xdp_get_buff_len(ctx);
	r->len0 = len;
	r->linear0 = ctx->data_end - ctx->data;
	r->cmd_ret = bpf_xdp_load_bytes(ctx, len - sizeof(c), &c, sizeof(c));
	if (r->cmd_ret)
		return XDP_ABORTED;

	if (c.ops & OP_LOAD) {
		r->load_ret = bpf_xdp_load_bytes(ctx, c.load_off, buf, sizeof(buf));
		r->load_hash = hash64(buf);
	}
	if (c.ops & OP_STORE) {
		for (int i = 0; i < 32; i++)
			pattern[i] = 0xa0 + i;
		r->store_ret = bpf_xdp_store_bytes(ctx, c.store_off, pattern, sizeof(pattern));
	}
	if (c.ops & OP_TAIL)
		r->tail_ret = bpf_xdp_adjust_tail(ctx, c.tail);
	if (c.ops & OP_HEAD)
		r->head_ret = bpf_xdp_adjust_head(ctx, c.head);
	if (c.ops & OP_META)
		r->meta_ret = bpf_xdp_adjust_meta(ctx, c.meta);
	if (c.ops & OP_LOAD2) {
		__builtin_memset(buf, 0, sizeof(buf));
		r->load2_ret = bpf_xdp_load_bytes(ctx, c.load2_off, buf, sizeof(buf));
		r->load2_hash = hash64(buf);
	}
	r->len1 = bpf_xdp_get_buff_len(ctx);
	r->linear1 = ctx->data_end - ctx->data;
	return c.ops & OP_TX ? XDP_TX : XDP_PASS;
}

SEC("xdp.frags")
int xdp_frags(struct xdp_md *ctx)
{
	return steps(ctx, &frags_aware);
}

SEC("xdp")
int xdp_frags_unaware(struct xdp_md *ctx)
{
	return steps(ctx, &frags_unaware);
}

char LICENSE[] SEC("license") = "GPL";
