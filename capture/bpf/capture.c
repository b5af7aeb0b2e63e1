/* capture.c — fentry/fexit programs that record what a running XDP or tc
 * program saw and did, for `bpfscope capture`.
 *
 * Attached with BPF trampolines to the target program itself (attach
 * target = its fd, attach point = its BTF function name): the target is not
 * changed or reloaded. fentry sees the context before the first instruction,
 * fexit the same context after the last one, and the verdict.
 *
 * The verifier gives a tracing program attached to an XDP program a
 * struct xdp_buff * (the kernel object behind struct xdp_md), and one
 * attached to a tc program a struct sk_buff *. The few fields read here are
 * declared below with preserve_access_index, so cilium/ebpf relocates their
 * offsets against the running kernel's BTF (CO-RE): no vmlinux.h.
 *
 * Per run, fentry copies the frame into a per-CPU scratch record, and fexit
 * appends the frame as it left and the verdict, then writes the record to a
 * ring buffer in one piece. Neither side ever waits: a full ring buffer
 * costs that record (counted in stats), not the target's run.
 *
 * Build: capture/bpf/build.sh (clang-19 -mcpu=v4).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

/* MAX_SNAP bounds each of the two frames of a record; the per-CPU scratch
 * value (record + 2 frames) must stay under the kernel's 32 KiB limit for
 * per-CPU values. */
#define MAX_SNAP 8192

struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

struct xdp_rxq_info {
	struct net_device *dev;
	__u32 queue_index;
} __attribute__((preserve_access_index));

struct xdp_buff {
	void *data;
	void *data_end;
	void *data_meta;
	struct xdp_rxq_info *rxq;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	char cb[48];
	unsigned int len;
	unsigned int data_len;
	__u16 queue_mapping;
	__u16 tc_index;
	__u16 vlan_proto;
	__u16 vlan_tci;
	__u16 protocol;
	int skb_iif;
	__u32 hash;
	__u32 priority;
	__u32 mark;
	__u64 tstamp;
	unsigned char *data;
} __attribute__((preserve_access_index));

/* One captured run: this header, then in_cap bytes of the frame as the
 * program got it, then out_cap bytes of the frame as it left. The layout
 * is read by capture/record.go; every field is naturally aligned. */
struct record {
	__u64 ts;		/* bpf_ktime_get_ns() at fentry (CLOCK_MONOTONIC) */
	__u64 run;		/* this CPU's run counter, from 1 */
	__u32 cpu;
	__s32 verdict;		/* the program's return value */
	__u32 in_len;		/* frame length at fentry */
	__u32 in_cap;		/* bytes of it recorded */
	__u32 out_len;		/* frame length at fexit */
	__u32 out_cap;
	__u32 kind;		/* 1 XDP, 2 sk_buff */
	__u32 ifindex;		/* xdp: rxq->dev; skb: skb->dev */
	__u32 rx_queue;		/* xdp: rxq->queue_index; skb: queue_mapping */
	__u32 ingress_ifindex;	/* xdp: rxq->dev; skb: skb_iif */
	__u32 meta_len;		/* xdp: data - data_meta at fentry */
	__u32 mark;
	__u32 priority;
	__u32 hash;
	__u16 protocol;		/* skb->protocol, network order */
	__u16 vlan_proto;
	__u16 vlan_tci;
	__u16 tc_index;
	__u32 cb[5];		/* the __sk_buff cb[]: qdisc_skb_cb data */
	__u32 tc_classid;
	__u64 tstamp;
};

/* The ring buffer gets r and the frames after it in one piece: buf must
 * follow r directly (sizeof(struct record) is a multiple of 8). */
struct scratch {
	struct record r;
	__u8 buf[2 * MAX_SNAP];
	__u64 sample;		/* runs seen on this CPU, for --sample */
	__u32 active;		/* fentry chose this run */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);	/* resized by user space */
} records SEC(".maps");

