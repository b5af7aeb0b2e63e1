package hooks_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// loopCall sums 4+3+2+1 in a loop that spills to the stack, then calls a
// subprogram that adds 3, and returns sum + sum+3 = 23 after 26
// instructions: 2 + 4*4 (loop) + 3 + 3 (add3) + 2.
const loopCall = `
	r0 = 0
	r1 = 4
loop:
	r0 += r1
	*(u64 *)(r10 -8) = r0
	r1 -= 1
	if r1 != 0 goto loop
	r6 = r0
	r1 = r0
	call add3
	r0 += r6
	exit
add3:
	r0 = r1
	r0 += 3
	exit
`

func machine(t testing.TB, src string) *vm.Machine {
	t.Helper()
	insns, err := isa.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vm.NewProgram("test", insns)
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p, vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func run(t testing.TB, m *vm.Machine, h any) uint64 {
	t.Helper()
	m.Attach(h)
	r0, err := m.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r0
}

func TestCounter(t *testing.T) {
	m := machine(t, loopCall)
	c := hooks.Count(m.Program())
	if r0 := run(t, m, c); r0 != 23 {
		t.Fatalf("r0 = %d, want 23", r0)
	}
	if c.Runs != 1 || c.Insns != 26 || c.Accesses != 4 || c.Calls != 1 || c.Helpers != 0 {
		t.Errorf("counts %+v", c)
	}
	for pc, want := range map[int]uint64{0: 1, 2: 4, 3: 4, 5: 4, 6: 1, 11: 1, 13: 1} {
		if c.PerPC[pc] != want {
			t.Errorf("pc %d ran %d times, want %d", pc, c.PerPC[pc], want)
		}
	}
	c.Reset()
	run(t, m, c)
	if c.Runs != 1 || c.Insns != 26 {
		t.Errorf("after Reset: %+v", c)
	}
}

func TestMultiFanOut(t *testing.T) {
	m := machine(t, loopCall)
	a, b := hooks.Count(nil), &hooks.Recorder{}
	run(t, m, hooks.Multi(a, nil, b))
	if a.Insns != 26 {
		t.Errorf("first hook saw %d instructions", a.Insns)
	}
	// Each instruction gives a Before and an After; the stores give
	// accesses, the call a call and a return; plus Enter and Exit.
	if n := len(b.Records); n != 26*2+4+2+2 {
		t.Errorf("second hook saw %d events", n)
	}
	if b.Records[0].Kind != hooks.KindEnter || b.Records[len(b.Records)-1].Kind != hooks.KindExit {
		t.Errorf("run bounds: %v ... %v", b.Records[0].Kind, b.Records[len(b.Records)-1].Kind)
	}
}

// Multi is a StepHook or AccessHook only when a member is one, so that
// hooks for rare events keep the machine on its untraced loop.
func TestMultiShape(t *testing.T) {
	rare := hooks.Multi(&runOnly{})
	if _, ok := rare.(hooks.StepHook); ok {
		t.Error("Multi of a RunHook is a StepHook")
	}
	if _, ok := rare.(hooks.AccessHook); ok {
		t.Error("Multi of a RunHook is an AccessHook")
	}
	if _, ok := rare.(hooks.RunHook); !ok {
		t.Error("Multi of a RunHook is not a RunHook")
	}
	if _, ok := hooks.Multi(hooks.Breakpoint()).(hooks.StepHook); !ok {
		t.Error("Multi of a StepHook is not a StepHook")
	}
	if _, ok := hooks.Multi(hooks.Breakpoint()).(hooks.AccessHook); ok {
		t.Error("Multi of a Breakpoints is an AccessHook")
	}
}

type runOnly struct{ enter, exit int }

func (r *runOnly) Enter(*hooks.Run) { r.enter++ }
func (r *runOnly) Exit(*hooks.Run)  { r.exit++ }

// answer returns a fixed Action from BeforeStep at one pc.
type answer struct {
	pc  int
	act hooks.Action
}

func (a answer) BeforeStep(ev *hooks.Step) hooks.Action {
	if ev.PC == a.pc {
		return a.act
	}
	return hooks.Continue
}
func (answer) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }

func TestMultiStrongestAnswer(t *testing.T) {
	m := machine(t, loopCall)
	m.Attach(hooks.Multi(answer{6, hooks.Stop}, answer{6, hooks.Abort}, answer{6, hooks.Continue}))
	_, err := m.Run(context.Background())
	if !errors.Is(err, vm.ErrAborted) {
		t.Fatalf("Stop+Abort: err %v, want ErrAborted", err)
	}
	m.Attach(hooks.Multi(answer{6, hooks.Continue}, answer{6, hooks.Stop}))
	if _, err := m.Run(context.Background()); !errors.Is(err, vm.ErrPaused) || m.PC() != 6 {
		t.Fatalf("Continue+Stop: err %v at pc %d, want a pause at 6", err, m.PC())
	}
}

