/* hostile.c — the base of hostile objects (hostile_test.go): small, but its
 * maps claim huge sizes, and its BTF is patched into a cycle by the tests.
 * Build: ./build.sh (clang-19 -target bpf -mcpu=v4 -O2 -g)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The tests make leaf's member a node again: node holds leaf holds node... */
struct leaf { int x; };
struct node { struct leaf l; };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct node);
} nodes SEC(".maps");

/* 512 MiB each as values alone: together past any laptop's patience. */
#define BIG_ARRAY(name)                             \
	struct {                                    \
		__uint(type, BPF_MAP_TYPE_ARRAY);   \
		__uint(max_entries, 1 << 26);       \
		__type(key, int);                   \
		__type(value, long);                \
	} name SEC(".maps")
BIG_ARRAY(big0);
BIG_ARRAY(big1);
BIG_ARRAY(big2);
BIG_ARRAY(big3);

/* A hash map's claim costs nothing until elements arrive, as with
 * BPF_F_NO_PREALLOC in the kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 30);
	__type(key, int);
	__type(value, long);
} claims SEC(".maps");

SEC("xdp")
int touch(struct xdp_md *ctx)
{
	int k = 0;
	long one = 1;
	struct node *n = bpf_map_lookup_elem(&nodes, &k);
	bpf_map_update_elem(&claims, &k, &one, BPF_ANY);
	long *v = bpf_map_lookup_elem(&big3, &k);
	if (v)
		*v += 1;
	return n && n->l.x ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
