package ctx_test

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// pairProvider serves a program type of its own: the context is struct
// { __u64 value; __u64 limit; }, given as ctx_in and returned as ctx_out.
type pairProvider struct{}

func (pairProvider) Type() ebpf.ProgramType { return ebpf.StructOps }

func (pairProvider) New(m *vm.Machine, in ctx.Input) (ctx.Instance, error) {
	if len(in.Data) != 0 || len(in.Ctx) != 16 {
		return nil, fmt.Errorf("pair: want 16 bytes of ctx_in and no data: %w", ctx.ErrInvalidCtx)
	}
	p := &pair{mem: append([]byte(nil), in.Ctx...)}
	// Plain memory, named for traces, read-write.
	p.addr = m.Map(&vm.Region{Name: "pair", Data: p.mem, Kind: hooks.RegionCtx, Describe: func(off uint32) string {
		return [2]string{"ctx pair.value", "ctx pair.limit"}[off/8%2]
	}})
	return p, nil
}

type pair struct {
	mem  []byte
	addr uint64
}

func (p *pair) Arg() uint64        { return p.addr }
func (p *pair) Output() ctx.Output { return ctx.Output{Ctx: p.mem} }

// Add a program type: a Provider builds its context in the machine, and
// testrun runs programs of the type like any other.
func ExampleRegister() {
	ctx.Register(pairProvider{})
	prog, err := vm.FromInstructions("double", asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord), // value
		asm.Add.Reg(asm.R2, asm.R2),
		asm.StoreMem(asm.R1, 0, asm.R2, asm.DWord),
		asm.LoadMem(asm.R3, asm.R1, 8, asm.DWord), // limit
		asm.Mov.Imm(asm.R0, 1),
		asm.JGT.Reg(asm.R2, asm.R3, "over"),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return().WithSymbol("over"),
	})
	if err != nil {
		panic(err)
	}
	m, err := vm.New(prog, vm.Config{})
	if err != nil {
		panic(err)
	}
	in := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 21), 40)
	res, err := testrun.Run(m, ebpf.StructOps, testrun.Options{Ctx: in, Context: context.Background()})
	if err != nil {
		panic(err)
	}
	fmt.Println("retval", res.Retval, "value", binary.LittleEndian.Uint64(res.CtxOut))
	_, err = testrun.Run(m, ebpf.StructOps, testrun.Options{Ctx: in[:8]})
	fmt.Println(err)
	// Output:
	// retval 1 value 42
	// pair: want 16 bytes of ctx_in and no data: invalid ctx_in
}
