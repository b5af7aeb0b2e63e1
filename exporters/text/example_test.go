package text_test

import (
	"context"
	"os"

	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Write a run as it happens, in the verifier log's syntax, to any io.Writer.
func ExampleNew() {
	prog, err := vm.FromInstructions("answer", asm.Instructions{
		asm.Mov.Imm(asm.R1, 42),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
		asm.Return(),
	})
	if err != nil {
		panic(err)
	}
	m, err := vm.New(prog, vm.Config{})
	if err != nil {
		panic(err)
	}
	w := text.New(os.Stdout)
	if err := m.Attach(w); err != nil {
		panic(err)
	}
	m.Run(context.Background())
	w.Flush()
	// Output:
	// ; run answer()
	// 0: (b7) r1 = 42                         ; r1=42
	// 1: (7b) *(u64 *)(r10 -8) = r1           ; store u64 fp-8: 0 -> 42
	// 2: (79) r0 = *(u64 *)(r10 -8)           ; r0=42 | load u64 fp-8 = 42
	// 3: (95) exit
	// ; exit r0=42 (4 insns)
}
