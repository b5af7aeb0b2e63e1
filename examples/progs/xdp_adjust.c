/* xdp_adjust.c — growing and shrinking XDP frames.
 *
 * Shows: bpf_xdp_adjust_head (push a VLAN tag), bpf_xdp_adjust_tail (append
 * a trailer, trim bytes), bpf_xdp_adjust_meta (metadata in front of the
 * frame), bpf_xdp_load_bytes / bpf_xdp_store_bytes (copy without direct
 * packet access), bpf_xdp_get_buff_len and bpf_csum_diff.
 */
#include "common.h"

const volatile __u16 vlan_id = 100;

/* Insert an 802.1Q tag after the MAC addresses: 4 more bytes at the front. */
SEC("xdp")
int xdp_vlan_push(struct xdp_md *ctx)
{
	__u8 macs[2 * ETH_ALEN];
	__be16 tag[2];

	if (bpf_xdp_load_bytes(ctx, 0, macs, sizeof(macs)))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(tag)))
		return XDP_ABORTED;
	/* The frame now starts 4 bytes earlier: move the MACs there and put
	 * the tag between them and the original EtherType. */
	tag[0] = bpf_htons(ETH_P_8021Q);
	tag[1] = bpf_htons(vlan_id & 0x0fff);
	if (bpf_xdp_store_bytes(ctx, 0, macs, sizeof(macs)) ||
	    bpf_xdp_store_bytes(ctx, sizeof(macs), tag, sizeof(tag)))
		return XDP_ABORTED;
	return XDP_PASS;
}

struct trailer {
	__u32 orig_len;		/* bpf_xdp_get_buff_len before growing */
	__u32 ip_csum;		/* bpf_csum_diff over the 20-byte IPv4 header */
};

/* Append an 8-byte trailer describing the frame, then bounce it (XDP_TX). */
SEC("xdp")
int xdp_trailer(struct xdp_md *ctx)
{
	__u32 orig_len = bpf_xdp_get_buff_len(ctx);
	struct trailer t = {};
	__u8 ip[20];

	if (bpf_xdp_load_bytes(ctx, ETH_HLEN, ip, sizeof(ip)))
		return XDP_PASS;	/* too short for an IPv4 header */
	/* Sum of the header's 16-bit words; folds to 0xffff when the IPv4
	 * header checksum is correct. */
	t.ip_csum = bpf_csum_diff(NULL, 0, (__be32 *)ip, sizeof(ip), 0);
	t.orig_len = orig_len;

	if (bpf_xdp_adjust_tail(ctx, sizeof(t)))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, orig_len, &t, sizeof(t)))
		return XDP_ABORTED;
	return XDP_TX;
}

/* Put the EtherType into 4 bytes of metadata and trim 4 bytes of tail. */
SEC("xdp")
int xdp_meta(struct xdp_md *ctx)
{
	void *data, *data_end, *meta;
	struct ethhdr *eth;
	__u32 *m;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m)))
		return XDP_ABORTED;
	/* Every adjust call invalidates packet pointers: reload them. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	meta = (void *)(long)ctx->data_meta;
	m = meta;
	eth = data;
	if ((void *)(m + 1) > data || (void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	*m = bpf_ntohs(eth->h_proto);

	if (bpf_xdp_adjust_tail(ctx, -4))
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
