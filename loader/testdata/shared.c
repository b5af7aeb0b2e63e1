/* shared.c — one program that touches a map of every type, for the
 * concurrency test (shared_test.go): eight machines on eight goroutines run
 * it against the same maps while the test uses the maps' API directly.
 * Counters are updated with atomics, so their final values are exact.
 * Build: ./build.sh (clang-19 -target bpf -mcpu=v4 -O2 -g)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter { __u64 n; };
struct locked { struct bpf_spin_lock lock; __u64 a, b; };
struct lpm_key { __u32 prefixlen; __u32 addr; };

#define MAP(t, name, k, v, n, ...)            \
	struct {                              \
		__uint(type, t);              \
		__uint(max_entries, n);       \
		__type(key, k);               \
		__type(value, v);             \
		__VA_ARGS__                   \
	} name SEC(".maps")

MAP(BPF_MAP_TYPE_ARRAY, array, __u32, struct counter, 4);
MAP(BPF_MAP_TYPE_PERCPU_ARRAY, percpu_array, __u32, struct counter, 1);
MAP(BPF_MAP_TYPE_HASH, hash, __u32, struct counter, 1024);
MAP(BPF_MAP_TYPE_PERCPU_HASH, percpu_hash, __u32, struct counter, 64);
MAP(BPF_MAP_TYPE_LRU_HASH, lru_hash, __u32, struct counter, 32);
MAP(BPF_MAP_TYPE_LRU_PERCPU_HASH, lru_percpu_hash, __u32, struct counter, 32);
MAP(BPF_MAP_TYPE_HASH, locked_hash, __u32, struct locked, 4);
MAP(BPF_MAP_TYPE_LPM_TRIE, lpm, struct lpm_key, __u32, 256, __uint(map_flags, BPF_F_NO_PREALLOC););
MAP(BPF_MAP_TYPE_DEVMAP, devmap, __u32, __u32, 4);
MAP(BPF_MAP_TYPE_DEVMAP_HASH, devmap_hash, __u32, __u32, 4);
MAP(BPF_MAP_TYPE_CPUMAP, cpumap, __u32, struct bpf_cpumap_val, 1);
MAP(BPF_MAP_TYPE_XSKMAP, xskmap, __u32, __u32, 4);

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, __u64);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 16);
	__type(value, __u64);
} stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
};
struct inner inner0 SEC(".maps"), inner1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer_array SEC(".maps") = { .values = { &inner0, &inner1 } };

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = { .values = { &inner0, &inner1 } };

int tail(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} progs SEC(".maps") = { .values = { [0] = (void *)&tail } };

static __always_inline void count(void *map, __u32 key)
{
	struct counter *c = bpf_map_lookup_elem(map, &key);
	if (c)
		__sync_fetch_and_add(&c->n, 1);
}

/* The packet holds the goroutine's number and the iteration's. */
SEC("xdp")
int shared(struct xdp_md *ctx)
{
	__u32 *p = (void *)(long)ctx->data;
	if ((void *)(p + 2) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	__u32 g = p[0], i = p[1], zero = 0, one = 1;
	struct counter init = {};

	count(&array, 0);
	count(&percpu_array, 0);

	/* Key 7 is shared: insert if absent, then count; keys of our own
	 * come and go. */
	__u32 k = 7;
	bpf_map_update_elem(&hash, &k, &init, BPF_NOEXIST);
	count(&hash, 7);
	k = g * 100 + i % 50 + 100;
	bpf_map_update_elem(&hash, &k, &init, BPF_ANY);
	count(&hash, k);
	if (i % 3 == 0)
		bpf_map_delete_elem(&hash, &k);
	bpf_map_update_elem(&percpu_hash, &g, &init, BPF_NOEXIST);
	count(&percpu_hash, g);

	k = g * 1000 + i; /* more keys than room: LRU evicts */
	bpf_map_update_elem(&lru_hash, &k, &init, BPF_ANY);
	count(&lru_hash, k);
	bpf_map_update_elem(&lru_percpu_hash, &k, &init, BPF_ANY);
	count(&lru_percpu_hash, k);

	struct locked *l = bpf_map_lookup_elem(&locked_hash, &zero);
	if (l) {
		bpf_spin_lock(&l->lock);
		l->a++;
		l->b += 2;
		bpf_spin_unlock(&l->lock);
	}

	struct lpm_key lk = { 32, (g << 24) | (i & 0xff) };
	__u32 cls = g;
	bpf_map_update_elem(&lpm, &lk, &cls, BPF_ANY);
	lk.prefixlen = 8;
	bpf_map_lookup_elem(&lpm, &lk);
	if (i % 2)
		bpf_map_delete_elem(&lpm, &lk);

	__u64 v = i;
	bpf_map_push_elem(&queue, &v, BPF_EXIST);
	bpf_map_pop_elem(&queue, &v);
	bpf_map_push_elem(&stack, &v, BPF_EXIST);
	bpf_map_peek_elem(&stack, &v);

	__u64 *rec = bpf_ringbuf_reserve(&ringbuf, 16, 0);
	if (rec) {
		rec[0] = g;
		rec[1] = i;
		if (i % 4)
			bpf_ringbuf_submit(rec, 0);
		else
			bpf_ringbuf_discard(rec, 0);
	}
	bpf_ringbuf_output(&ringbuf, &v, sizeof(v), 0);
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &v, sizeof(v));

	void *in = bpf_map_lookup_elem(&outer_array, &zero);
	if (in)
		count(in, 0);
	in = bpf_map_lookup_elem(&outer_hash, &one);
	if (in)
		count(in, 0);

	bpf_map_lookup_elem(&devmap, &zero);
	bpf_map_lookup_elem(&devmap_hash, &zero);
	bpf_map_lookup_elem(&xskmap, &zero);
	bpf_redirect_map(&devmap, 0, 0);
	bpf_redirect_map(&devmap_hash, 0, 0);
	bpf_redirect_map(&cpumap, 0, 0);
	bpf_redirect_map(&xskmap, i % 4, 0);

	bpf_tail_call(ctx, &progs, 0);
	return XDP_ABORTED; /* the tail call failed */
}

SEC("xdp")
int tail(struct xdp_md *ctx)
{
	count(&array, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
