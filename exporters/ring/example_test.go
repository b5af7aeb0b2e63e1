package ring_test

import (
	"context"
	"fmt"

	"github.com/bpfscope/bpfscope/exporters/ring"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// A flight recorder keeps the last events of every run and hands them over
// only when a run ends as the trigger says: here, when it fails.
func ExampleFlightRecorder() {
	prog, err := vm.FromInstructions("crash", asm.Instructions{
		asm.Mov.Imm(asm.R1, 1),
		asm.Mov.Imm(asm.R2, 2),
		asm.LoadMem(asm.R0, asm.R1, 0, asm.Word), // NULL + 1
		asm.Return(),
	})
	if err != nil {
		panic(err)
	}
	m, err := vm.New(prog, vm.Config{})
	if err != nil {
		panic(err)
	}
	rec := ring.FlightRecorder(3, ring.OnError, func(last []*hooks.Record) {
		for _, r := range last {
			fmt.Println(r.Kind, r.PC())
		}
	})
	if err := m.Attach(rec); err != nil {
		panic(err)
	}
	_, err = m.Run(context.Background())
	fmt.Println(err)
	// Output:
	// after 1
	// before 2
	// exit -1
	// pc 2: access to unmapped memory: 4-byte access at 0x1 (unmapped 0x1)
}
