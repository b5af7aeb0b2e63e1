package tracefile_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Record a run with everything it depends on — the file holds the
// program, its input and the clock's answer, not the events — then read it
// back (the events come from running it again) and replay it: the replay
// re-executes the program from the file alone and checks its result and
// state against the recording.
func ExampleNewWriter() {
	prog, err := vm.FromInstructions("clock", asm.Instructions{
		asm.FnKtimeGetNs.Call(), // the environment's clock: recorded, replayed
		asm.Return(),
	})
	if err != nil {
		panic(err)
	}
	env := helpers.Record(helpers.NewDefaultEnv())
	c := &tracefile.Capture{Prog: prog, Input: ctx.Input{Data: []byte{1, 2, 3, 4}}, Env: env}
	m, args, err := c.Machine(helpers.New(env))
	if err != nil {
		panic(err)
	}
	var file bytes.Buffer
	w, err := tracefile.NewWriter(&file, c)
	if err != nil {
		panic(err)
	}
	if err := m.Attach(w); err != nil {
		panic(err)
	}
	r0, _ := m.Run(context.Background(), args...)
	if err := w.Close(); err != nil {
		panic(err)
	}

	t, err := tracefile.ReadAll(bytes.NewReader(file.Bytes()))
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Capture.Prog.Name, len(t.Events), "events")
	res, err := tracefile.Replay(bytes.NewReader(file.Bytes()), nil)
	fmt.Println("replayed", res.Runs, "run, same r0:", res.R0 == r0, err)
	// Output:
	// clock 7 events
	// replayed 1 run, same r0: true <nil>
}
