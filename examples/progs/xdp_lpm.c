/* xdp_lpm.c — a route classifier showing the less common map types.
 *
 * Shows: LPM_TRIE longest-prefix lookup, ARRAY_OF_MAPS and HASH_OF_MAPS
 * (statically initialised with inner maps), QUEUE push/peek, STACK
 * pop/push, LRU_HASH with bpf_map_delete_elem, and bpf_spin_lock protecting
 * a map value.
 *
 * The IPv4 destination is looked up in `routes` (filled by user space);
 * class 1 means "blackhole" and drops the frame, class 0 or no route passes.
 * `sources` counts the packets of each source whose traffic is delivered: a
 * source sending into a blackhole is forgotten.
 */
#include "common.h"

struct lpm_v4_key {
	__u32 prefixlen;	/* bits that must match */
	__be32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* required for LPM tries */
	__type(key, struct lpm_v4_key);
	__type(value, __u32);			/* route class */
} routes SEC(".maps");

/* Inner maps: one packet counter each. */
struct counter_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};
struct counter_map class0_packets SEC(".maps"), class1_packets SEC(".maps");
struct counter_map udp_packets SEC(".maps"), tcp_packets SEC(".maps");

/* Outer map indexed by route class. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct counter_map);
} by_class SEC(".maps") = {
	.values = { &class0_packets, &class1_packets },
};

/* Outer hash keyed by 0 (UDP) and 1 (TCP). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct counter_map);
} by_proto SEC(".maps") = {
	.values = { &udp_packets, &tcp_packets },
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, __be32);	/* IPv4 source */
	__type(value, __u64);	/* packets */
} sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);	/* recent frame lengths, oldest first */
} recent_lens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);	/* the last route class */
} last_class SEC(".maps");

struct totals {
	struct bpf_spin_lock lock;
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct totals);
} totals SEC(".maps");

__u32 oldest_len;	/* .bss: head of recent_lens after the push */
__u64 forgotten;	/* .bss: sources deleted from `sources` */
__s32 prev_class = -1;	/* .data: class of the previous frame, -1 if none */

static __always_inline void count_in(void *outer, __u32 key)
{
	__u32 zero = 0;
	void *inner = bpf_map_lookup_elem(outer, &key);
	__u64 *cnt;

	if (!inner)
		return;
	cnt = bpf_map_lookup_elem(inner, &zero);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

SEC("xdp")
int xdp_lpm(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__u32 len = data_end - data, zero = 0, class = 0, prev;
	struct lpm_v4_key key;
	struct totals *t;
	__u64 one = 1, *seen;
	__u32 *route;

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	key.prefixlen = 32;
	key.addr = iph->daddr;
	route = bpf_map_lookup_elem(&routes, &key);
	if (route)
		class = *route;

	count_in(&by_class, class & 1);
	if (iph->protocol == IPPROTO_UDP)
		count_in(&by_proto, 0);
	else if (iph->protocol == IPPROTO_TCP)
		count_in(&by_proto, 1);

	if (class == 1) {
		/* Fails with -ENOENT when the source was not known. */
		if (bpf_map_delete_elem(&sources, &iph->saddr) == 0)
			forgotten++;
	} else {
		seen = bpf_map_lookup_elem(&sources, &iph->saddr);
		if (seen)
			__sync_fetch_and_add(seen, 1);
		else
			bpf_map_update_elem(&sources, &iph->saddr, &one, BPF_NOEXIST);
	}

	/* BPF_EXIST on a full queue drops the oldest element. */
	bpf_map_push_elem(&recent_lens, &len, BPF_EXIST);
	if (bpf_map_peek_elem(&recent_lens, &oldest_len))
		oldest_len = 0;

	if (bpf_map_pop_elem(&last_class, &prev) == 0)
		prev_class = prev;
	bpf_map_push_elem(&last_class, &class, 0);

	t = bpf_map_lookup_elem(&totals, &zero);
	if (t) {
		bpf_spin_lock(&t->lock);
		t->packets++;
		t->bytes += len;
		bpf_spin_unlock(&t->lock);
	}

	return class == 1 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
