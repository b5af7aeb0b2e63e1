/* lwt.c — lightweight tunnel programs (routes with "encap bpf").
 *
 * Shows: LWT_IN and LWT_XMIT contexts: skb->data starts at the IP header,
 * direct packet reads, bpf_skb_load_bytes, and the BPF_OK / BPF_DROP
 * return codes.
 *
 *   lwt_ttl_guard (lwt_in):   drops IPv4 packets whose TTL is 0 or 1
 *   lwt_count (lwt_xmit):     counts bytes per IP protocol, always BPF_OK
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);	/* IP protocol */
	__type(value, __u64);	/* bytes */
} proto_bytes SEC(".maps");

SEC("lwt_in")
int lwt_ttl_guard(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *iph = data;

	if ((void *)(iph + 1) > data_end || iph->version != 4)
		return BPF_OK;
	return iph->ttl <= 1 ? BPF_DROP : BPF_OK;
}

SEC("lwt_xmit")
int lwt_count(struct __sk_buff *skb)
{
	__u8 proto = 0;
	__u32 key;
	__u64 *bytes;

	if (skb->protocol == bpf_htons(ETH_P_IP))
		bpf_skb_load_bytes(skb, offsetof(struct iphdr, protocol), &proto, 1);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, nexthdr), &proto, 1);
	key = proto;
	bytes = bpf_map_lookup_elem(&proto_bytes, &key);
	if (bytes)
		__sync_fetch_and_add(bytes, skb->len);
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