/* Counters per CPU, summed by user space. */
enum {
	STAT_RUNS,		/* runs of the target seen by fentry */
	STAT_SKIPPED,		/* not sampled, outside the duration, filtered by frame */
	STAT_VERDICT,		/* verdict not asked for */
	STAT_OVER,		/* past --count */
	STAT_WRITTEN,		/* records written to the ring buffer */
	STAT_LOST,		/* records lost: ring buffer full */
	STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Set by user space before load (frozen .rodata). */
const volatile __u32 snaplen = MAX_SNAP;
const volatile __u32 verdict_mask = 0;	/* bit verdict+1; 0: every verdict */
const volatile __u32 sample_every = 1;
const volatile __u64 max_records = 0;	/* 0: no limit */
const volatile __u64 deadline_ns = 0;	/* CLOCK_MONOTONIC; 0: none */
const volatile __u16 want_ethertype = 0;	/* network order; 0: any */
const volatile __u8 want_ipproto = 0;		/* 0: any */
const volatile __u16 want_port = 0;		/* network order, source or destination; 0: any */

__u64 records_taken = 0;	/* towards max_records, all CPUs */

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		*v += 1;
}

/* clamp keeps the verifier's bounds on a length, whatever clang does. */
static __always_inline __u32 clamp(__u64 len)
{
	__u32 n = len < snaplen ? len : snaplen;

	asm volatile("" : "+r"(n));
	if (n > MAX_SNAP)
		n = MAX_SNAP;
	return n;
}

static __always_inline int frame_wanted(struct scratch *s)
{
	__u32 cap = s->r.in_cap;
	__u16 proto;
	__u32 l4;
	__u8 ipproto;

	if (!want_ethertype && !want_ipproto && !want_port)
		return 1;
	if (cap < 14)
		return 0;
	proto = *(__u16 *)&s->buf[12];
	if (want_ethertype && proto != want_ethertype)
		return 0;
	if (!want_ipproto && !want_port)
		return 1;
	if (proto == bpf_htons(0x0800)) {
		if (cap < 34)
			return 0;
		ipproto = s->buf[23];
		l4 = 14 + (s->buf[14] & 0xf) * 4;
	} else if (proto == bpf_htons(0x86dd)) {
		if (cap < 54)
			return 0;
		ipproto = s->buf[20];
		l4 = 54;
	} else {
		return 0;
	}
	if (want_ipproto && ipproto != want_ipproto)
		return 0;
	if (!want_port)
		return 1;
	if (ipproto != 6 && ipproto != 17 && ipproto != 132)
		return 0;
	if (l4 + 4 > cap || l4 > 2 * MAX_SNAP - 4)
		return 0;
	return *(__u16 *)&s->buf[l4] == want_port || *(__u16 *)&s->buf[l4 + 2] == want_port;
}

/* begin starts a run's record; NULL when the run is not to be recorded. */
static __always_inline struct scratch *begin(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	__u64 now = bpf_ktime_get_ns();

	if (!s)
		return 0;
	count(STAT_RUNS);
	s->active = 0;
	s->sample++;
	if ((sample_every > 1 && s->sample % sample_every) ||
	    (deadline_ns && now > deadline_ns)) {
		count(STAT_SKIPPED);
		return 0;
	}
	__builtin_memset(&s->r, 0, sizeof(s->r));
	s->r.ts = now;
	s->r.run = s->sample;
	s->r.cpu = bpf_get_smp_processor_id();
	return s;
}

/* wakeup spares user space a wakeup per record: it polls every 100 ms,
 * and is woken early only when a quarter of the ring is waiting. */
static __always_inline __u64 wakeup(void)
{
	__u64 avail = bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(&records, BPF_RB_RING_SIZE);

	return avail > size / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* finish appends the outgoing frame and writes the record. */
static __always_inline void finish(struct scratch *s, __s32 verdict, __u64 data, __u64 len, __u64 avail)
{
	__u32 in = s->r.in_cap, out;

	if (verdict_mask && !(verdict_mask & (1u << ((verdict + 1) & 31)))) {
		count(STAT_VERDICT);
		return;
	}
	if (max_records && __sync_fetch_and_add(&records_taken, 1) >= max_records) {
		count(STAT_OVER);
		return;
	}
	asm volatile("" : "+r"(in));
	if (in > MAX_SNAP)
		return;
	out = clamp(avail);
	s->r.verdict = verdict;
	s->r.out_len = len;
	s->r.out_cap = out;
	if (bpf_probe_read_kernel(&s->buf[in], out, (void *)data))
		s->r.out_cap = out = 0;
	if (bpf_ringbuf_output(&records, s, sizeof(s->r) + in + out, wakeup()))
		count(STAT_LOST);
	else
		count(STAT_WRITTEN);
}

static __always_inline void xdp_begin(struct xdp_buff *xdp)
{
	struct scratch *s = begin();
	__u64 data, len;
	__u32 cap;

	if (!s)
		return;
	data = (__u64)xdp->data;
	len = (__u64)xdp->data_end - data;
	cap = clamp(len);
	s->r.kind = 1;
	s->r.in_len = len;
	s->r.meta_len = data - (__u64)xdp->data_meta;
	s->r.ifindex = xdp->rxq->dev->ifindex;
	s->r.ingress_ifindex = s->r.ifindex;
	s->r.rx_queue = xdp->rxq->queue_index;
	if (bpf_probe_read_kernel(s->buf, cap, (void *)data))
		cap = 0;
	s->r.in_cap = cap;
	if (!frame_wanted(s)) {
		count(STAT_SKIPPED);
		return;
	}
	s->active = 1;
}

static __always_inline void xdp_end(struct xdp_buff *xdp, int verdict)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	__u64 data;

	if (!s || !s->active)
		return;
	s->active = 0;
	data = (__u64)xdp->data;
	finish(s, verdict, data, (__u64)xdp->data_end - data, (__u64)xdp->data_end - data);
}

