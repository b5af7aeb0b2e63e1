package hooks_test

import (
	"context"
	"fmt"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// runExample builds a machine for insns, with the kernel's helpers and the given
// maps (referenced by index: asm.LoadMapPtr(r, 0) is maps[0]), attaches h
// and runs it.
func runExample(h any, insns asm.Instructions, ms ...vm.Map) {
	p, err := vm.FromInstructions("example", insns)
	if err != nil {
		panic(err)
	}
	m, err := vm.New(p, vm.Config{Helpers: helpers.New(helpers.NewDefaultEnv()), Maps: ms})
	if err != nil {
		panic(err)
	}
	if err := m.Attach(h); err != nil {
		panic(err)
	}
	r0, err := m.Run(context.Background())
	fmt.Println("r0 =", r0, "err =", err)
}

// The compile-time assertions say which interfaces each hook means to
// implement: a method with a wrong signature fails the build here rather
// than receiving nothing (Attach would refuse it at run time).
var (
	_ hooks.StepHook   = (*tracer)(nil)
	_ hooks.AccessHook = (*stores)(nil)
	_ hooks.HelperHook = (*calls)(nil)
	_ hooks.CallHook   = (*frames)(nil)
	_ hooks.RunHook    = (*runs)(nil)
	_ hooks.MapHook    = (*mapOps)(nil)
	_ hooks.OutputHook = (*printk)(nil)
)

type tracer struct{}

func (tracer) BeforeStep(s *hooks.Step) hooks.Action { return hooks.Continue }
func (tracer) AfterStep(s *hooks.Step) hooks.Action {
	fmt.Printf("pc %d: r0=%d\n", s.PC, s.Regs[0])
	return hooks.Continue
}

// A StepHook sees every instruction before and after it runs, and may stop
// the run there (a breakpoint).
func ExampleStepHook() {
	runExample(tracer{}, asm.Instructions{asm.Mov.Imm(asm.R0, 6), asm.Mul.Imm(asm.R0, 7), asm.Return()})
	// Output:
	// pc 0: r0=6
	// pc 1: r0=42
	// pc 2: r0=42
	// r0 = 42 err = <nil>
}

type stores struct{}

func (stores) Access(a *hooks.Access) hooks.Action {
	fmt.Printf("pc %d: %s of %d bytes at %s (%s %d): %d\n", a.PC, a.Kind, a.Size, a.Where(), a.Region.Kind, a.Region.Offset, a.Value)
	return hooks.Continue
}

// An AccessHook sees every memory access, named as text (Where) and as a
// structured region.
func ExampleAccessHook() {
	runExample(stores{}, asm.Instructions{
		asm.Mov.Imm(asm.R1, 42),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.Word),
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.Word),
		asm.Return(),
	})
	// Output:
	// pc 1: store of 4 bytes at fp-8 (stack -8): 42
	// pc 2: load of 4 bytes at fp-8 (stack -8): 42
	// r0 = 42 err = <nil>
}

type calls struct{}

func (calls) Helper(h *hooks.HelperCall) hooks.Action {
	fmt.Printf("pc %d: %s%#x = %d\n", h.PC, h.Name, h.Arguments(), h.Ret)
	return hooks.Continue
}

// A HelperHook sees every helper call when it returns, with the arguments
// the helper takes.
func ExampleHelperHook() {
	runExample(calls{}, asm.Instructions{
		asm.FnGetSmpProcessorId.Call(),
		asm.Return(),
	})
	// Output:
	// pc 0: bpf_get_smp_processor_id[] = 0
	// r0 = 0 err = <nil>
}

type frames struct{}

func (frames) Call(c *hooks.CallEvent) hooks.Action {
	fmt.Printf("%s at pc %d to %d (%s), depth %d\n", c.Kind, c.PC, c.Target, c.Func, c.Depth)
	return hooks.Continue
}

// A CallHook sees BPF-to-BPF calls and returns, and tail calls. (Without
// BTF, functions are named by their first pc.)
func ExampleCallHook() {
	runExample(frames{}, asm.Instructions{
		asm.Call.Label("double"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 21).WithSymbol("double"),
		asm.Add.Reg(asm.R0, asm.R0),
		asm.Return(),
	})
	// Output:
	// call at pc 0 to 2 (func_2), depth 1
	// return at pc 4 to 1 (example), depth 0
	// r0 = 42 err = <nil>
}

type runs struct{}

func (runs) Enter(r *hooks.Run) { fmt.Println("enter", r.Prog) }
func (runs) Exit(r *hooks.Run) {
	fmt.Println("exit", r.Prog, "r0", r.R0, "after", r.Insns, "instructions")
}

// A RunHook sees each run start and end.
func ExampleRunHook() {
	runExample(runs{}, asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()})
	// Output:
	// enter example
	// exit example r0 1 after 2 instructions
	// r0 = 1 err = <nil>
}

type mapOps struct{}

func (mapOps) MapOp(op *hooks.MapOp) hooks.Action {
	fmt.Printf("pc %d: %s %s key %x hit %v value %x\n", op.PC, op.Map, op.Op, op.Key, op.Hit, op.Value)
	return hooks.Continue
}

// A MapHook sees the map operations a program makes through helpers.
func ExampleMapHook() {
	counters, err := maps.New(&maps.Spec{Name: "counters", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		panic(err)
	}
	runExample(mapOps{}, asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 1, asm.Word), // key 1
		asm.LoadMapPtr(asm.R1, 0),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}, counters)
	// Output:
	// pc 5: counters lookup key 01000000 hit true value 0000000000000000
	// r0 = 0 err = <nil>
}

type printk struct{}

func (printk) Output(o *hooks.Output) { fmt.Printf("%s: %q\n", o.Kind, o.Data) }

// An OutputHook sees what a program sends to user space: bpf_trace_printk
// lines, ring buffer and perf event records.
func ExampleOutputHook() {
	runExample(printk{}, asm.Instructions{
		asm.Mov.Imm(asm.R1, 0x216968), // "hi!\0"
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 4),
		asm.FnTracePrintk.Call(),
		asm.Return(),
	})
	// Output:
	// trace_printk: "hi!"
	// r0 = 3 err = <nil>
}
