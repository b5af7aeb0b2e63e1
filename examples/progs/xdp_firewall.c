/* xdp_firewall.c — a small stateless XDP firewall.
 *
 * Shows: Ethernet/IPv4/IPv6/TCP/UDP/ICMP parsing with direct packet access
 * and bounds checks; a blocklist of source addresses in HASH maps; per-action
 * counters in an ARRAY (packets) and a PERCPU_ARRAY (bytes) updated by a
 * static noinline subprogram; configuration in .rodata; globals in .data and
 * .bss; bpf_printk; answering ICMP echo requests in place with XDP_TX
 * (swap MACs and IPs, incremental checksum update).
 *
 * Verdicts: frames longer than max_frame_len or from a blocked source are
 * dropped, ICMP echo requests to IPv4 are answered (XDP_TX), frames too short
 * for their headers are aborted, everything else passes.
 */
#include "common.h"

/* Configuration (.rodata): user space may change it before loading. */
const volatile __u32 max_frame_len = 1514;
const volatile __u8 answer_ping = 1;

/* Globals: .data has an initial value, .bss starts zeroed. */
__u32 config_version = 3;	/* .data */
__u64 packets_seen;		/* .bss */
__u64 bytes_seen;		/* .bss */
__u16 last_dport;		/* .bss, host byte order */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be32);	/* IPv4 source address */
	__type(value, __u64);	/* packets dropped */
} blocked_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct in6_addr);	/* IPv6 source address */
	__type(value, __u64);		/* packets dropped */
} blocked_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);	/* XDP_ABORTED .. XDP_REDIRECT */
	__type(key, __u32);
	__type(value, __u64);	/* packets */
} action_packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);	/* bytes, per CPU */
} action_bytes SEC(".maps");

/* A real BPF-to-BPF call: count the verdict and return it. */
static __noinline int record(__u32 action, __u64 len)
{
	__u64 *v;

	v = bpf_map_lookup_elem(&action_packets, &action);
	if (v)
		__sync_fetch_and_add(v, 1);
	v = bpf_map_lookup_elem(&action_bytes, &action);
	if (v)
		*v += len;	/* per-CPU value: no atomic needed */
	return action;
}

static __always_inline void note_ports(void *l4, void *data_end, __u8 proto)
{
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) <= data_end)
			last_dport = bpf_ntohs(udp->dest);
	} else if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) <= data_end)
			last_dport = bpf_ntohs(tcp->dest);
	}
}

/* Turn an ICMP echo request into a reply in place. */
static __always_inline int answer_echo(struct ethhdr *eth, struct iphdr *iph,
				       struct icmphdr *icmp)
{
	__u8 mac[ETH_ALEN];
	__be32 addr;
	__u32 sum;

	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);

	addr = iph->saddr;	/* swapping addresses keeps the IP checksum */
	iph->saddr = iph->daddr;
	iph->daddr = addr;

	/* type 8 -> 0 lowers the (type,code) word by 0x0800, so the
	 * one's-complement checksum grows by 0x0800 (RFC 1624). */
	icmp->type = ICMP_ECHOREPLY;
	sum = bpf_ntohs(icmp->checksum) + 0x0800;
	sum = (sum & 0xffff) + (sum >> 16);
	icmp->checksum = bpf_htons(sum);
	return XDP_TX;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct ethhdr *eth = data;
	__u64 *hits;

	packets_seen++;
	bytes_seen += len;

	if (len > max_frame_len)
		return record(XDP_DROP, len);
	if ((void *)(eth + 1) > data_end)
		return record(XDP_ABORTED, len);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		void *l4;

		if ((void *)(iph + 1) > data_end || iph->ihl < 5)
			return record(XDP_ABORTED, len);
		hits = bpf_map_lookup_elem(&blocked_v4, &iph->saddr);
		if (hits) {
			__sync_fetch_and_add(hits, 1);
			bpf_printk("xdp_firewall: drop from %x", bpf_ntohl(iph->saddr));
			return record(XDP_DROP, len);
		}
		l4 = (void *)iph + iph->ihl * 4;
		if (iph->protocol == IPPROTO_ICMP && answer_ping) {
			struct icmphdr *icmp = l4;

			if ((void *)(icmp + 1) > data_end)
				return record(XDP_ABORTED, len);
			if (icmp->type == ICMP_ECHO && icmp->code == 0)
				return record(answer_echo(eth, iph, icmp), len);
		}
		note_ports(l4, data_end, iph->protocol);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct in6_addr src;

		if ((void *)(ip6 + 1) > data_end)
			return record(XDP_ABORTED, len);
		src = ip6->saddr;	/* map keys must not point into the packet */
		hits = bpf_map_lookup_elem(&blocked_v6, &src);
		if (hits) {
			__sync_fetch_and_add(hits, 1);
			return record(XDP_DROP, len);
		}
		note_ports(ip6 + 1, data_end, ip6->nexthdr);
	}
	return record(XDP_PASS, len);
}

char LICENSE[] SEC("license") = "GPL";
