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

// FuzzXDPCtx builds multi-buffer XDP contexts from arbitrary frames and
// ctx_in, resizes them with arbitrary deltas as the helpers would, and
// checks that nothing panics and that the packet's length, its bytes
// through Bytes and Segments, and data_out agree.
func FuzzXDPCtx(f *testing.F) {
	f.Add(udpFrame(), []byte(nil), int32(-4), int32(100), int32(-8), uint16(0), uint16(64))
	f.Add(make([]byte, 9018), []byte(nil), int32(-5498), int32(2000), int32(-4), uint16(3500), uint16(200))
	f.Add(make([]byte, ctx.XDPMaxFrame), []byte(nil), int32(4096), int32(-40), int32(-216), uint16(65535-64), uint16(64))
	f.Add(make([]byte, 4901), append([]byte{8, 0, 0, 0, 100}, make([]byte, 19)...), int32(-3000), int32(-8), int32(0), uint16(90), uint16(100))
	p, err := vm.FromInstructions("fuzz", asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data, ctxIn []byte, tail, head, meta int32, off, n uint16) {
		m, err := vm.New(p, vm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		x, err := ctx.NewXDP(m, data, ctxIn)
		if err != nil {
			return
		}
		_ = x.AdjustTail(tail)
		_ = x.AdjustHead(head)
		_ = x.AdjustMeta(meta)
		_ = x.AdjustTail(-tail)
		out := x.Output()
		if len(out.Data) != len(x.Meta())+x.Len() {
			t.Fatalf("data_out of %d bytes, metadata %d and packet %d", len(out.Data), len(x.Meta()), x.Len())
		}
		b, ok := x.Bytes(uint32(off), uint32(n))
		segs, ok2 := x.Segments(uint32(off), uint32(n), nil)
		if ok != ok2 || ok != (int(off)+int(n) <= x.Len()) {
			t.Fatalf("range [%d,+%d) of %d bytes: Bytes %v, Segments %v", off, n, x.Len(), ok, ok2)
		}
		if !ok {
			return
		}
		var joined []byte
		for _, s := range segs {
			mem, err := m.Bytes(s.Addr, int(s.Len), false)
			if err != nil {
				t.Fatal(err)
			}
			joined = append(joined, mem...)
		}
		ml := len(x.Meta())
		if string(joined) != string(b) || string(b) != string(out.Data[ml+int(off):ml+int(off)+int(n)]) {
			t.Fatalf("bytes [%d,+%d) differ between Bytes, Segments and data_out", off, n)
		}
	})
}