func TestBreakpoint(t *testing.T) {
	m := machine(t, loopCall)
	bp := hooks.Breakpoint(3, 12)
	m.Attach(bp)
	ctx := context.Background()
	_, err := m.Run(ctx)
	// The loop body's store is reached 4 times, then add3's second
	// instruction once.
	var stops []int
	for errors.Is(err, vm.ErrPaused) {
		stops = append(stops, m.PC())
		if m.PC() == 3 {
			// r0 holds the running sum: 4, 7, 9, 10.
			if r := m.Regs(); len(stops) == 1 && r[0] != 4 {
				t.Errorf("first stop: r0 = %d, want 4", r[0])
			}
		}
		_, err = m.Resume(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 3, 3, 3, 12}; !equalInts(stops, want) {
		t.Errorf("stopped at %v, want %v", stops, want)
	}
	if bp.Hits != 5 || bp.Last != 12 {
		t.Errorf("hits %d, last %d", bp.Hits, bp.Last)
	}
	bp.Clear(3)
	if bp.At(3) || !bp.At(12) {
		t.Error("Clear")
	}
}

func TestFilterPCRange(t *testing.T) {
	m := machine(t, loopCall)
	c := hooks.Count(nil)
	run(t, m, hooks.Filter(c, hooks.PCRange(2, 6)))
	// Only the loop body: 4 instructions, 4 times; Enter always passes.
	if c.Insns != 16 || c.Accesses != 4 || c.Calls != 0 || c.Runs != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestFilterFunc(t *testing.T) {
	m := machine(t, loopCall)
	p := m.Program()
	fn := p.FuncAt(11)
	if fn == "" || fn == p.FuncAt(0) {
		t.Fatalf("subprogram not named: %q", fn)
	}
	c := hooks.Count(nil)
	run(t, m, hooks.Filter(c, hooks.InFunc(p, fn)))
	if c.Insns != 3 || c.PerPC[11] != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestFilterLines(t *testing.T) {
	m := machine(t, loopCall)
	p := m.Program()
	p.Lines = make([]*isa.Line, p.Len())
	for pc := range p.Lines {
		p.Lines[pc] = &isa.Line{File: "/src/prog.c", Line: 10 + pc/2}
	}
	c := hooks.Count(nil)
	// Line 11 is pcs 2 and 3: the loop's add and store.
	run(t, m, hooks.Filter(c, hooks.AtLines(p, "prog.c", 11)))
	if c.Insns != 8 || c.Accesses != 4 {
		t.Errorf("counts %+v", c)
	}
}

func TestSample(t *testing.T) {
	m := machine(t, loopCall)
	c := hooks.Count(nil)
	run(t, m, hooks.Sample(c, 5))
	// Instructions 0, 5, 10, 15, 20, 25 of 26.
	if c.Insns != 6 || c.Runs != 1 {
		t.Errorf("counts %+v", c)
	}
	// Which pcs those are follows from the order the program runs them.
	seq := []int{0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 9, 10}
	want := make([]uint64, 14)
	for i := 0; i < len(seq); i += 5 {
		want[seq[i]]++
	}
	for pc := range want {
		var got uint64
		if pc < len(c.PerPC) {
			got = c.PerPC[pc]
		}
		if got != want[pc] {
			t.Errorf("pc %d sampled %d times, want %d", pc, got, want[pc])
		}
	}
}

func TestCombinatorsDoNotAllocate(t *testing.T) {
	m := machine(t, loopCall)
	c := hooks.Count(m.Program())
	h := hooks.Multi(hooks.Filter(c, hooks.PCRange(0, 8)), hooks.Sample(hooks.Count(m.Program()), 3), hooks.Breakpoint(100))
	m.Attach(h)
	ctx := context.Background()
	if _, err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := m.Run(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}

func TestRecordReplay(t *testing.T) {
	m := machine(t, loopCall)
	var rec hooks.Recorder
	run(t, m, &rec)
	c := hooks.Count(nil)
	hooks.Replay(rec.Records, c)
	if c.Insns != 26 || c.Accesses != 4 || c.Calls != 1 || c.Runs != 1 {
		t.Errorf("replayed counts %+v", c)
	}
	// Records own their registers: the After of pc 2 on the first pass
	// saw r0 = 4.
	for _, r := range rec.Records {
		if r.Kind == hooks.KindAfter && r.Step.PC == 2 {
			if r.Step.Regs[0] != 4 || r.Step.Changed != 1 {
				t.Errorf("after pc 2: r0 = %d changed %#x", r.Step.Regs[0], r.Step.Changed)
			}
			break
		}
	}
	cl := rec.Records[3].Clone()
	if cl.Step.Regs == rec.Records[3].Step.Regs {
		t.Error("Clone shares registers")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
