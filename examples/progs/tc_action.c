/* tc_action.c — a sched_act (tc action) program.
 *
 * Shows: the same __sk_buff as tc classifiers with a different program type;
 * direct packet reads and writes to priority/mark.
 *
 * Sets skb->priority from the IPv4 DSCP and skb->mark to the frame length,
 * then returns TC_ACT_PIPE (3, continue with the next action);
 * non-IPv4 frames get TC_ACT_OK (0).
 */
#include "common.h"

SEC("action")
int tc_dscp_priority(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	skb->priority = iph->tos >> 2;
	skb->mark = skb->len;
	return TC_ACT_PIPE;
}

char LICENSE[] SEC("license") = "GPL";
