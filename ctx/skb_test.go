package ctx_test

import (
	"errors"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

func newMachine(t *testing.T) *vm.Machine {
	t.Helper()
	p, err := vm.FromInstructions("t", asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p, vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDescribe checks the names traces show for context memory.
func TestDescribe(t *testing.T) {
	m := newMachine(t)
	s, err := ctx.NewSKB(m, ebpf.SchedCLS, udpFrame(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := s.Load(76, 4)
	for addr, want := range map[uint64]string{
		s.Arg() + 8: "ctx __sk_buff.mark", s.Arg() + 56: "ctx __sk_buff.cb[2]",
		s.Arg() + 106: "ctx __sk_buff.remote_ip6[1]+2", s.Arg() + 156: "ctx __sk_buff.tstamp+4",
		data + 14: "pkt+14",
	} {
		if got := m.Describe(addr); got != want {
			t.Errorf("Describe(%#x) = %q, want %q", addr, got, want)
		}
	}
	m.Reset()
	f, err := ctx.NewFlowDissector(m, udpFrame(), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := f.Load(144, 8)
	for addr, want := range map[uint64]string{keys: "flow_keys.nhoff", keys + 10: "flow_keys.n_proto", keys + 36: "flow_keys.ipv6_dst[1]"} {
		if got := m.Describe(addr); got != want {
			t.Errorf("Describe(%#x) = %q, want %q", addr, got, want)
		}
	}
}

// TestSkbInputErrors checks the test runner's refusals (values from
// net/bpf/test_run.c, confirmed by TestSkbRunKernel).
func TestSkbInputErrors(t *testing.T) {
	m := newMachine(t)
	for name, c := range map[string]struct {
		data, ctx []byte
		want      error
	}{
		"short":    {udpFrame()[:13], nil, ctx.ErrInvalidData},
		"ip4 cut":  {udpFrame()[:33], nil, ctx.ErrInvalidData},
		"too long": {make([]byte, ctx.SkbMaxData+1), nil, ctx.ErrInvalidData},
		"len set":  {udpFrame(), append([]byte{1}, make([]byte, 191)...), ctx.ErrInvalidCtx},
		"tail":     {udpFrame(), append(make([]byte, 192), 1), ctx.ErrInvalidCtx},
		"wire_len": {udpFrame(), func() []byte { b := make([]byte, 192); b[160] = 1; return b }(), ctx.ErrInvalidCtx},
		"gso_segs": {udpFrame(), func() []byte { b := make([]byte, 192); b[166] = 1; return b }(), ctx.ErrInvalidCtx},
		"sk set":   {udpFrame(), func() []byte { b := make([]byte, 192); b[168] = 1; return b }(), ctx.ErrInvalidCtx},
	} {
		m.Reset()
		if _, err := ctx.NewSKB(m, ebpf.SchedCLS, c.data, c.ctx); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
}

// TestLayoutsMatchBTF checks the hard-coded struct sizes against the
// running kernel's BTF.
func TestLayoutsMatchBTF(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	for name, size := range map[string]uint32{"__sk_buff": ctx.SkbSize, "bpf_flow_keys": ctx.FlowKeysSize,
		"bpf_sk_lookup": ctx.SkLookupSize, "pt_regs": ctx.PtRegsSize, "bpf_perf_event_data": ctx.PerfEventDataSize,
		"nf_hook_state": ctx.NfHookStateSize} {
		var s *btf.Struct
		if err := spec.TypeByName(name, &s); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.Size != size {
			t.Errorf("sizeof(%s) = %d in BTF, %d here", name, s.Size, size)
		}
	}
}
