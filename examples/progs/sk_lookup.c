/* sk_lookup.c — a socket lookup (sk_lookup) program.
 *
 * Shows: the bpf_sk_lookup context (family, protocol, addresses and ports;
 * local_port is in host byte order, remote_port in network byte order) and
 * the SK_PASS / SK_DROP verdicts. A real program would usually also pick a
 * socket from a SOCKMAP with bpf_sk_assign.
 *
 * Drops TCP connections to the blocked port (from the `blocked_ports` hash)
 * and counts lookups per protocol.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u16);	/* local port, host order */
	__type(value, __u8);	/* unused */
} blocked_ports SEC(".maps");

__u64 tcp_lookups, udp_lookups;	/* .bss */
__u32 last_remote_ip4;		/* .bss, network byte order */

SEC("sk_lookup")
int port_guard(struct bpf_sk_lookup *ctx)
{
	__u16 port = ctx->local_port;

	if (ctx->protocol == IPPROTO_UDP) {
		udp_lookups++;
		return SK_PASS;
	}
	tcp_lookups++;
	if (ctx->family == AF_INET)
		last_remote_ip4 = ctx->remote_ip4;
	if (bpf_map_lookup_elem(&blocked_ports, &port))
		return SK_DROP;
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
