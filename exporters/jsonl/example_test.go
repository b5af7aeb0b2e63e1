package jsonl_test

import (
	"context"
	"os"

	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Write a run as it happens, one JSON object per event (docs/jsonl-schema.md),
// to any io.Writer.
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
	w := jsonl.New(os.Stdout)
	if err := m.Attach(w); err != nil {
		panic(err)
	}
	m.Run(context.Background())
	w.Flush()
	// Output:
	// {"v":1,"ev":"enter","prog":"answer","args":["0x0","0x0","0x0","0x0","0x0"]}
	// {"v":1,"ev":"step","n":0,"pc":0,"depth":0,"op":183,"insn":"r1 = 42","regs":{"r1":"0x2a"}}
	// {"v":1,"ev":"access","pc":1,"kind":"store","addr":"0x100000ff8","size":8,"where":"fp-8","value":"0x2a","old":"0x0"}
	// {"v":1,"ev":"step","n":1,"pc":1,"depth":0,"op":123,"insn":"*(u64 *)(r10 -8) = r1","regs":{}}
	// {"v":1,"ev":"access","pc":2,"kind":"load","addr":"0x100000ff8","size":8,"where":"fp-8","value":"0x2a"}
	// {"v":1,"ev":"step","n":2,"pc":2,"depth":0,"op":121,"insn":"r0 = *(u64 *)(r10 -8)","regs":{"r0":"0x2a"}}
	// {"v":1,"ev":"step","n":3,"pc":3,"depth":0,"op":149,"insn":"exit","regs":{}}
	// {"v":1,"ev":"exit","prog":"answer","r0":"0x2a","insns":4}
}
