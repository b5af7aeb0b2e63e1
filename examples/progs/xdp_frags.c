/* xdp_frags.c — multi-buffer XDP: frames longer than a page.
 *
 * BPF_PROG_TEST_RUN puts at most 3520 bytes of a frame in the linear part
 * (data..data_end) and the rest in page-sized fragments, which a program
 * reaches only through helpers. Both programs run the same steps, chosen by
 * a 16-byte command in the frame's last 16 bytes (read across fragments;
 * for a frame over 64 KiB, the last 16 of its first 64 KiB):
 * bpf_xdp_load_bytes, bpf_xdp_store_bytes, bpf_xdp_adjust_tail (grow or
 * shrink, across fragments), bpf_xdp_adjust_head, bpf_xdp_adjust_meta and
 * bpf_xdp_get_buff_len, bpf_perf_event_output appending packet bytes
 * (from the fragments too) to a record, bpf_check_mtu (which counts the
 * linear part only) and a dynptr slice (a pointer into the linear part or
 * one fragment, or a copy where it straddles them), recording every
 * helper's return in .bss.
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
	__u8 pad[3];		/* pad[0]: perf payload; pad[1]: OP2_* bits */
};

#define OP2_MTU   0x01	/* bpf_check_mtu with len_diff = tail */
#define OP2_SLICE 0x02	/* bpf_dynptr_slice of 32 bytes at load2_off */

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;

#define OP_LOAD  0x01
#define OP_STORE 0x02
#define OP_TAIL  0x04
#define OP_HEAD  0x08
#define OP_META  0x10
#define OP_LOAD2 0x20
#define OP_TX    0x40
#define OP_PERF  0x80	/* a perf record of the results and load2_off packet bytes */

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

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
	__s32 perf_ret;
	__s32 mtu_ret;
	__u32 mtu_len;
	__s32 slice_ret;	/* 0: NULL, 1: into the packet, 2: the buffer */
	__u32 slice_hash;
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
	/* The command ends the frame, or its first 64 KiB: helpers reach no
	 * further. */
	r->cmd_ret = bpf_xdp_load_bytes(ctx, (len < 0xffff ? len : 0xffff) - sizeof(c), &c, sizeof(c));
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
	if (c.pad[1] & OP2_MTU) {
		__u32 mtu_len = 0;

		r->mtu_ret = bpf_check_mtu(ctx, 0, &mtu_len, c.tail, 0);
		r->mtu_len = mtu_len;
	}
	if (c.pad[1] & OP2_SLICE) {
		struct bpf_dynptr ptr;
		__u8 sbuf[32] = {};
		__u8 *p;

		if (bpf_dynptr_from_xdp(ctx, 0, &ptr) == 0) {
			p = bpf_dynptr_slice(&ptr, c.load2_off, sbuf, sizeof(sbuf));
			r->slice_ret = !p ? 0 : p == sbuf ? 2 : 1;
			if (p) {
				__u32 h = 2166136261u;

				for (int i = 0; i < 32; i++)
					h = (h ^ p[i]) * 16777619u;
				r->slice_hash = h;
			}
		}
	}
	if (c.ops & OP_PERF)
		r->perf_ret = bpf_perf_event_output(ctx, &perf_events,
						    BPF_F_CURRENT_CPU | (__u64)c.load2_off << 32,
						    &r->len0, 1 + (c.pad[0] & 15));
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
