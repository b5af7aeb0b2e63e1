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
	at  []string // program of each pc
}

func (l *pcLog) PCs(b *hooks.PCBatch) {
	if b.First != uint64(len(l.pcs)) {
		l.t.Errorf("batch First = %d after %d pcs", b.First, len(l.pcs))
	}
	for _, pc := range b.PC {
		l.pcs = append(l.pcs, int(pc))
		l.at = append(l.at, b.Prog)
	}
}

// stepLog records the pc of every BeforeStep: what the PC hook must match.
type stepLog struct {
	pcs []int
	at  []string
}

func (l *stepLog) BeforeStep(ev *hooks.Step) hooks.Action {
	l.pcs = append(l.pcs, ev.PC)
	l.at = append(l.at, ev.Prog)
	return hooks.Continue
}
func (l *stepLog) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }

// hookPrograms are programs that reach every place the interpreter records
// pcs: long loops, callbacks, local calls, tail calls from subprograms and
// faults. hs holds the helpers they call.
func hookPrograms(t *testing.T) (programs map[string][]isa.Insn, hs vm.Helpers) {
	// Helper 12 tail-calls a program that sets r0 = 105.
	target, err := vm.NewProgram("target", []isa.Insn{
		i(movK, 0, 0, 0, 5), i(addK, 0, 0, 0, 100), i(exit, 0, 0, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs = vm.Helpers{181: loop3[181], 12: {Name: "tail", Fn: func(m *vm.Machine, a vm.Args) (uint64, error) {
		return 0, m.TailCall(target)
	}}}
	programs = map[string][]isa.Insn{
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
		// The tail call leaves from a subprogram, so its exit returns into
		// the first program.
		"tail call": {
			i(call, 0, isa.PseudoCall, 0, 2),
			i(addK, 0, 0, 0, 1),
			i(exit, 0, 0, 0, 0),
			i(call, 0, 0, 0, 12),
			i(exit, 0, 0, 0, 0),
		},
		"atomics": {
			i(stdw, 10, 0, -8, 40),
			i(movK, 1, 0, 0, 2),
			i(isa.ClassSTX|isa.ModeATOMIC|isa.SizeDW, 10, 1, -8, isa.AtomicAdd|isa.AtomicFetch), // r1 = 40
			i(movK, 0, 0, 0, 42),
			i(movK, 2, 0, 0, 7),
			i(isa.ClassSTX|isa.ModeATOMIC|isa.SizeDW, 10, 2, -8, isa.AtomicCmpXchg), // r0 = 42, memory 7
			i(isa.ClassSTX|isa.ModeATOMIC|isa.SizeW, 10, 1, -8, isa.AtomicXchg),     // r1 = 7
			i(alu64X|isa.ALUAdd, 0, 1, 0, 0),
			i(exit, 0, 0, 0, 0),
		},
		"fault": {
			i(movK, 1, 0, 0, 64),
			i(ldxdw, 0, 1, 0, 0), // address 64 is unmapped
			i(exit, 0, 0, 0, 0),
		},
	}
	return programs, hs
}

func TestPCHookSeesEveryInstruction(t *testing.T) {
	programs, hs := hookPrograms(t)
	for name, insns := range programs {
		t.Run(name, func(t *testing.T) {
			p := load(t, insns...)
			steps := &stepLog{}
			ms := machine(t, p, vm.Config{Helpers: hs})
			ms.Attach(steps)
			wantR0, wantErr := ms.Run(context.Background())

			pcs := &pcLog{t: t}
			mp := machine(t, p, vm.Config{Helpers: hs})
			mp.Attach(pcs)
			r0, err := mp.Run(context.Background())
			if r0 != wantR0 || (err == nil) != (wantErr == nil) {
				t.Fatalf("PC-hooked run: r0 = %d, %v; step-hooked run: %d, %v", r0, err, wantR0, wantErr)
			}
			if len(steps.pcs) == 0 || !equal(pcs.pcs, steps.pcs) || !equal(pcs.at, steps.at) {
				t.Fatalf("PC hook saw %d pcs, step hook %d; first difference at %d", len(pcs.pcs), len(steps.pcs), firstDiff(pcs.pcs, steps.pcs))
			}
			if uint64(len(pcs.pcs)) != mp.Insns() {
				t.Fatalf("PC hook saw %d pcs; the machine counted %d instructions", len(pcs.pcs), mp.Insns())
			}

			// Both at once, through Multi: the trap path records pcs too.
			both, steps2 := &pcLog{t: t}, &stepLog{}
			mb := machine(t, p, vm.Config{Helpers: hs})
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

// accessLog keeps the access events it sees.
type accessLog struct{ evs []hooks.Access }

func (l *accessLog) Access(ev *hooks.Access) hooks.Action {
	e := *ev
	e.Bytes = append([]byte(nil), ev.Bytes...)
	l.evs = append(l.evs, e)
	return hooks.Continue
}

func TestHelperAccessesAreReported(t *testing.T) {
	// The helper reads 8 bytes at r1 and writes 4 bytes and 6 bytes at r2.
	hs := vm.Helpers{100: {Name: "copy", Fn: func(m *vm.Machine, a vm.Args) (uint64, error) {
		src, err := m.Bytes(a[0], 8, false)
		if err != nil {
			return 0, err
		}
		dst, err := m.Bytes(a[1], 4, true)
		if err != nil {
			return 0, err
		}
		copy(dst, src)
		wide, err := m.Bytes(a[1]+4, 6, true)
		if err != nil {
			return 0, err
		}
		copy(wide, "abcdef")
		return 0, nil
	}}}
	p := load(t,
		i(lddw, 1, 0, 0, 0x44332211), i(0, 0, 0, 0, 0x01020304),
		i(stxdw, 10, 1, -8, 0), // fp-8 = 0x0102030444332211
		i(stdw, 10, 0, -24, 7), // fp-24 = 7, the old value of the 4-byte write
		i(movX, 1, 10, 0, 0), i(addK, 1, 0, 0, -8),
		i(movX, 2, 10, 0, 0), i(addK, 2, 0, 0, -24),
		i(call, 0, 0, 0, 100),
		i(exit, 0, 0, 0, 0),
	)
	m := machine(t, p, vm.Config{Helpers: hs})
	log := &accessLog{}
	m.Attach(log)
	if _, err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []hooks.Access
	for _, ev := range log.evs {
		if ev.Helper != 0 {
			got = append(got, ev)
		}
	}
	if len(got) != 3 {
		t.Fatalf("got %d helper accesses, want 3: %+v", len(got), got)
	}
	read, w4, w6 := got[0], got[1], got[2]
	if read.Kind != hooks.Load || read.Size != 8 || read.Value != 0x0102030444332211 || read.Helper != 100 || read.PC != 8 {
		t.Errorf("read: %+v", read)
	}
	if w4.Kind != hooks.Store || w4.Size != 4 || w4.Old != 7 || w4.Value != 0x44332211 {
		t.Errorf("4-byte write: %+v", w4)
	}
	if w6.Kind != hooks.Store || w6.Size != 6 || string(w6.Bytes) != "abcdef" {
		t.Errorf("6-byte write: %+v", w6)
	}
	if where := m.Describe(read.Addr); where != "fp-8" {
		t.Errorf("read names %q, want fp-8", where)
	}
}
