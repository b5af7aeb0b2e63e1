// One program per SEC() name libbpf accepts for the program types
// bpfscope runs, for TestSectionNames. Build: ./build.sh.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PROG(sec, name) SEC(sec) int prog_##name(void *ctx) { return 0; }

PROG("xdp", xdp)
PROG("xdp.frags", xdp_frags)
PROG("xdp/devmap", xdp_devmap)
PROG("xdp.frags/cpumap", xdp_frags_cpumap)
PROG("tc", tc)
PROG("tc/ingress", tc_ingress)
PROG("tcx/egress", tcx_egress)
PROG("netkit/primary", netkit_primary)
PROG("classifier", classifier)
PROG("action", action)
PROG("socket", socket)
PROG("flow_dissector", flow_dissector)
PROG("sk_lookup", sk_lookup)
PROG("syscall", syscall)
PROG("raw_tp/sys_enter", raw_tp)
PROG("raw_tracepoint/sys_enter", raw_tracepoint)
PROG("raw_tp.w/sys_enter", raw_tp_w)
PROG("netfilter", netfilter)
PROG("cgroup_skb/ingress", cgroup_skb_ingress)
PROG("cgroup/skb", cgroup_skb)
PROG("lwt_in", lwt_in)
PROG("lwt_out", lwt_out)
PROG("lwt_xmit", lwt_xmit)
PROG("kprobe/do_sys_open", kprobe)
PROG("uprobe//bin/sh:main", uprobe)
PROG("ksyscall/openat", ksyscall)
PROG("tracepoint/syscalls/sys_enter_openat", tracepoint)
PROG("tp/syscalls/sys_enter_openat", tp)
PROG("perf_event", perf_event)
PROG("fentry/bpf_fentry_test1", fentry)
PROG("fexit/bpf_fentry_test1", fexit)
PROG("fmod_ret/bpf_modify_return_test", fmod_ret)
PROG("tp_btf/sys_enter", tp_btf)

char _license[] SEC("license") = "GPL";
