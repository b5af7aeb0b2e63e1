package vm_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// FuzzDecode: any bytes either load or give a LoadError; what loads
// re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(isa.Encode([]isa.Insn{i(movK, 0, 0, 0, 1), i(exit, 0, 0, 0, 0)}))
	f.Add(isa.Encode([]isa.Insn{i(lddw, 1, 0, 0, 1), i(0, 0, 0, 0, 2), i(exit, 0, 0, 0, 0)}))
	f.Add(isa.Encode(loop))
	f.Fuzz(func(t *testing.T, code []byte) {
		p, err := vm.Load("fuzz", code)
		if err != nil {
			var le *vm.LoadError
			if len(code) > 0 && len(code)%8 == 0 && !errors.As(err, &le) {
				t.Fatalf("error is not a LoadError: %v", err)
			}
			return
		}
		if !bytes.Equal(isa.Encode(p.Insns), code) {
			t.Fatal("program does not re-encode to its bytecode")
		}
	})
}

// FuzzVM runs random programs on random memory with every helper and two
// maps: the run must end (budget), never panic, and fail only with a
// RunError.
func FuzzVM(f *testing.F) {
	f.Add(isa.Encode([]isa.Insn{i(ldxdw, 0, 1, 0, 0), i(exit, 0, 0, 0, 0)}), []byte("12345678"), false)
	f.Add(isa.Encode(loop), []byte{}, false)
	f.Add(isa.Encode([]isa.Insn{i(call, 0, 0, 0, 1), i(exit, 0, 0, 0, 0)}), []byte{1, 2, 3, 4}, true)
	f.Add(isa.Encode([]isa.Insn{
		i(lddw, 1, isa.PseudoMapFD, 0, 0), i(0, 0, 0, 0, 0),
		i(movX, 2, 10, 0, 0), i(addK, 2, 0, 0, -4), i(stw, 10, 0, -4, 0),
		i(call, 0, 0, 0, 1), i(exit, 0, 0, 0, 0)}), make([]byte, 64), true)
	f.Add(isa.Encode([]isa.Insn{ // a subprogram tail-calls the program itself
		i(call, 0, isa.PseudoCall, 0, 1), i(exit, 0, 0, 0, 0),
		i(lddw, 2, isa.PseudoMapFD, 0, 2), i(0, 0, 0, 0, 0),
		i(movK, 3, 0, 0, 0), i(call, 0, 0, 0, 12), i(exit, 0, 0, 0, 0)}), make([]byte, 64), false)
	f.Add(isa.Encode([]isa.Insn{ // the same, traced
		i(call, 0, isa.PseudoCall, 0, 1), i(exit, 0, 0, 0, 0),
		i(lddw, 2, isa.PseudoMapFD, 0, 2), i(0, 0, 0, 0, 0),
		i(movK, 3, 0, 0, 0), i(call, 0, 0, 0, 12), i(exit, 0, 0, 0, 0)}), make([]byte, 63), false)
	f.Fuzz(func(t *testing.T, code, mem []byte, xdp bool) {
		p, err := vm.Load("fuzz", code)
		if err != nil {
			return
		}
		// run builds a fresh machine and maps each time, so two runs of
		// the same input are the same run.
		run := func(hook any) (m *vm.Machine, ok bool, err error) {
			arr, _ := maps.New(&maps.Spec{Name: "arr", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
			hash, _ := maps.New(&maps.Spec{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4})
			// Map 2 holds the program itself, so bpf_tail_call(ctx, map 2, 0)
			// reaches the tail-call paths, from subprograms too.
			progs, _ := maps.New(&maps.Spec{Name: "progs", Type: maps.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
			if err := progs.(*maps.ProgramArrayMap).SetProgram(0, p); err != nil {
				t.Fatal(err)
			}
			m, err = vm.New(p, vm.Config{Helpers: helpers.New(nil), Maps: []vm.Map{arr, hash, progs}, MaxInsns: 10000})
			if err != nil {
				return nil, false, nil
			}
			m.Attach(hook)
			var arg uint64
			if xdp && len(mem) >= 14 {
				x, err := bpfctx.NewXDP(m, bytes.Clone(mem), nil)
				if err != nil {
					return nil, false, nil
				}
				arg = x.Arg()
			} else if len(mem) > 0 {
				arg = m.Map(&vm.Region{Name: "mem", Data: bytes.Clone(mem)})
			}
			_, err = m.Run(context.Background(), arg, uint64(len(mem)))
			return m, true, err
		}
		var pcs pcCount
		var steps batchTrace
		var hook any
		switch len(mem) % 3 { // sometimes trace, to fuzz the hook paths too
		case 0:
			hook = traceAll{}
		case 1:
			hook = hooks.Multi(&pcs, &steps)
		}
		m, ok, err := run(hook)
		if !ok {
			return
		}
		var re *vm.RunError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("run error is not a RunError: %v", err)
		}
		// The budget is enforced at taken jumps and calls: a straight run
		// through the program may follow the last look.
		if m.Insns() > 10000+uint64(p.Len()) {
			t.Fatalf("%d instructions ran past the budget of 10000", m.Insns())
		}
		if len(mem)%3 != 1 {
			return
		}
		if pcs.n != m.Insns() || pcs.max >= p.Len() {
			t.Fatalf("PC hook saw %d pcs up to %d; the machine ran %d of %d slots", pcs.n, pcs.max, m.Insns(), p.Len())
		}
		// The registers and accesses the PC hook rebuilt are those step
		// and access hooks see.
		var want stepTrace
		run(&want)
		if i := firstStepDiff(steps.recs, want.recs); i >= 0 || steps.bad != "" {
			t.Fatalf("rebuilt steps differ from the step hook's at step %d of %d/%d (%s):\n got  %+v\n want %+v",
				i, len(steps.recs), len(want.recs), steps.bad, at(steps.recs, i), at(want.recs, i))
		}
		for i := range max(len(steps.accs), len(want.accs)) {
			if i >= len(steps.accs) || i >= len(want.accs) || steps.accs[i] != want.accs[i] {
				t.Fatalf("rebuilt accesses differ from the access hook's at %d of %d/%d:\n got  %+v\n want %+v",
					i, len(steps.accs), len(want.accs), atAcc(steps.accs, i), atAcc(want.accs, i))
			}
		}
	})
}

// pcCount counts the pcs a PC hook receives and remembers the largest.
type pcCount struct {
	n   uint64
	max int
}

func (c *pcCount) PCs(b *hooks.PCBatch) {
	for _, pc := range b.PC {
		c.n++
		c.max = max(c.max, int(pc))
	}
}

// traceAll listens to everything and names every access.
type traceAll struct{}

func (traceAll) BeforeStep(*hooks.Step) hooks.Action { return hooks.Continue }
func (traceAll) AfterStep(*hooks.Step) hooks.Action  { return hooks.Continue }
func (traceAll) Access(a *hooks.Access) hooks.Action {
	_ = a.Where()
	return hooks.Continue
}
func (traceAll) Helper(*hooks.HelperCall) hooks.Action { return hooks.Continue }
func (traceAll) MapOp(*hooks.MapOp) hooks.Action       { return hooks.Continue }
