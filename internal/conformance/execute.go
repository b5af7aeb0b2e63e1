package conformance

import (
	"context"

	"github.com/bpfscope/bpfscope/vm"
)

// unwindHelper is the suite's helper 5 (uBPF's unwind function): it returns
// r1, and a return of 0 ends the program with r0 = 0.
const unwindHelper = 5

var helpers = vm.Helpers{
	unwindHelper: {Name: "unwind", Fn: func(_ *vm.Machine, a vm.Args) (uint64, error) {
		if a[0] == 0 {
			return 0, vm.ErrUnwind
		}
		return a[0], nil
	}},
}

// Execute runs a conformance program as the suite's plugins do: r1 points to
// a private copy of mem (0 when there is none), r2 holds its length, and
// helper 5 unwinds.
func Execute(ctx context.Context, code []byte, mem []byte) (uint64, error) {
	return Trace(ctx, code, mem, nil)
}

// Trace is Execute with hook attached (nil for none).
func Trace(ctx context.Context, code []byte, mem []byte, hook any) (uint64, error) {
	p, err := vm.Load("conformance", code)
	if err != nil {
		return 0, err
	}
	m, err := vm.New(p, vm.Config{Helpers: helpers})
	if err != nil {
		return 0, err
	}
	m.Attach(hook)
	var addr uint64
	if len(mem) > 0 {
		addr = m.Map(&vm.Region{Name: "mem", Data: append([]byte(nil), mem...)})
	}
	return m.Run(ctx, addr, uint64(len(mem)))
}
