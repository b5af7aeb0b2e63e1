// SPDX-License-Identifier: GPL-2.0
// Reads every member bpfscope fills of the kernel objects behind the
// context (bpf_cast_to_kern_ctx) into globals, before and after helpers
// move the packet, for a differential test against the kernel. Built
// with a vmlinux.h of the running kernel.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

void *bpf_cast_to_kern_ctx(void *obj) __ksym;
void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

struct skb_view {
	__u64 tstamp, head_room, data_end_off, data_meta_off;
	__u32 len, data_len, mac_len, hdr_len, queue_mapping;
	__u32 pkt_type, ip_summed, l4_hash, sw_hash, tc_index, csum;
	__u32 priority, skb_iif, hash, vlan_all, mark, protocol;
	__u32 transport_header, network_header, mac_header, tail, end, truesize, users;
	__u32 encapsulation, inner_protocol, inner_network_header, napi_id, secmark;
	__u8 cb[32];
};

struct skb_view skb_before, skb_after;
// The MAC header read through head + mac_header (bpf_rdonly_cast).
__u32 eth_proto, eth_dst0, ip_first;
__u32 step SEC(".data.step"); // what the program does between the reads

static __always_inline void read_skb(struct sk_buff *k, struct skb_view *v)
{
	v->tstamp = k->tstamp;
	v->head_room = k->data - k->head;
	v->len = k->len;
	v->data_len = k->data_len;
	v->mac_len = k->mac_len;
	v->hdr_len = k->hdr_len;
	v->queue_mapping = k->queue_mapping;
	v->pkt_type = k->pkt_type;
	v->ip_summed = k->ip_summed;
	v->l4_hash = k->l4_hash;
	v->sw_hash = k->sw_hash;
	v->tc_index = k->tc_index;
	v->csum = k->csum;
	v->priority = k->priority;
	v->skb_iif = k->skb_iif;
	v->hash = k->hash;
	v->vlan_all = k->vlan_all;
	v->mark = k->mark;
	v->protocol = k->protocol;
	v->transport_header = k->transport_header;
	v->network_header = k->network_header;
	v->mac_header = k->mac_header;
	v->tail = k->tail;
	v->end = k->end;
	v->truesize = k->truesize;
	v->users = k->users.refs.counter;
	v->encapsulation = k->encapsulation;
	v->inner_protocol = k->inner_protocol;
	v->inner_network_header = k->inner_network_header;
	v->napi_id = k->napi_id;
	v->secmark = k->secmark;
	__builtin_memcpy(v->cb, k->cb, 28);
	struct bpf_skb_data_end *cb = (void *)k->cb;
	if (cb->data_end)
		v->data_end_off = (__u64)cb->data_end - (__u64)k->head;
	if (cb->data_meta)
		v->data_meta_off = (__u64)cb->data_meta - (__u64)k->head;
}

// l3 types may write cb only (of what this reads).
static __always_inline int skb_l3(struct __sk_buff *skb)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);

	read_skb(k, &skb_before);
	skb->cb[1] = 0xabcdef;
	read_skb(k, &skb_after);
	return 0;
}

SEC("tc")
int kctx_tc(struct __sk_buff *skb)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);

	read_skb(k, &skb_before);
	struct ethhdr *eth = bpf_rdonly_cast(k->head + k->mac_header, bpf_core_type_id_kernel(struct ethhdr));
	eth_proto = eth->h_proto;
	eth_dst0 = eth->h_dest[0];
	struct iphdr *ip = bpf_rdonly_cast(k->head + k->network_header, bpf_core_type_id_kernel(struct iphdr));
	ip_first = ip->ttl;
	skb->mark = 0x1234;
	skb->priority = 7;
	skb->cb[1] = 0xabcdef;
	skb->tc_index = 3;
	skb->tc_classid = 0x10002;
	switch (step) {
	case 1:
		bpf_skb_change_tail(skb, skb->len + 100, 0);
		break;
	case 2:
		bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 0);
		break;
	case 3:
		bpf_skb_vlan_push(skb, bpf_htons(0x8100), 42);
		break;
	case 4:
		bpf_skb_change_head(skb, 14, 0);
		break;
	case 5:
		bpf_set_hash(skb, 0x5555);
		break;
	case 6:
		bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, 0);
		break;
	}
	read_skb(k, &skb_after);
	return 0;
}

SEC("socket")
int kctx_socket(struct __sk_buff *skb) { return skb_l3(skb); }

SEC("cgroup_skb/ingress")
int kctx_cgroup(struct __sk_buff *skb) { return skb_l3(skb) + 1; }

SEC("lwt_in")
int kctx_lwt(struct __sk_buff *skb) { return skb_l3(skb); }

struct xdp_view {
	__u64 data, data_end, data_meta;
	__u32 frame_sz, flags;
};

struct xdp_view xdp_before, xdp_after;

static __always_inline void read_xdp(struct xdp_buff *k, struct xdp_view *v)
{
	v->data = (__u64)k->data - (__u64)k->data_hard_start;
	v->data_end = (__u64)k->data_end - (__u64)k->data_hard_start;
	v->data_meta = (__u64)k->data_meta - (__u64)k->data_hard_start;
	v->frame_sz = k->frame_sz;
	v->flags = k->flags;
}

SEC("xdp")
int kctx_xdp(struct xdp_md *ctx)
{
	struct xdp_buff *k = bpf_cast_to_kern_ctx(ctx);

	read_xdp(k, &xdp_before);
	switch (step) {
	case 1:
		bpf_xdp_adjust_head(ctx, -20);
		break;
	case 2:
		bpf_xdp_adjust_meta(ctx, -8);
		break;
	case 3:
		bpf_xdp_adjust_tail(ctx, -10);
		break;
	case 4:
		bpf_xdp_adjust_tail(ctx, -4000); // drops fragments
		break;
	}
	read_xdp(k, &xdp_after);
	return XDP_PASS;
}

__u32 nf_hook, nf_pf, nf_len, nf_protocol, nf_network_header;

SEC("netfilter")
int kctx_nf(struct bpf_nf_ctx *ctx)
{
	struct bpf_nf_ctx *k = bpf_cast_to_kern_ctx(ctx);
	const struct nf_hook_state *state = k->state;
	struct sk_buff *skb = k->skb;

	nf_hook = state->hook;
	nf_pf = state->pf;
	nf_len = skb->len;
	nf_protocol = skb->protocol;
	nf_network_header = skb->network_header;
	return 1; // NF_ACCEPT
}

char _license[] SEC("license") = "GPL";
