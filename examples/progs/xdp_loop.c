/* xdp_loop.c — callbacks, event output and time/random helpers.
 *
 * Shows: bpf_loop with a callback, bpf_for_each_map_elem, BPF ring buffer
 * (bpf_ringbuf_output, bpf_ringbuf_reserve + submit / discard),
 * bpf_perf_event_output, bpf_get_prandom_u32, bpf_ktime_get_ns,
 * bpf_ktime_get_boot_ns and bpf_get_smp_processor_id.
 *
 * The random number, the clocks and the CPU are used only in ways that
 * cannot change the result (sampling at 100 %, a clock sanity check, the
 * current CPU's perf slot), so the outcome is deterministic. Events: one
 * ringbuf_output record per frame plus one reserved record that is
 * submitted for IPv4 and discarded otherwise.
 * perf_event_output's result depends on whether user space opened the
 * per-CPU perf buffer, so it is ignored.
 */
#include "common.h"

#define SUM_BYTES 32

const volatile __u32 sample_percent = 100;

struct event {
	__u32 len;		/* frame length */
	__u16 proto;		/* EtherType, host order */
	__u16 sum;		/* sum of the first SUM_BYTES bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);	/* frames by length / 256 */
} len_hist SEC(".maps");

__u64 hist_total;		/* .bss: sum over len_hist after this frame */
__u32 last_sum;			/* .bss: the bpf_loop result */

struct sum_ctx {
	__u8 bytes[SUM_BYTES];
	__u32 sum;
};

static long add_byte(__u64 i, struct sum_ctx *c)
{
	c->sum += c->bytes[i & (SUM_BYTES - 1)];
	return 0;		/* 0: continue, 1: stop */
}

struct total_ctx {
	__u64 total;
};

static long add_value(void *map, __u32 *key, __u64 *value, struct total_ctx *c)
{
	c->total += *value;
	return 0;
}

SEC("xdp")
int xdp_loop(struct xdp_md *ctx)
{
	__u64 start = bpf_ktime_get_ns();
	__u32 cpu = bpf_get_smp_processor_id();
	__u32 len = bpf_xdp_get_buff_len(ctx);
	struct sum_ctx sc = {};
	struct total_ctx tc = {};
	struct event ev = {}, *rec;
	__u32 bucket = (len / 256) & 7;
	__be16 proto = 0;
	__u64 *cnt;

	cnt = bpf_map_lookup_elem(&len_hist, &bucket);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	bpf_for_each_map_elem(&len_hist, add_value, &tc, 0);
	hist_total = tc.total;

	/* Frames shorter than SUM_BYTES: only the Ethernet header is summed. */
	if (bpf_xdp_load_bytes(ctx, 0, sc.bytes, len < SUM_BYTES ? 14 : SUM_BYTES))
		return XDP_ABORTED;
	bpf_loop(SUM_BYTES, add_byte, &sc, 0);
	last_sum = sc.sum;

	bpf_xdp_load_bytes(ctx, 12, &proto, sizeof(proto));
	ev.len = len;
	ev.proto = bpf_ntohs(proto);
	ev.sum = sc.sum;

	if (bpf_get_prandom_u32() % 100 < sample_percent)
		bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);

	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (rec) {
		*rec = ev;
		rec->sum = 0xffff;	/* marks the reserved record */
		if (ev.proto == ETH_P_IP)
			bpf_ringbuf_submit(rec, 0);
		else
			bpf_ringbuf_discard(rec, 0);
	}

	/* An explicit index must be this CPU's slot, as BPF_F_CURRENT_CPU
	 * would pick; the program runs with migration disabled. */
	bpf_perf_event_output(ctx, &perf_events, cpu, &ev, sizeof(ev));

	/* CLOCK_BOOTTIME is CLOCK_MONOTONIC plus the time spent suspended. */
	if (bpf_ktime_get_boot_ns() < start)
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
