package ctx_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// memberOffset finds a member of a struct by name, looking into
// anonymous structs and unions, in bytes.
func memberOffset(ms []btf.Member, name string) (uint32, bool) {
	for _, m := range ms {
		if m.Name == name {
			return uint32(m.Offset) / 8, true
		}
		if m.Name == "" {
			var inner []btf.Member
			switch t := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				inner = t.Members
			case *btf.Union:
				inner = t.Members
			}
			if off, ok := memberOffset(inner, name); ok {
				return uint32(m.Offset)/8 + off, true
			}
		}
	}
	return 0, false
}

// TestKernelCtxSKB checks struct sk_buff as bpf_cast_to_kern_ctx shows
// it: members by their kernel BTF names in traces, len as the test run
// set it, a kernel pointer (dev) refused naming it, stores refused.
func TestKernelCtxSKB(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	var st *btf.Struct
	if err := spec.TypeByName("sk_buff", &st); err != nil {
		t.Fatal(err)
	}
	lenOff, ok1 := memberOffset(st.Members, "len")
	devOff, ok2 := memberOffset(st.Members, "dev")
	if !ok1 || !ok2 {
		t.Fatal("sk_buff without len or dev")
	}
	run := func(insns asm.Instructions) (uint64, *vm.Machine, uint64, error) {
		p, err := vm.FromInstructions("t", append(insns, asm.Return()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := vm.New(p, vm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := ctx.NewSKB(m, ebpf.SchedCLS, udpFrame(), nil)
		if err != nil {
			t.Fatal(err)
		}
		k, err := s.KernelCtx()
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := s.KernelCtx(); again != k {
			t.Errorf("second cast: %#x, first %#x", again, k)
		}
		r0, err := m.Run(context.Background(), k)
		return r0, m, k, err
	}
	r0, m, k, err := run(asm.Instructions{asm.LoadMem(asm.R0, asm.R1, int16(lenOff), asm.Word)})
	if err != nil {
		t.Fatal(err)
	}
	if r0 != uint64(len(udpFrame())) {
		t.Errorf("sk_buff.len = %d, want the frame's %d (tc: data at the MAC header)", r0, len(udpFrame()))
	}
	if d := m.Describe(k + uint64(lenOff)); d != "sk_buff.len" {
		t.Errorf("Describe = %q, want sk_buff.len", d)
	}
	_, _, _, err = run(asm.Instructions{asm.LoadMem(asm.R0, asm.R1, int16(devOff), asm.DWord)})
	if err == nil || !strings.Contains(err.Error(), "sk_buff.dev is not modelled") {
		t.Errorf("reading sk_buff.dev: %v, want a not-modelled error naming it", err)
	}
	_, _, _, err = run(asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.StoreImm(asm.R1, int16(lenOff), 1, asm.Word)})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("writing sk_buff.len: %v, want read-only", err)
	}
}
