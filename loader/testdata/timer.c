// bpf_timer helpers over an array map value, for TestTimersKernel.
// Build: ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define CLOCK_MONOTONIC 1
struct elem { struct bpf_timer t; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct elem);
} timers SEC(".maps");
__u64 out[16];
static int cb(void *map, __u32 *key, struct elem *e) { return 0; }
SEC("xdp")
int xdp_timer(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &k);
	if (!e)
		return XDP_ABORTED;
	out[0] = bpf_timer_start(&e->t, 1000, 0);
	out[1] = bpf_timer_cancel(&e->t);
	out[2] = bpf_timer_init(&e->t, &timers, 5);
	out[3] = bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
	out[4] = bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
	out[5] = bpf_timer_start(&e->t, 1000, 0);
	out[6] = bpf_timer_set_callback(&e->t, cb);
	out[7] = bpf_timer_start(&e->t, 1000000000ULL, 4);
	out[8] = bpf_timer_start(&e->t, 1000000000ULL, 0);
	out[9] = bpf_timer_cancel(&e->t);
	out[10] = bpf_timer_cancel(&e->t);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
