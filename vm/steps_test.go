package vm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/internal/conformance"
	"github.com/bpfscope/bpfscope/internal/corpus"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// stepRec is one executed instruction as a StepHook or PCBatch.Steps shows
// it.
type stepRec struct {
	Prog       string
	PC, Depth  int
	Count      uint64
	Insn       isa.Insn
	Imm64      uint64
	Before     [11]uint64
	Done       bool // After seen
	After      [11]uint64
	AfterDepth int
	Changed    uint16
	AfterPC    int
	AfterCount uint64
	AfterInsn  isa.Insn
	AfterProg  string
	AfterImm64 uint64
}

func recBefore(ev *hooks.Step) stepRec {
	return stepRec{Prog: ev.Prog, PC: ev.PC, Depth: ev.Depth, Count: ev.Count, Insn: ev.Insn, Imm64: ev.Imm64, Before: *ev.Regs}
}

func (r *stepRec) setAfter(ev *hooks.Step) {
	r.Done, r.After, r.AfterDepth, r.Changed = true, *ev.Regs, ev.Depth, ev.Changed
	r.AfterPC, r.AfterCount, r.AfterInsn, r.AfterProg, r.AfterImm64 = ev.PC, ev.Count, ev.Insn, ev.Prog, ev.Imm64
}

// accRec is a memory access by an instruction, as an AccessHook or
// PCBatch.Executed shows it.
type accRec struct {
	PC               int
	Kind             hooks.AccessKind
	Addr, Value, Old uint64
	Size             int
	Region           hooks.Region
	Where            string
}

func recAccess(a *hooks.Access) accRec {
	return accRec{PC: a.PC, Kind: a.Kind, Addr: a.Addr, Value: a.Value, Old: a.Old, Size: a.Size, Region: a.Region, Where: a.Where()}
}

// stepTrace logs what a StepHook and an AccessHook see.
type stepTrace struct {
	recs []stepRec
	accs []accRec
}

// Access logs the accesses of instructions; helpers' do not come in batches.
func (s *stepTrace) Access(a *hooks.Access) hooks.Action {
	if a.Helper == 0 {
		s.accs = append(s.accs, recAccess(a))
	}
	return hooks.Continue
}

func (s *stepTrace) BeforeStep(ev *hooks.Step) hooks.Action {
	s.recs = append(s.recs, recBefore(ev))
	return hooks.Continue
}

func (s *stepTrace) AfterStep(ev *hooks.Step) hooks.Action {
	if n := len(s.recs); n > 0 && !s.recs[n-1].Done {
		s.recs[n-1].setAfter(ev)
	} else {
		s.recs = append(s.recs, stepRec{PC: -1}) // an After without Before
	}
	return hooks.Continue
}

// batchTrace logs the steps and accesses PC batches rebuild.
type batchTrace struct {
	recs    []stepRec
	accs    []accRec
	batches int
	bad     string
}

func (b *batchTrace) PCs(pb *hooks.PCBatch) {
	b.batches++
	n := 0
	for before, after := range pb.Steps() {
		r := recBefore(before)
		if after != nil {
			r.setAfter(after)
		}
		b.recs = append(b.recs, r)
		n++
	}
	for ex := range pb.Executed() {
		if ex.Access != nil {
			b.accs = append(b.accs, recAccess(ex.Access))
		}
	}
	if n != len(pb.PC) && b.bad == "" {
		b.bad = fmt.Sprintf("batch of %d pcs yielded %d steps", len(pb.PC), n)
	}
}

// checkStepsAgree runs a program (run attaches the hook it is given) with a
// StepHook, with a PC hook rebuilding steps, and with both at once, and
// requires the same instructions with the same registers before and after.
func checkStepsAgree(t *testing.T, name string, run func(hook any)) {
	t.Helper()
	want := &stepTrace{}
	run(want)
	got := &batchTrace{}
	run(got)
	got2, want2 := &batchTrace{}, &stepTrace{}
	run(hooks.Multi(got2, want2))
	for _, c := range []struct {
		how  string
		recs []stepRec
		accs []accRec
		bad  string
	}{{"PC hook", got.recs, got.accs, got.bad}, {"PC hook beside a step hook", got2.recs, got2.accs, got2.bad}, {"step hook beside a PC hook", want2.recs, want2.accs, ""}} {
		if c.bad != "" {
			t.Fatalf("%s: %s: %s", name, c.how, c.bad)
		}
		for i := range max(len(c.accs), len(want.accs)) {
			if i >= len(c.accs) || i >= len(want.accs) || c.accs[i] != want.accs[i] {
				t.Fatalf("%s: %s differs from the access hook at access %d of %d/%d:\n got  %+v\n want %+v",
					name, c.how, i, len(c.accs), len(want.accs), atAcc(c.accs, i), atAcc(want.accs, i))
			}
		}
		if i := firstStepDiff(c.recs, want.recs); i >= 0 {
			t.Fatalf("%s: %s differs from the step hook at step %d of %d/%d:\n got  %+v\n want %+v",
				name, c.how, i, len(c.recs), len(want.recs), at(c.recs, i), at(want.recs, i))
		}
	}
}

