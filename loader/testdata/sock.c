// The socket helpers on the test runner's socket (skb->sk), for
// TestSocketHelpersKernel. Build: ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 out[16];

static __always_inline void socks(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk) {
		out[0] = 99;
		return;
	}
	out[1] = sk->family;
	out[2] = sk->state;
	struct bpf_sock *fs = bpf_sk_fullsock(sk);
	out[3] = fs != 0;
	if (fs) {
		out[4] = bpf_tcp_sock(fs) != 0;
		out[5] = bpf_get_listener_sock(fs) != 0;
	}
	out[6] = bpf_skc_to_tcp_sock(sk) != 0;
	out[7] = bpf_skc_to_udp6_sock(sk) != 0;
	out[8] = bpf_get_socket_uid(skb);
}

SEC("tc")
int tc_sock(struct __sk_buff *skb)
{
	socks(skb);
	return 0;
}

SEC("cgroup_skb/ingress")
int cg_sock(struct __sk_buff *skb)
{
	socks(skb);
	struct bpf_sock *sk = skb->sk;
	if (sk) {
		out[9] = bpf_sk_cgroup_id(sk);
		out[10] = bpf_sk_ancestor_cgroup_id(sk, 0);
		out[11] = bpf_sk_ancestor_cgroup_id(sk, 1);
	}
	out[12] = bpf_skb_ancestor_cgroup_id(skb, 0);
	out[13] = bpf_skb_cgroup_id(skb);
	return 1;
}

char _license[] SEC("license") = "GPL";
