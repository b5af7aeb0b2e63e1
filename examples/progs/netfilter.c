/* netfilter.c — a BPF netfilter hook program.
 *
 * Shows: struct bpf_nf_ctx (state and skb are kernel pointers, read through
 * BTF with CO-RE: the local struct definitions below only name the fields
 * used and are relocated against the running kernel's BTF), and the
 * NF_ACCEPT / NF_DROP verdicts.
 *
 * Accepts IPv4-family hooks whose packet holds at least an IPv4 header;
 * drops the rest. Records the packet length in .bss.
 */
#include "common.h"

#define NF_DROP 0
#define NF_ACCEPT 1
#define NFPROTO_IPV4 2

/* Not in the 6.1 uapi headers; the kernel defines it as below. */
struct nf_hook_state {
	__u8 hook;
	__u8 pf;
} __attribute__((preserve_access_index));

struct sk_buff {
	unsigned int len;
} __attribute__((preserve_access_index));

struct bpf_nf_ctx {
	const struct nf_hook_state *state;
	struct sk_buff *skb;
};

__u32 last_len, last_hook;	/* .bss */

SEC("netfilter")
int nf_ipv4_only(struct bpf_nf_ctx *ctx)
{
	const struct nf_hook_state *state = ctx->state;
	struct sk_buff *skb = ctx->skb;

	last_len = skb->len;
	last_hook = state->hook;
	if (state->pf != NFPROTO_IPV4 || skb->len < sizeof(struct iphdr))
		return NF_DROP;
	return NF_ACCEPT;
}

char LICENSE[] SEC("license") = "GPL";
