// SPDX-License-Identifier: GPL-2.0
// bpf_snprintf_btf over the frame's Ethernet and IPv4 headers, with the
// kernel type ids libbpf's CO-RE relocations give (bpf_core_type_id_kernel).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char eth_text[256];
char ip_text[512];
long eth_ret, ip_ret;

SEC("xdp")
int show_headers(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	struct btf_ptr e = { .ptr = eth, .type_id = bpf_core_type_id_kernel(struct ethhdr) };
	eth_ret = bpf_snprintf_btf(eth_text, sizeof(eth_text), &e, sizeof(e), BTF_F_COMPACT);
	struct btf_ptr i = { .ptr = ip, .type_id = bpf_core_type_id_kernel(struct iphdr) };
	ip_ret = bpf_snprintf_btf(ip_text, sizeof(ip_text), &i, sizeof(i), 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
