// Programs that call kfuncs, for the kfunc differential tests
// (loader/kfunc_kernel_test.go). Build: ./build.sh.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

struct nf_conn {
	unsigned long status;
	__u32 mark;
} __attribute__((preserve_access_index));

struct nf_conn___init {
	struct nf_conn ct;
};
enum xdp_rss_hash_type___local { XDP_RSS_TYPE_NONE___local = 0 };
enum nf_nat_manip_type___local { NAT_SRC___local = 0, NAT_DST___local = 1 };
union nf_inet_addr {
	__u32 all[4];
	__be32 ip;
	__be32 ip6[4];
};

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_from_skb(struct __sk_buff *s, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, __u32 start, __u32 end) __ksym;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash, enum xdp_rss_hash_type___local *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *, struct bpf_sock_tuple *, __u32, struct bpf_ct_opts *, __u32) __ksym;
extern struct nf_conn___init *bpf_xdp_ct_alloc(struct xdp_md *, struct bpf_sock_tuple *, __u32, struct bpf_ct_opts *, __u32) __ksym;
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *, struct bpf_sock_tuple *, __u32, struct bpf_ct_opts *, __u32) __ksym;
extern struct nf_conn *bpf_ct_insert_entry(struct nf_conn___init *) __ksym;
extern void bpf_ct_release(struct nf_conn *) __ksym;
extern void bpf_ct_set_timeout(struct nf_conn___init *, __u32) __ksym;
extern int bpf_ct_set_status(const struct nf_conn___init *, __u32) __ksym;
extern int bpf_ct_change_status(struct nf_conn *, __u32) __ksym;
extern int bpf_ct_set_nat_info(struct nf_conn___init *, union nf_inet_addr *, int, enum nf_nat_manip_type___local) __ksym;

__u64 out[32];

SEC("xdp")
int xdp_dynptr(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u8 buf[20] = {};
	struct iphdr *ip;

	out[0] = bpf_dynptr_from_xdp(ctx, 0, &d);
	out[1] = bpf_dynptr_size(&d);
	ip = bpf_dynptr_slice(&d, ETH_HLEN, buf, sizeof(*ip));
	if (!ip)
		return XDP_ABORTED;
	out[2] = ip->ttl;
	out[3] = ip->daddr;
	__u8 ttl = 33;
	out[9] = bpf_dynptr_write(&d, ETH_HLEN + 8, &ttl, 1, 0);
	out[10] = bpf_dynptr_write(&d, 58, &ttl, 4, 0);
	out[4] = bpf_dynptr_slice(&d, 1000, buf, 8) == NULL;
	out[5] = bpf_dynptr_adjust(&d, 14, 20);
	out[6] = bpf_dynptr_size(&d);
	out[7] = bpf_dynptr_adjust(&d, 0, 100);
	out[8] = bpf_dynptr_from_xdp(ctx, 1, &d);
	/* Past the linear part of a jumbo frame: a fragment, or across. */
	bpf_dynptr_from_xdp(ctx, 0, &d);
	__u8 *p = bpf_dynptr_slice(&d, 4500, buf, 8);
	if (p) {
		out[11] = p[0] | (__u64)p[7] << 8;
		out[12] = p == buf;
	}
	p = bpf_dynptr_slice(&d, 3516, buf, 8); /* across the linear end */
	if (p) {
		out[13] = p[0] | (__u64)p[7] << 8;
		out[14] = p == buf;
	}
	out[15] = bpf_dynptr_write(&d, 4094, &ttl, 1, 0);
	return XDP_PASS;
}

SEC("tc")
int tc_dynptr(struct __sk_buff *skb)
{
	struct bpf_dynptr d;
	__u8 buf[20] = {};
	struct iphdr *ip;

	out[0] = bpf_dynptr_from_skb(skb, 0, &d);
	out[1] = bpf_dynptr_size(&d);
	ip = bpf_dynptr_slice(&d, ETH_HLEN, buf, sizeof(*ip));
	if (!ip)
		return 2;
	out[2] = ip->protocol;
	__u8 tos = 0x10;
	out[4] = bpf_dynptr_write(&d, ETH_HLEN + 1, &tos, 1, 0);
	out[5] = bpf_dynptr_write(&d, ETH_HLEN + 1, &tos, 1, 4);
	ip = bpf_dynptr_slice(&d, ETH_HLEN, buf, sizeof(*ip));
	if (ip)
		out[6] = ip->tos;
	out[3] = bpf_dynptr_slice(&d, skb->len - 2, buf, 4) == NULL;
	return 0;
}

SEC("xdp")
int xdp_iter(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	int *v, sum = 0, n = 0;

	bpf_rcu_read_lock();
	bpf_iter_num_new(&it, 2, 7);
	while ((v = bpf_iter_num_next(&it))) {
		sum += *v;
		n++;
	}
	bpf_iter_num_destroy(&it);
	bpf_rcu_read_unlock();
	out[0] = sum;
	out[1] = n;
	out[2] = bpf_iter_num_new(&it, 5, 1);
	bpf_iter_num_destroy(&it);
	out[3] = bpf_iter_num_new(&it, 0, 1 << 24);
	bpf_iter_num_destroy(&it);
	return XDP_PASS;
}