SEC("fentry/xdp")
int BPF_PROG(xdp_entry, struct xdp_buff *xdp)
{
	xdp_begin(xdp);
	return 0;
}

SEC("fexit/xdp")
int BPF_PROG(xdp_exit, struct xdp_buff *xdp, int verdict)
{
	xdp_end(xdp, verdict);
	return 0;
}

/* xdp_check is never attached by capture: tests load it where the kernel
 * refuses fentry/fexit, so that its verifier checks the XDP recording
 * code. No tracepoint passes a struct xdp_buff *: it casts one
 * (bpf_rdonly_cast gives a pointer read like the fentry argument, with
 * PROBE_MEM loads), and is loaded, never run. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

SEC("tp_btf/net_dev_xmit")
int BPF_PROG(xdp_check, void *any, int verdict)
{
	struct xdp_buff *xdp = bpf_rdonly_cast(any, bpf_core_type_id_kernel(struct xdp_buff));

	xdp_begin(xdp);
	xdp_end(xdp, verdict);
	return 0;
}

/* skb_fields records the __sk_buff fields a tc program can read. */
static __always_inline void skb_fields(struct record *r, struct sk_buff *skb)
{
	r->kind = 2;
	r->ifindex = skb->dev ? skb->dev->ifindex : 0;
	r->ingress_ifindex = skb->skb_iif;
	r->rx_queue = skb->queue_mapping;
	r->mark = skb->mark;
	r->priority = skb->priority;
	r->hash = skb->hash;
	r->protocol = skb->protocol;
	r->vlan_proto = skb->vlan_proto;
	r->vlan_tci = skb->vlan_tci;
	r->tc_index = skb->tc_index;
	r->tstamp = skb->tstamp;
	/* struct qdisc_skb_cb: pkt_len, slave_dev_queue_mapping, tc_classid,
	 * then data[20], which __sk_buff's cb[5] names. */
	bpf_probe_read_kernel(&r->tc_classid, 2, &skb->cb[6]);
	bpf_probe_read_kernel(r->cb, sizeof(r->cb), &skb->cb[8]);
}

SEC("fentry/tc")
int BPF_PROG(tc_entry, struct sk_buff *skb)
{
	struct scratch *s = begin();
	__u64 data, len;
	__u32 cap;

	if (!s)
		return 0;
	data = (__u64)skb->data;
	len = skb->len;
	/* Only the linear part can be read at a known address. */
	cap = clamp(skb->len - skb->data_len);
	skb_fields(&s->r, skb);
	s->r.in_len = len;
	if (bpf_probe_read_kernel(s->buf, cap, (void *)data))
		cap = 0;
	s->r.in_cap = cap;
	if (!frame_wanted(s)) {
		count(STAT_SKIPPED);
		return 0;
	}
	s->active = 1;
	return 0;
}

SEC("fexit/tc")
int BPF_PROG(tc_exit, struct sk_buff *skb, int verdict)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s || !s->active)
		return 0;
	s->active = 0;
	/* The program may have written mark, priority, cb[], tc_index:
	 * the record keeps what it saw at entry; the frame is what left. */
	finish(s, verdict, (__u64)skb->data, skb->len, skb->len - skb->data_len);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
