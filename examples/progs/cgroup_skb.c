/* cgroup_skb.c — a cgroup egress filter.
 *
 * Shows: cgroup_skb context fields (family, remote_ip4, local_ip4, len,
 * protocol) taken from the socket and the packet, direct packet reads
 * (skb->data is the IP header here) and a per-family byte counter.
 *
 * Returns 1 (allow) or 0 (deny): traffic to blocked_ip and ICMP are denied.
 */
#include "common.h"

const volatile __u32 blocked_ip = 0x0a000063;	/* 10.0.0.99 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);	/* 0: IPv4, 1: IPv6 */
	__type(key, __u32);
	__type(value, __u64);	/* bytes allowed */
} egress_bytes SEC(".maps");

__u32 last_local_ip4, last_remote_ip4;	/* .bss, network byte order */

SEC("cgroup_skb/egress")
int egress_filter(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *iph = data;
	__u32 key;
	__u64 *bytes;

	if (skb->family == AF_INET) {
		last_local_ip4 = skb->local_ip4;
		last_remote_ip4 = skb->remote_ip4;
		if (skb->remote_ip4 == bpf_htonl(blocked_ip))
			return 0;
		if ((void *)(iph + 1) <= data_end && iph->protocol == IPPROTO_ICMP)
			return 0;
	}
	key = skb->protocol == bpf_htons(ETH_P_IPV6);
	bytes = bpf_map_lookup_elem(&egress_bytes, &key);
	if (bytes)
		__sync_fetch_and_add(bytes, skb->len);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
