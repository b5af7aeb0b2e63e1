package bpfscope_test

import (
	"context"
	"fmt"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// counter is a hook that counts executed instructions and stack stores.
type counter struct{ steps, stores int }

// The interfaces counter means to implement: a method with a wrong
// signature fails the build here instead of silently receiving nothing.
var (
	_ hooks.StepHook   = (*counter)(nil)
	_ hooks.AccessHook = (*counter)(nil)
)

func (c *counter) BeforeStep(*hooks.Step) hooks.Action { c.steps++; return hooks.Continue }
func (c *counter) AfterStep(*hooks.Step) hooks.Action  { return hooks.Continue }
func (c *counter) Access(a *hooks.Access) hooks.Action {
	if a.Kind == hooks.Store {
		c.stores++
		fmt.Printf("pc %d stores %d at %s\n", a.PC, a.Value, a.Where())
	}
	return hooks.Continue
}

// Run a small program and watch it: r0 = 6 * 7, passed through the stack.
func Example() {
	m := newMachine(asm.Instructions{
		asm.Mov.Imm(asm.R1, 6),
		asm.Mul.Imm(asm.R1, 7),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
		asm.Return(),
	})
	c := &counter{}
	m.Attach(c)
	r0, err := m.Run(context.Background())
	fmt.Println("r0 =", r0, "err =", err, "steps =", c.steps)
	// Output:
	// pc 2 stores 42 at fp-8
	// r0 = 42 err = <nil> steps = 5
}

// changes is a PC hook: it gets every executed instruction in batches, at
// little cost to the run, and rebuilds the registers only when it looks.
type changes struct{}

func (changes) PCs(b *hooks.PCBatch) {
	for before, after := range b.Steps() {
		for r := range 11 {
			if after != nil && after.Changed&(1<<r) != 0 {
				fmt.Printf("pc %d: r%d %d -> %d\n", before.PC, r, before.Regs[r], after.Regs[r])
			}
		}
	}
}

// Watch every instruction's registers through a PC hook: r0 = 6 * 7 + 1.
func Example_pcHook() {
	m := newMachine(asm.Instructions{
		asm.Mov.Imm(asm.R1, 6),
		asm.Mul.Imm(asm.R1, 7),
		asm.Mov.Reg(asm.R0, asm.R1),
		asm.Add.Imm(asm.R0, 1),
		asm.Return(),
	})
	m.Attach(changes{})
	r0, err := m.Run(context.Background())
	fmt.Println("r0 =", r0, err)
	// Output:
	// pc 0: r1 0 -> 6
	// pc 1: r1 6 -> 42
	// pc 2: r0 0 -> 42
	// pc 3: r0 42 -> 43
	// r0 = 43 <nil>
}

// newMachine builds a machine for a program written with cilium/ebpf's asm.
func newMachine(insns asm.Instructions) *vm.Machine {
	prog, err := vm.FromInstructions("answer", insns)
	if err != nil {
		panic(err)
	}
	m, err := vm.New(prog, vm.Config{})
	if err != nil {
		panic(err)
	}
	return m
}
