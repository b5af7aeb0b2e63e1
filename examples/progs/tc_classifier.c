/* tc_classifier.c — a tc (sched_cls) destination NAT for IPv4.
 *
 * Shows: direct packet reads through __sk_buff data/data_end,
 * bpf_skb_load_bytes, bpf_skb_store_bytes, bpf_l3_csum_replace and
 * bpf_l4_csum_replace (pseudo-header aware), writable __sk_buff fields (mark,
 * priority, tc_index, cb[]) and reads of len/protocol/pkt_type,
 * and bpf_get_hash_recalc (its value depends on a per-boot seed, so it is
 * only compared, never stored).
 *
 * Frames to nat_from get their destination rewritten to nat_to with both
 * checksums fixed, mark = 0x42 and priority = 6. Returns TC_ACT_OK for IPv4,
 * TC_ACT_UNSPEC (-1) for everything else.
 */
#include "common.h"

const volatile __u32 nat_from = 0x0a000002;	/* 10.0.0.2 */
const volatile __u32 nat_to = 0x0a000003;	/* 10.0.0.3 */

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))

SEC("tc")
int tc_dnat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__be32 old_dst, new_dst = bpf_htonl(nat_to);
	struct iphdr iph;
	__u32 l4_csum_off;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &iph, sizeof(iph)))
		return TC_ACT_SHOT;

	/* Scratch space for later tc programs: cb[] survives between them. */
	skb->cb[0] = skb->len;
	skb->cb[1] = bpf_ntohs(skb->protocol);
	skb->cb[2] = skb->pkt_type;
	skb->tc_index = iph.protocol;

	old_dst = iph.daddr;
	if (old_dst != bpf_htonl(nat_from))
		return TC_ACT_OK;

	switch (iph.protocol) {
	case IPPROTO_TCP:
		l4_csum_off = ETH_HLEN + iph.ihl * 4 + offsetof(struct tcphdr, check);
		break;
	case IPPROTO_UDP:
		l4_csum_off = ETH_HLEN + iph.ihl * 4 + offsetof(struct udphdr, check);
		break;
	default:
		l4_csum_off = 0;
	}
	/* The L4 checksum covers the address through the pseudo header. */
	if (l4_csum_off &&
	    bpf_l4_csum_replace(skb, l4_csum_off, old_dst, new_dst,
				BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_dst)))
		return TC_ACT_SHOT;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_dst, new_dst, sizeof(new_dst)))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, IP_DST_OFF, &new_dst, sizeof(new_dst), 0))
		return TC_ACT_SHOT;

	skb->mark = 0x42;
	skb->priority = 6;
	/* A flow hash for e.g. ECMP; never zero for an IPv4 flow. */
	if (bpf_get_hash_recalc(skb) == 0)
		skb->cb[3] = 1;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
