// Local storage helpers: socket storage on the test runner's socket (tc,
// cgroup_skb) and task storage on the current task (XDP), for
// TestStorageKernel. Build: ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sk_st SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} task_st SEC(".maps");

__u64 out[16];

static __always_inline void sk_storage(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	__u64 init = 7, *v;

	if (!sk)
		return;
	v = bpf_sk_storage_get(&sk_st, sk, 0, 0);
	out[0] = v != 0;
	v = bpf_sk_storage_get(&sk_st, sk, &init, BPF_SK_STORAGE_GET_F_CREATE);
	out[1] = v ? *v : 99;
	if (v)
		*v += 1;
	v = bpf_sk_storage_get(&sk_st, sk, 0, 0);
	out[2] = v ? *v : 99;
	v = bpf_sk_storage_get(&sk_st, sk, 0, 2);
	out[3] = v != 0;
	out[4] = bpf_sk_storage_delete(&sk_st, sk);
	out[5] = bpf_sk_storage_delete(&sk_st, sk);
	v = bpf_sk_storage_get(&sk_st, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	out[6] = v ? *v : 99;
}

SEC("tc")
int tc_storage(struct __sk_buff *skb)
{
	sk_storage(skb);
	return 0;
}

SEC("cgroup_skb/egress")
int cg_storage(struct __sk_buff *skb)
{
	sk_storage(skb);
	return 1;
}

SEC("xdp")
int xdp_task_storage(struct xdp_md *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 init = 5, *v;

	v = bpf_task_storage_get(&task_st, t, 0, 0);
	out[0] = v != 0;
	v = bpf_task_storage_get(&task_st, t, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
	out[1] = v ? *v : 99;
	out[2] = bpf_task_storage_get(&task_st, t, 0, 4) != 0;
	out[3] = bpf_task_storage_delete(&task_st, t);
	out[4] = bpf_task_storage_delete(&task_st, t);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
