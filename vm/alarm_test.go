package vm_test

import (
	"context"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
)

// firstStep records the count of the first instruction a step hook sees.
type firstStep struct {
	first, steps uint64
	seen         bool
}

func (f *firstStep) BeforeStep(ev *hooks.Step) hooks.Action {
	if !f.seen {
		f.first, f.seen = ev.Count, true
	}
	f.steps++
	return hooks.Continue
}
func (f *firstStep) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }

// An alarm lets a run go untraced to a count, then traced: the hook it
// attaches sees every instruction from shortly after that count to the
// end, and the result is the untraced one's.
func TestAlarmAttachesMidRun(t *testing.T) {
	p := mustProgram(t, aluLoop())
	m, err := vm.New(p, vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := m.Insns()

	f := &firstStep{}
	const at = 3000
	m.SetAlarm(at, func() { m.Attach(f) })
	got, err := m.Run(context.Background())
	if err != nil || got != want {
		t.Fatalf("with alarm: %d, %v; want %d", got, err, want)
	}
	// The loop body is 6 instructions: the alarm rings at the first taken
	// jump at or after the count.
	if !f.seen || f.first < at || f.first >= at+6 {
		t.Fatalf("first traced instruction %d (seen %v), want [%d, %d)", f.first, f.seen, at, at+6)
	}
	if f.first+f.steps != total {
		t.Fatalf("traced %d from %d, run has %d", f.steps, f.first, total)
	}
	// A rung alarm is gone; a hook that detaches itself returns the run to
	// the plain loop.
	m.Attach(nil)
	d := &detacher{m: m}
	m.Attach(d)
	if got, err := m.Run(context.Background()); err != nil || got != want || d.steps != 1 {
		t.Fatalf("detached run: %d, %v, %d steps", got, err, d.steps)
	}
}

type detacher struct {
	m     *vm.Machine
	steps int
}

func (d *detacher) BeforeStep(*hooks.Step) hooks.Action {
	d.steps++
	d.m.Attach(nil)
	return hooks.Continue
}
func (d *detacher) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }
