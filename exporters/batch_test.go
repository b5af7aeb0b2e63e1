package exporters_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/hooks"
)

// insnEvent is what an exporter writes of an instruction-level event.
type insnEvent struct {
	Kind                 hooks.Kind
	PC, Depth            int
	Count                uint64
	Regs                 [11]uint64
	Changed              uint16
	Access               hooks.AccessKind
	Addr, Value, Old     uint64
	Size                 int
	Where, Name, RegionK string
	Offset               int64
}

func stepEvent(kind hooks.Kind, s *hooks.Step) insnEvent {
	return insnEvent{Kind: kind, PC: s.PC, Depth: s.Depth, Count: s.Count, Regs: *s.Regs, Changed: s.Changed}
}

func accessEvent(a *hooks.Access) insnEvent {
	e := insnEvent{Kind: hooks.KindAccess, PC: a.PC, Access: a.Kind, Addr: a.Addr, Value: a.Value, Old: a.Old, Size: a.Size,
		Where: a.Where(), RegionK: a.Region.Kind.String(), Offset: a.Region.Offset}
	if n, ok := a.M.(hooks.Namer); ok {
		e.Name = n.Name(a.Addr, a.Size)
	}
	return e
}

// traced records the instruction events of a run through the synchronous
// hooks: the machine interprets its trap code.
type traced struct{ evs []insnEvent }

func (t *traced) BeforeStep(s *hooks.Step) hooks.Action {
	t.evs = append(t.evs, stepEvent(hooks.KindBefore, s))
	return hooks.Continue
}
func (t *traced) AfterStep(s *hooks.Step) hooks.Action {
	t.evs = append(t.evs, stepEvent(hooks.KindAfter, s))
	return hooks.Continue
}
func (t *traced) Access(a *hooks.Access) hooks.Action {
	if a.Helper == 0 {
		t.evs = append(t.evs, accessEvent(a))
	}
	return hooks.Continue
}

// batched records the same from PC batches: the machine interprets its
// recording code. It also walks each batch with a cursor (Walk), whose
// fast path must agree with Executed's general one.
type batched struct {
	evs    []insnEvent
	walked []cursorView
	errs   []string
	// spanWheres counts the accesses the cursor named from its span
	// (Cursor.Where).
	spanWheres int
}

// cursorView is what a cursor says of an instruction.
type cursorView struct {
	PC, Depth int
	Count     uint64
	Changed   uint16
	Regs      [11]uint64
	Faulted   bool
	Access    insnEvent
}

func (b *batched) PCs(batch *hooks.PCBatch) {
	b.walked = b.walked[:0]
	for c := batch.Walk(); c.Next(); {
		v := cursorView{PC: c.PC, Depth: c.Depth, Count: c.Count, Changed: c.Changed, Regs: *c.Regs, Faulted: c.Faulted}
		if c.Access != nil {
			v.Access = accessEvent(c.Access)
			// The cursor's Where, from its span, must read as Describe.
			if where, off, ok := c.Where(); ok {
				v.Access.Where = where + fmt.Sprintf("%+d", off)
				b.spanWheres++
			}
		}
		b.walked = append(b.walked, v)
	}
	n := 0
	for ex := range batch.Executed() {
		v := cursorView{PC: ex.Before.PC, Depth: ex.Before.Depth, Count: ex.Before.Count, Regs: *ex.Before.Regs, Faulted: true}
		if ex.After != nil {
			v.Changed, v.Regs, v.Faulted = ex.After.Changed, *ex.After.Regs, false
		}
		if ex.Access != nil {
			v.Access = accessEvent(ex.Access)
		}
		if n >= len(b.walked) || !reflect.DeepEqual(b.walked[n], v) {
			var w cursorView
			if n < len(b.walked) {
				w = b.walked[n]
			}
			b.errs = append(b.errs, fmt.Sprintf("instruction %d of a batch of %d:\nExecuted %+v\nWalk     %+v", n, len(batch.PC), v, w))
			break
		}
		n++
	}
	if n != len(b.walked) && len(b.errs) == 0 {
		b.errs = append(b.errs, fmt.Sprintf("Walk gave %d instructions, Executed %d", len(b.walked), n))
	}
	for ex := range batch.Executed() {
		b.evs = append(b.evs, stepEvent(hooks.KindBefore, ex.Before))
		if ex.Access != nil {
			b.evs = append(b.evs, accessEvent(ex.Access))
		}
		if ex.After != nil {
			b.evs = append(b.evs, stepEvent(hooks.KindAfter, ex.After))
		}
	}
}
func (b *batched) BatchesOnly() {}

// TestBatchesMatchSteps checks that what PC batches rebuild, registers
// and memory accesses with their names, is what the synchronous hooks see,
// instruction by instruction, over the whole conformance suite (loads,
// stores, atomics, calls, faults) and the XDP case (context, packet, map
// value and stack).
func TestBatchesMatchSteps(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(exptest.Root(), "testdata", "conformance", "tests", "*.data"))
	if err != nil || len(names) == 0 {
		t.Fatal("no conformance tests", err)
	}
	cases := []*exptest.Case{exptest.XDP(t)}
	for _, n := range names {
		cases = append(cases, exptest.Conformance(t, filepath.Base(n)))
	}
	spanWheres := 0
	defer func() {
		if spanWheres == 0 {
			t.Errorf("no access named from a cursor's span")
		}
	}()
	for _, c := range cases {
		var tr traced
		var bt batched
		r1, err1 := c.Run(t, &tr)
		if c.Name == "xdp_count" { // its run changed the map and packet: start anew
			c = exptest.XDP(t)
		}
		r2, err2 := c.Run(t, &bt)
		if r1 != r2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Errorf("%s: traced %d, %v; batched %d, %v", c.Name, r1, err1, r2, err2)
			continue
		}
		if len(tr.evs) == 0 {
			t.Errorf("%s: no events", c.Name)
		}
		spanWheres += bt.spanWheres
		for _, e := range bt.errs {
			t.Errorf("%s: %s", c.Name, e)
		}
		for i := range max(len(tr.evs), len(bt.evs)) {
			var a, b insnEvent
			if i < len(tr.evs) {
				a = tr.evs[i]
			}
			if i < len(bt.evs) {
				b = bt.evs[i]
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: event %d of %d/%d:\ntraced  %+v\nbatched %+v", c.Name, i, len(tr.evs), len(bt.evs), a, b)
				break
			}
		}
	}
}
