/* tc_resize.c — changing the size and protocol of an skb from tc.
 *
 * Shows: bpf_skb_change_tail, bpf_skb_adjust_room (BPF_ADJ_ROOM_MAC),
 * bpf_skb_change_head, bpf_skb_change_proto and bpf_skb_change_type, with
 * bpf_skb_store_bytes / bpf_skb_load_bytes to fill the new room.
 *
 *   tc_trailer:   appends a 4-byte trailer (0xdeadbeef)
 *   tc_vlan_push: inserts an 802.1Q tag (VLAN 100) after the MACs
 *   tc_outer_eth: prepends a second Ethernet header (EtherType 0x88b5)
 *   tc_nat46:     turns IPv4 into IPv6 with IPv4-mapped addresses
 */
#include "common.h"

#define PACKET_HOST 0

SEC("tc")
int tc_trailer(struct __sk_buff *skb)
{
	__u32 magic = bpf_htonl(0xdeadbeef), len = skb->len;

	if (bpf_skb_change_tail(skb, len + sizeof(magic), 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, len, &magic, sizeof(magic), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int tc_vlan_push(struct __sk_buff *skb)
{
	/* adjust_room(MAC) opens 4 bytes right after the 14-byte Ethernet
	 * header; the old EtherType at offset 12 must move behind the tag. */
	__be16 tag[3] = { bpf_htons(ETH_P_8021Q), bpf_htons(100), 0 };

	if (bpf_skb_load_bytes(skb, 12, &tag[2], sizeof(tag[2])))
		return TC_ACT_SHOT;
	if (bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 12, tag, sizeof(tag), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int tc_outer_eth(struct __sk_buff *skb)
{
	struct ethhdr outer;

	if (bpf_skb_load_bytes(skb, 0, &outer, sizeof(outer)))
		return TC_ACT_SHOT;
	outer.h_proto = bpf_htons(0x88b5);	/* IEEE local experimental */
	if (bpf_skb_change_head(skb, sizeof(outer), 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, &outer, sizeof(outer), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* IPv4-mapped addresses (::ffff:a.b.c.d) add 0xffff twice to the pseudo
 * header sum, which is a no-op in one's complement: the TCP/UDP checksum
 * stays valid without any fix-up. */
SEC("tc")
int tc_nat46(struct __sk_buff *skb)
{
	__be16 proto = bpf_htons(ETH_P_IPV6);
	struct ipv6hdr ip6 = {};
	struct iphdr iph;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &iph, sizeof(iph)) || iph.ihl != 5)
		return TC_ACT_OK;

	ip6.version = 6;
	ip6.payload_len = bpf_htons(bpf_ntohs(iph.tot_len) - sizeof(iph));
	ip6.nexthdr = iph.protocol;
	ip6.hop_limit = iph.ttl;
	ip6.saddr.in6_u.u6_addr16[5] = 0xffff;
	ip6.saddr.in6_u.u6_addr32[3] = iph.saddr;
	ip6.daddr.in6_u.u6_addr16[5] = 0xffff;
	ip6.daddr.in6_u.u6_addr32[3] = iph.daddr;

	/* Grows the network header by 20 bytes and sets skb->protocol. */
	if (bpf_skb_change_proto(skb, proto, 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, sizeof(proto), 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6), 0))
		return TC_ACT_SHOT;
	if (bpf_skb_change_type(skb, PACKET_HOST))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
