/* xdp_tailcall.c — a protocol dispatcher built from tail calls.
 *
 * Shows: a PROG_ARRAY initialised statically in the ELF (libbpf/cilium
 * ".values" syntax), bpf_tail_call chaining (dispatch -> ipv4 -> udp) and
 * the fall-through when a slot is empty.
 *
 *   xdp_dispatch: IPv4 -> slot 0, IPv6 -> slot 1, others -> slot 3 (empty,
 *                 so execution continues and the frame passes)
 *   handle_ipv4:  drops TTL <= 1, UDP -> slot 2, others pass
 *   handle_ipv6:  passes
 *   handle_udp:   drops UDP to the discard port (9), others pass
 */
#include "common.h"

enum { SLOT_IPV4, SLOT_IPV6, SLOT_UDP, SLOT_OTHER };

/* .bss counters: one per program, to show which ones ran. */
__u64 dispatched, ipv4_seen, ipv6_seen, udp_seen, fell_through;

int handle_ipv4(struct xdp_md *ctx);
int handle_ipv6(struct xdp_md *ctx);
int handle_udp(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = {
		[SLOT_IPV4] = (void *)&handle_ipv4,
		[SLOT_IPV6] = (void *)&handle_ipv6,
		[SLOT_UDP] = (void *)&handle_udp,
	},
};

SEC("xdp")
int xdp_dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	dispatched++;
	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		bpf_tail_call(ctx, &jump_table, SLOT_IPV4);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		bpf_tail_call(ctx, &jump_table, SLOT_IPV6);
	else
		bpf_tail_call(ctx, &jump_table, SLOT_OTHER);
	/* Only reached when the tail call found no program. */
	fell_through++;
	return XDP_PASS;
}

SEC("xdp")
int handle_ipv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + ETH_HLEN;

	ipv4_seen++;
	if ((void *)(iph + 1) > data_end)
		return XDP_ABORTED;
	if (iph->ttl <= 1)
		return XDP_DROP;
	if (iph->protocol == IPPROTO_UDP)
		bpf_tail_call(ctx, &jump_table, SLOT_UDP);
	return XDP_PASS;
}

SEC("xdp")
int handle_ipv6(struct xdp_md *ctx)
{
	ipv6_seen++;
	return XDP_PASS;
}

SEC("xdp")
int handle_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + ETH_HLEN;
	struct udphdr *udp;

	udp_seen++;
	if ((void *)(iph + 1) > data_end)
		return XDP_ABORTED;
	udp = (void *)iph + (iph->ihl & 0xf) * 4;
	if ((void *)(udp + 1) > data_end)
		return XDP_ABORTED;
	return udp->dest == bpf_htons(9) ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