SEC("xdp")
int xdp_ct(struct xdp_md *ctx)
{
	struct bpf_ct_opts opts = { .netns_id = -1, .l4proto = 17 };
	struct bpf_sock_tuple t = {};
	struct nf_conn *ct;
	struct nf_conn___init *ci;

	t.ipv4.saddr = bpf_htonl(0x0a000001);
	t.ipv4.daddr = bpf_htonl(0x0a000002);
	t.ipv4.sport = bpf_htons(1234);
	t.ipv4.dport = bpf_htons(80);

	ct = bpf_xdp_ct_lookup(ctx, &t, sizeof(t.ipv4), &opts, sizeof(opts));
	out[0] = ct != NULL;
	out[1] = opts.error;
	if (ct)
		bpf_ct_release(ct);

	opts.l4proto = 1;
	opts.error = 0;
	ct = bpf_xdp_ct_lookup(ctx, &t, sizeof(t.ipv4), &opts, sizeof(opts));
	out[2] = opts.error;
	if (ct)
		bpf_ct_release(ct);
	opts.l4proto = 17;
	opts.error = 0;
	ct = bpf_xdp_ct_lookup(ctx, &t, 7, &opts, sizeof(opts));
	out[3] = opts.error;
	if (ct)
		bpf_ct_release(ct);
	opts.error = 0;
	opts.netns_id = -2;
	ct = bpf_xdp_ct_lookup(ctx, &t, sizeof(t.ipv4), &opts, sizeof(opts));
	out[4] = opts.error;
	if (ct)
		bpf_ct_release(ct);
	opts.netns_id = -1;
	opts.error = 0;

	ci = bpf_xdp_ct_alloc(ctx, &t, sizeof(t.ipv4), &opts, sizeof(opts));
	if (!ci) {
		out[5] = opts.error;
		return XDP_ABORTED;
	}
	out[6] = bpf_ct_set_status(ci, 0);
	out[7] = bpf_ct_set_status(ci, 0x8 | 0x2 | 0x80);
	bpf_ct_set_timeout(ci, 5000);
	ct = bpf_ct_insert_entry(ci);
	if (!ct)
		return XDP_DROP;
	out[8] = ct->status;
	ct->mark = 42;
	out[9] = bpf_ct_change_status(ct, 0x8);
	out[10] = bpf_ct_change_status(ct, 0x8 | 0x2 | 0x4);
	out[11] = ct->status;
	bpf_ct_release(ct);

	/* The other direction finds it, marked. */
	struct bpf_sock_tuple r = {};
	r.ipv4.saddr = t.ipv4.daddr;
	r.ipv4.daddr = t.ipv4.saddr;
	r.ipv4.sport = t.ipv4.dport;
	r.ipv4.dport = t.ipv4.sport;
	opts.dir = 9;
	ct = bpf_xdp_ct_lookup(ctx, &r, sizeof(r.ipv4), &opts, sizeof(opts));
	out[12] = ct != NULL;
	out[13] = opts.dir;
	if (ct) {
		out[14] = ct->mark;
		out[15] = ct->status;
		bpf_ct_release(ct);
	}
	/* A second insert of the same tuple fails. */
	ci = bpf_xdp_ct_alloc(ctx, &t, sizeof(t.ipv4), &opts, sizeof(opts));
	if (ci) {
		ct = bpf_ct_insert_entry(ci);
		out[16] = ct == NULL;
		if (ct)
			bpf_ct_release(ct);
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_nat(struct xdp_md *ctx)
{
	struct bpf_ct_opts opts = { .netns_id = -1, .l4proto = 6 };
	struct bpf_sock_tuple t = {}, r = {};
	union nf_inet_addr a = {};
	struct nf_conn___init *ci;
	struct nf_conn *ct;

	t.ipv4.saddr = bpf_htonl(0x0a000001);
	t.ipv4.daddr = bpf_htonl(0x0a000005);
	t.ipv4.sport = bpf_htons(4000);
	t.ipv4.dport = bpf_htons(443);
	ci = bpf_xdp_ct_alloc(ctx, &t, sizeof(t.ipv4), &opts, sizeof(opts));
	if (!ci)
		return XDP_ABORTED;
	a.ip = bpf_htonl(0xc0a80001);
	out[0] = bpf_ct_set_nat_info(ci, &a, 5000, NAT_SRC___local);
	a.ip = bpf_htonl(0xc0a80002);
	out[1] = bpf_ct_set_nat_info(ci, &a, -1, NAT_DST___local);
	ct = bpf_ct_insert_entry(ci);
	if (!ct)
		return XDP_DROP;
	out[2] = ct->status;
	bpf_ct_release(ct);

	/* The reply comes from the new destination to the new source. */
	r.ipv4.saddr = bpf_htonl(0xc0a80002);
	r.ipv4.daddr = bpf_htonl(0xc0a80001);
	r.ipv4.sport = bpf_htons(443);
	r.ipv4.dport = bpf_htons(5000);
	opts.dir = 9;
	ct = bpf_xdp_ct_lookup(ctx, &r, sizeof(r.ipv4), &opts, sizeof(opts));
	out[3] = ct != NULL;
	out[4] = opts.dir;
	out[5] = opts.error;
	if (ct)
		bpf_ct_release(ct);
	return XDP_PASS;
}

SEC("tc")
int tc_ct(struct __sk_buff *skb)
{
	struct bpf_ct_opts opts = { .netns_id = -1, .l4proto = 6 };
	struct bpf_sock_tuple t = {};
	struct nf_conn *ct;

	t.ipv4.saddr = bpf_htonl(0x0a000001);
	t.ipv4.daddr = bpf_htonl(0x0a000003);
	ct = bpf_skb_ct_lookup(skb, &t, sizeof(t.ipv4), &opts, 12);
	out[0] = ct != NULL;
	out[1] = opts.error;
	if (ct)
		bpf_ct_release(ct);
	return 0;
}

char _license[] SEC("license") = "GPL";
