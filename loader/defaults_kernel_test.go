package loader_test

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// TestDefaultsKernel loads testdata/defaults.o, which relies on libbpf's
// defaults (__kconfig externs of each kind, a perf event array without
// sizes), in the kernel through cilium/ebpf and in bpfscope, and compares
// the values the program read and the perf record it wrote.
func TestDefaultsKernel(t *testing.T) {
	const obj = "testdata/defaults.o"
	c, err := loader.Load(obj, loader.Options{PossibleCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.Maps["events"].Spec()
	if ev.KeySize != 4 || ev.ValueSize != 4 || ev.MaxEntries != 2 {
		t.Errorf("events: key %d value %d max_entries %d, want 4, 4 and the possible CPUs (2)", ev.KeySize, ev.ValueSize, ev.MaxEntries)
	}
	pa := c.Maps["events"].(*bpfmaps.PerfEventArrayMap)
	if err := pa.Put(make([]byte, 4), make([]byte, 4), bpfmaps.UpdateAny); err != nil { // a reader on CPU 0
		t.Fatal(err)
	}
	if _, err := testrun.RunProgram(c, "kconfig", vm.Config{Helpers: helpers.New(nil)}, testrun.Options{Data: udpFrame()}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 64)
	if err := c.Maps[".bss"].Get(make([]byte, 4), got); err != nil {
		t.Fatal(err)
	}
	recs := pa.Drain()
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	want, err := kernel.Run(obj, "kconfig", kernel.Input{Data: udpFrame()})
	if err != nil {
		t.Fatal(err)
	}
	if w := want.Maps[".bss"]; len(w) != 1 || !slices.Equal(w[0].Value, got) {
		t.Errorf(".bss\nkernel   %x\nbpfscope %x", want.Maps[".bss"], got)
	}
	// The kernel's record carries the raw sample's padding (issue 13's
	// perf layout item, not this test's): compare the payload.
	if len(recs) != 1 || len(want.Events["events"]) != 1 || !bytes.HasPrefix(want.Events["events"][0], recs[0].Data) || len(recs[0].Data) != 8 {
		t.Errorf("perf records: kernel %x, bpfscope %+v", want.Events["events"], recs)
	}
	t.Logf("LINUX_KERNEL_VERSION %#x", binary.LittleEndian.Uint64(got))
}

// TestLibbpfMapDefaults checks the defaults the kernel cannot be asked
// about through cilium/ebpf, which does not apply them: libbpf rounds a
// ring buffer of 5000 bytes up to 8192 (adjust_ringbuf_sz), pinning has
// no meaning in bpfscope and gets a note, and LINUX_HAS_SYSCALL_WRAPPER
// and LINUX_HAS_BPF_COOKIE are 1, libbpf's probe results on x86-64 6.18,
// and an option "is not set" is n (0).
func TestLibbpfMapDefaults(t *testing.T) {
	c, err := loader.Load("testdata/defaults_libbpf.o", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Maps["rb"].Spec().MaxEntries; n != 8192 {
		t.Errorf("ring buffer of 5000 bytes: %d, want 8192", n)
	}
	notes := strings.Join(c.Notes, "\n")
	if !strings.Contains(notes, "map pinned: pinning") {
		t.Errorf("notes:\n%s", notes)
	}
	res, err := testrun.RunProgram(c, "defaults", vm.Config{Helpers: helpers.New(nil)}, testrun.Options{Data: udpFrame()})
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 4)
	if err := c.Maps["pinned"].Get(make([]byte, 4), v); err != nil || binary.LittleEndian.Uint32(v) != 2 || res.Retval != 2 {
		t.Errorf("pinned[0] = %x (%v), retval %d: want 2 (both externs 1), XDP_PASS", v, err, res.Retval)
	}
	if err := c.Maps["pinned"].Get([]byte{1, 0, 0, 0}, v); err != nil || binary.LittleEndian.Uint32(v) != 10 {
		t.Errorf("pinned[1] = %x (%v), want 10 (CONFIG_COMPILE_TEST n)", v, err)
	}
}

// TestSectionNames loads one program per SEC() name libbpf's
// section_defs accept for the types bpfscope runs and checks the type
// each gets.
func TestSectionNames(t *testing.T) {
	c, err := loader.Load("testdata/sections.o", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ebpf.ProgramType{
		"xdp": ebpf.XDP, "xdp_frags": ebpf.XDP, "xdp_devmap": ebpf.XDP, "xdp_frags_cpumap": ebpf.XDP,
		"tc": ebpf.SchedCLS, "tc_ingress": ebpf.SchedCLS, "tcx_egress": ebpf.SchedCLS, "netkit_primary": ebpf.SchedCLS,
		"classifier": ebpf.SchedCLS, "action": ebpf.SchedACT, "socket": ebpf.SocketFilter,
		"flow_dissector": ebpf.FlowDissector, "sk_lookup": ebpf.SkLookup, "syscall": ebpf.Syscall,
		"raw_tp": ebpf.RawTracepoint, "raw_tracepoint": ebpf.RawTracepoint, "raw_tp_w": ebpf.RawTracepointWritable,
		"netfilter": ebpf.Netfilter, "cgroup_skb_ingress": ebpf.CGroupSKB, "cgroup_skb": ebpf.CGroupSKB,
		"lwt_in": ebpf.LWTIn, "lwt_out": ebpf.LWTOut, "lwt_xmit": ebpf.LWTXmit,
		"kprobe": ebpf.Kprobe, "uprobe": ebpf.Kprobe, "ksyscall": ebpf.Kprobe,
		"tracepoint": ebpf.TracePoint, "tp": ebpf.TracePoint, "perf_event": ebpf.PerfEvent,
		"fentry": ebpf.Tracing, "fexit": ebpf.Tracing, "fmod_ret": ebpf.Tracing, "tp_btf": ebpf.Tracing,
	}
	for name, typ := range want {
		p, ok := c.Programs["prog_"+name]
		if !ok {
			t.Errorf("prog_%s not loaded", name)
			continue
		}
		if p.Type != typ {
			t.Errorf("prog_%s (SEC %q): %v, want %v", name, p.Section, p.Type, typ)
		}
	}
}
