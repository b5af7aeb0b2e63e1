/* socket_filter.c — a classic socket filter written in C.
 *
 * Shows: legacy packet access with LD_ABS / LD_IND (the llvm.bpf.load.*
 * intrinsics; offsets are relative to skb->data, which is the IP header for
 * socket filters, and results come back in host byte order),
 * bpf_skb_load_bytes, and the writable cb[] area.
 *
 * Keeps IPv4 UDP datagrams to port 53 (returns skb->len, i.e. the whole
 * packet) and drops everything else (returns 0).
 */
#include "common.h"

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

SEC("socket")
int dns_filter(struct __sk_buff *skb)
{
	struct udphdr udp;
	__u32 ihl;

	if ((load_byte(skb, 0) >> 4) != 4)				/* LD_ABS B */
		return 0;
	if (load_byte(skb, offsetof(struct iphdr, protocol)) != IPPROTO_UDP)
		return 0;
	if (load_half(skb, offsetof(struct iphdr, frag_off)) & (IP_MF | IP_OFFSET))
		return 0;						/* LD_ABS H */
	ihl = (load_byte(skb, 0) & 0xf) * 4;
	if (load_half(skb, ihl + offsetof(struct udphdr, dest)) != 53)	/* LD_IND H */
		return 0;

	/* The same header again through the helper (network byte order). */
	if (bpf_skb_load_bytes(skb, ihl, &udp, sizeof(udp)))
		return 0;
	skb->cb[0] = bpf_ntohs(udp.len);
	skb->cb[1] = load_word(skb, offsetof(struct iphdr, saddr));	/* LD_ABS W */
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
