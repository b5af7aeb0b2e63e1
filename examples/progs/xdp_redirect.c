/* xdp_redirect.c — XDP redirects and FIB lookups.
 *
 * Shows: bpf_redirect to an ifindex, bpf_redirect_map through a DEVMAP and a
 * CPUMAP (the flags argument is the verdict when the slot is empty), and
 * bpf_fib_lookup with MAC rewriting.
 *
 * Under BPF_PROG_TEST_RUN (without live frames) a redirect is not carried
 * out: the run just returns XDP_REDIRECT (4).
 *
 * xdp_fib_forward depends on the host's routes and neighbours: its result
 * (and fib_rc) is environment-dependent.
 */
#include "common.h"

const volatile __u32 out_ifindex = 1;	/* loopback */

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);	/* ifindex */
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

__s32 fib_rc = -1;	/* .data: last bpf_fib_lookup result */

SEC("xdp")
int xdp_redirect_ifindex(struct xdp_md *ctx)
{
	return bpf_redirect(out_ifindex, 0);
}

/* Pick a port by UDP destination port; pass when that slot is empty. */
SEC("xdp")
int xdp_redirect_devmap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct udphdr *udp = (void *)(iph + 1);

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    iph->ihl != 5 || iph->protocol != IPPROTO_UDP)
		return XDP_PASS;
	return bpf_redirect_map(&tx_ports, bpf_ntohs(udp->dest) & 3, XDP_PASS);
}

/* Steer everything to CPU 0; drop when no CPU queue is configured. */
SEC("xdp")
int xdp_redirect_cpumap(struct xdp_md *ctx)
{
	return bpf_redirect_map(&cpus, 0, XDP_DROP);
}

/* Route IPv4 with the kernel FIB; forward on success, else pass up. */
SEC("xdp")
int xdp_fib_forward(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	long rc;

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	fib.family = AF_INET;
	fib.tos = iph->tos;
	fib.l4_protocol = iph->protocol;
	fib.tot_len = bpf_ntohs(iph->tot_len);
	fib.ipv4_src = iph->saddr;
	fib.ipv4_dst = iph->daddr;
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	fib_rc = rc;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
