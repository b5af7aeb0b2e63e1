package ctx_test

import (
	"context"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// fuzzProvider builds the context of typ from arbitrary data and ctx_in,
// runs a program that reads the first ctx word where that is allowed, and
// checks that nothing panics and that outputs are well formed.
func fuzzProvider(f *testing.F, typ ebpf.ProgramType, seeds [][2][]byte) {
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	p, err := vm.FromInstructions("fuzz", asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})
	if err != nil {
		f.Fatal(err)
	}
	pr, err := ctx.Lookup(typ)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data, ctxIn []byte) {
		m, err := vm.New(p, vm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		inst, err := pr.New(m, ctx.Input{Data: data, Ctx: ctxIn})
		if err != nil {
			return
		}
		if _, err := m.Run(context.Background(), inst.Arg()); err != nil {
			t.Fatal(err)
		}
		out := inst.Output()
		if typ == ebpf.SchedCLS && len(out.Data) != len(data) {
			t.Fatalf("data_out of %d bytes for %d in", len(out.Data), len(data))
		}
		for off := uint32(0); off < 200; off++ {
			for _, size := range []int{1, 2, 4, 8} {
				if r, o, ok := m.RegionAt(inst.Arg()); ok && r.View != nil {
					r.View.Load(o+off, size) // must not panic
				}
			}
		}
	})
}

func FuzzSkbCtx(f *testing.F) {
	fuzzProvider(f, ebpf.SchedCLS, [][2][]byte{{udpFrame(), nil}, {tcp6Frame(), skbCtxIn()}, {udpFrame()[:20], make([]byte, 200)}})
}

func FuzzFlowKeysCtx(f *testing.F) {
	fuzzProvider(f, ebpf.FlowDissector, [][2][]byte{{udpFrame(), nil}, {udpFrame(), make([]byte, 56)}})
}

func FuzzSkLookupCtx(f *testing.F) {
	in := make([]byte, 72)
	in[8] = 2
	fuzzProvider(f, ebpf.SkLookup, [][2][]byte{{nil, in}, {nil, make([]byte, 80)}})
}

func FuzzNetfilterCtx(f *testing.F) {
	fuzzProvider(f, ebpf.Netfilter, [][2][]byte{{udpFrame()[14:], nil}, {udpFrame(), append([]byte{0, 2}, make([]byte, 46)...)}})
}
