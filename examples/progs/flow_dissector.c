/* flow_dissector.c — a BPF flow dissector for IPv4/IPv6 with TCP/UDP.
 *
 * Shows: filling struct bpf_flow_keys (reached through skb->flow_keys),
 * reading headers with direct packet access, and BPF_OK / BPF_DROP.
 * The kernel presets n_proto, nhoff and thoff (14 for Ethernet) before
 * calling the program; the filled keys are the result.
 *
 * Note: under BPF_PROG_TEST_RUN (and eth_get_headlen) there is no skb, so
 * bpf_skb_load_bytes always fails there; direct access is what works. The
 * kernel's selftest (progs/bpf_flow.c) falls back to bpf_skb_load_bytes
 * for non-linear skbs; that is left out here to keep the example short.
 */
#include "common.h"

/* Return a pointer to `size` bytes at `off` in the packet, NULL when the
 * linear data is shorter. */
static __always_inline void *header(struct __sk_buff *skb, __u32 off, __u32 size)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	void *hdr;

	/* The verifier only trusts packet offsets up to 0xffff in total. */
	if (off > 0xffff - size)
		return NULL;
	hdr = data + off;
	if (hdr + size > data_end)
		return NULL;
	return hdr;
}

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;
	__u32 off = keys->nhoff;
	__be16 *ports;
	__u8 proto;

	if (keys->n_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = header(skb, off, sizeof(*iph));
		__u16 frag;

		if (!iph || iph->ihl < 5)
			return BPF_DROP;
		keys->addr_proto = ETH_P_IP;
		keys->ipv4_src = iph->saddr;
		keys->ipv4_dst = iph->daddr;
		proto = iph->protocol;
		off += iph->ihl * 4;
		frag = bpf_ntohs(iph->frag_off);
		if (frag & (IP_MF | IP_OFFSET)) {
			keys->is_frag = 1;
			keys->is_first_frag = !(frag & IP_OFFSET);
			if (!keys->is_first_frag) {	/* no L4 header */
				keys->ip_proto = proto;
				keys->thoff = off;
				return BPF_OK;
			}
		}
	} else if (keys->n_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = header(skb, off, sizeof(*ip6));

		if (!ip6)
			return BPF_DROP;
		keys->addr_proto = ETH_P_IPV6;
		__builtin_memcpy(&keys->ipv6_src, &ip6->saddr, sizeof(ip6->saddr));
		__builtin_memcpy(&keys->ipv6_dst, &ip6->daddr, sizeof(ip6->daddr));
		keys->flow_label = *(__be32 *)ip6 & bpf_htonl(0x000fffff);
		proto = ip6->nexthdr;
		off += sizeof(*ip6);
	} else {
		return BPF_DROP;
	}

	keys->ip_proto = proto;
	keys->thoff = off;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		ports = header(skb, off, 2 * sizeof(*ports));
		if (!ports)
			return BPF_DROP;
		keys->sport = ports[0];
		keys->dport = ports[1];
	}
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