func atAcc(accs []accRec, i int) any {
	if i < len(accs) {
		return accs[i]
	}
	return "(none)"
}

func at(recs []stepRec, i int) any {
	if i < len(recs) {
		return recs[i]
	}
	return "(none)"
}

func firstStepDiff(a, b []stepRec) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func TestStepsRebuildRegisters(t *testing.T) {
	programs, hs := hookPrograms(t)
	for name, insns := range programs {
		p := load(t, insns...)
		checkStepsAgree(t, name, func(hook any) {
			m := machine(t, p, vm.Config{Helpers: hs})
			m.Attach(hook)
			m.Run(context.Background())
		})
	}

	// A filter passes the selected steps with the registers of the whole
	// batch.
	p := load(t, programs["callback"]...)
	all, some := &batchTrace{}, &batchTrace{}
	m := machine(t, p, vm.Config{Helpers: hs})
	m.Attach(hooks.Multi(all, hooks.Filter(some, hooks.PCRange(6, 9))))
	m.Run(context.Background())
	var want []stepRec
	for _, r := range all.recs {
		if r.PC >= 6 && r.PC < 9 {
			want = append(want, r)
		}
	}
	if len(want) == 0 || firstStepDiff(some.recs, want) >= 0 {
		t.Fatalf("filtered steps: %d, want %d of the %d steps at pcs 6..8", len(some.recs), len(want), len(all.recs))
	}
}

// A hook may change registers while the run is paused: the batch ends at
// the pause, so the steps before show the values the program computed and
// the steps after the ones the hook set.
func TestStepsAcrossPause(t *testing.T) {
	p := load(t,
		i(movK, 1, 0, 0, 1),
		i(movK, 2, 0, 0, 2),
		i(movX, 0, 1, 0, 0),
		i(alu64X|isa.ALUAdd, 0, 2, 0, 0),
		i(exit, 0, 0, 0, 0),
	)
	steps := &batchTrace{}
	m := machine(t, p, vm.Config{})
	m.Attach(hooks.Multi(steps, &breakAt{pc: 2}))
	if _, err := m.Run(context.Background()); err != vm.ErrPaused {
		t.Fatalf("Run: %v, want a pause at pc 2", err)
	}
	m.SetReg(1, 100)
	r0, err := m.Resume(context.Background())
	if err != nil || r0 != 102 {
		t.Fatalf("Resume: %d, %v, want 102", r0, err)
	}
	if len(steps.recs) != 5 || steps.batches != 2 {
		t.Fatalf("%d steps in %d batches, want 5 in 2", len(steps.recs), steps.batches)
	}
	if s := steps.recs[0]; s.After[1] != 1 || s.Changed != 1<<1 {
		t.Errorf("r1 = 1: after r1 = %d, changed %#x", s.After[1], s.Changed)
	}
	if s := steps.recs[2]; s.Before[1] != 100 || s.After[0] != 100 {
		t.Errorf("r0 = r1 after SetReg: before r1 = %d, after r0 = %d, want 100 and 100", s.Before[1], s.After[0])
	}
	if s := steps.recs[4]; s.After[0] != 102 || s.Count != 4 {
		t.Errorf("exit: r0 = %d count %d, want 102 and 4", s.After[0], s.Count)
	}
}

// breakAt stops once before pc.
type breakAt struct {
	pc   int
	done bool
}

func (b *breakAt) BeforeStep(ev *hooks.Step) hooks.Action {
	if ev.PC == b.pc && !b.done {
		b.done = true
		return hooks.Stop
	}
	return hooks.Continue
}
func (b *breakAt) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }

// Every conformance program: ALU, jumps, loads and stores of every size,
// atomics, calls, the unwinding helper and programs that fault.
func TestStepsRebuildConformance(t *testing.T) {
	tests, err := conformance.LoadDir(filepath.Join("..", "testdata", "conformance", "tests"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		code := isa.Encode(tc.Program)
		checkStepsAgree(t, tc.Name, func(hook any) {
			conformance.Trace(context.Background(), code, tc.Mem, hook)
		})
	}
}

// Every program of the kernel corpus: XDP programs with packets, maps and
// helpers.
func TestStepsRebuildCorpus(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "kernel-corpus", "cases.jsonl")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("kernel corpus not found at %s", path)
	}
	cases, err := corpus.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		cases = cases[:300]
	}
	for _, c := range cases {
		checkStepsAgree(t, c.ID, func(hook any) {
			c.Trace(context.Background(), hook)
		})
	}
}
