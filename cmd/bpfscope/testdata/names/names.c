// A program whose every global, map key and value has a C type worth
// naming: traces of it are checked by names_test.go. build.sh builds it
// with -g (names.o), with -g and the DWARF stripped (names-nodwarf.o),
// and, with legacy map definitions, which need no BTF, without -g
// (names-nog.o) and with -g and the BTF removed (names-nobtf.o).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum verdict { V_PASS = 1, V_DROP = 2 };

struct flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	enum verdict last;
	__u8 mac[6];
	__u16 flags : 4, kind : 12;
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct config {
	__u32 max_frame_len;
	__u16 ports[4];
};

#ifdef LEGACY_MAPS
struct bpf_map_def {
	unsigned int type, key_size, value_size, max_entries, map_flags;
};
struct bpf_map_def SEC("maps") flows = {
	.type = BPF_MAP_TYPE_HASH, .key_size = sizeof(struct flow_key),
	.value_size = sizeof(struct flow_stats), .max_entries = 64,
};
#else
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct in6_addr);
	__type(value, __u32);
} peers6 SEC(".maps");
#endif

const volatile struct config cfg = { .max_frame_len = 1500, .ports = { 53, 80 } };
struct counter counters[4];	/* .bss */
__u64 bytes_seen;		/* .bss */
__u32 hits SEC(".data.hits") = 7;

SEC("xdp")
int names(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct udphdr *udp = (void *)(iph + 1);
	__u64 len = data_end - data;

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (len > cfg.max_frame_len)
		return XDP_DROP;
	bytes_seen += len;
	counters[3].bytes += len;
	hits++;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || iph->protocol != 17 /* IPPROTO_UDP */)
		return XDP_PASS;

	struct flow_key key = {
		.saddr = iph->saddr, .daddr = iph->daddr,
		.sport = udp->source, .dport = udp->dest, .proto = iph->protocol,
	};
	struct flow_stats *st = bpf_map_lookup_elem(&flows, &key);
	if (!st) {
		struct flow_stats init = { .last = V_PASS, .kind = 5 };
		__builtin_memcpy(init.mac, eth->h_source, 6);
		bpf_map_update_elem(&flows, &key, &init, BPF_ANY);
		st = bpf_map_lookup_elem(&flows, &key);
		if (!st)
			return XDP_ABORTED;
	}
	st->packets++;
	st->bytes += len;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
