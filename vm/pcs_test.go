package vm_test

import (
	"context"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// pcLog records a PC hook's batches as one sequence, checking that First
// counts on from the batch before.
type pcLog struct {
	t   *testing.T
	pcs []int
}

func (l *pcLog) PCs(b *hooks.PCBatch) {
	if b.First != uint64(len(l.pcs)) {
		l.t.Errorf("batch First = %d after %d pcs", b.First, len(l.pcs))
	}
	for _, pc := range b.PC {
		l.pcs = append(l.pcs, int(pc))
	}
}

// stepLog records the pc of every BeforeStep: what the PC hook must match.
type stepLog struct{ pcs []int }

func (l *stepLog) BeforeStep(ev *hooks.Step) hooks.Action {
	l.pcs = append(l.pcs, ev.PC)
	return hooks.Continue
}
func (l *stepLog) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }

func TestPCHookSeesEveryInstruction(t *testing.T) {
	loop3 := vm.Helpers{181: {Name: "loop3", Fn: func(m *vm.Machine, a vm.Args) (uint64, error) {
		var sum uint64
		for k := range uint64(3) {
			r, err := m.CallFunc(a[0], k, 10)
			if err != nil {
				return 0, err
			}
			sum += r
		}
		return sum, nil
	}}}
	programs := map[string][]isa.Insn{
		// 20000 iterations: more pcs than one batch holds.
		"long loop": {
			i(movK, 1, 0, 0, 20000),
			i(subK, 1, 0, 0, 1),
			i(jneK, 1, 0, -2, 0),
			i(movK, 0, 0, 0, 7),
			i(exit, 0, 0, 0, 0),
		},
		"callback": {
			i(lddw, 1, isa.PseudoFunc, 0, 5),
			i(0, 0, 0, 0, 0),
			i(movK, 6, 0, 0, 1000),
			i(call, 0, 0, 0, 181),
			i(alu64X|isa.ALUAdd, 0, 6, 0, 0),
			i(exit, 0, 0, 0, 0),
			i(movX, 0, 1, 0, 0),
			i(alu64X|isa.ALUAdd, 0, 2, 0, 0),
			i(exit, 0, 0, 0, 0),
		},
		"local call and stack": {
			i(movK, 1, 0, 0, 3),
			i(call, 0, isa.PseudoCall, 0, 2),
			i(exit, 0, 0, 0, 0),
			i(exit, 0, 0, 0, 0),
			i(stxdw, 10, 1, -8, 0),
			i(ldxdw, 0, 10, -8, 0),
			i(exit, 0, 0, 0, 0),
		},
		"fault": {
			i(movK, 1, 0, 0, 64),
			i(ldxdw, 0, 1, 0, 0), // address 64 is unmapped
			i(exit, 0, 0, 0, 0),
		},
	}
	for name, insns := range programs {
		t.Run(name, func(t *testing.T) {
			p := load(t, insns...)
			steps := &stepLog{}
			ms := machine(t, p, vm.Config{Helpers: loop3})
			ms.Attach(steps)
			wantR0, wantErr := ms.Run(context.Background())

			pcs := &pcLog{t: t}
			mp := machine(t, p, vm.Config{Helpers: loop3})
			mp.Attach(pcs)
			r0, err := mp.Run(context.Background())
			if r0 != wantR0 || (err == nil) != (wantErr == nil) {
				t.Fatalf("PC-hooked run: r0 = %d, %v; step-hooked run: %d, %v", r0, err, wantR0, wantErr)
			}
			if len(steps.pcs) == 0 || !equal(pcs.pcs, steps.pcs) {
				t.Fatalf("PC hook saw %d pcs, step hook %d; first difference at %d", len(pcs.pcs), len(steps.pcs), firstDiff(pcs.pcs, steps.pcs))
			}
			if uint64(len(pcs.pcs)) != mp.Insns() {
				t.Fatalf("PC hook saw %d pcs; the machine counted %d instructions", len(pcs.pcs), mp.Insns())
			}

			// Both at once, through Multi: the trap path records pcs too.
			both, steps2 := &pcLog{t: t}, &stepLog{}
			mb := machine(t, p, vm.Config{Helpers: loop3})
			mb.Attach(hooks.Multi(both, steps2))
			mb.Run(context.Background())
			if !equal(both.pcs, steps.pcs) || !equal(steps2.pcs, steps.pcs) {
				t.Fatalf("with Multi: PC hook %d pcs, step hook %d, want %d", len(both.pcs), len(steps2.pcs), len(steps.pcs))
			}
		})
	}
}

func firstDiff(a, b []int) int {
	for k := range min(len(a), len(b)) {
		if a[k] != b[k] {
			return k
		}
	}
	return min(len(a), len(b))
}
