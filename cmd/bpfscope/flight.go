package main

import "github.com/bpfscope/bpfscope/hooks"

// flight is a flight recorder: it keeps copies of the last n events of a
// run in a ring, reusing their buffers, so a run that ends badly can be
// shown from just before the end. Run entry and exit are kept apart so
// the replayed trace has its frame.
type flight struct {
	ring        []hooks.Record
	next, count int
	enter, exit hooks.Record
}

func newFlight(n int) *flight { return &flight{ring: make([]hooks.Record, n)} }

func (f *flight) slot() *hooks.Record {
	r := &f.ring[f.next]
	f.next = (f.next + 1) % len(f.ring)
	f.count = min(f.count+1, len(f.ring))
	return r
}

func (f *flight) BeforeStep(ev *hooks.Step) hooks.Action {
	f.slot().SetStep(ev, false)
	return hooks.Continue
}

func (f *flight) AfterStep(ev *hooks.Step) hooks.Action {
	f.slot().SetStep(ev, true)
	return hooks.Continue
}

func (f *flight) Access(ev *hooks.Access) hooks.Action {
	f.slot().SetAccess(ev)
	return hooks.Continue
}

func (f *flight) Helper(ev *hooks.HelperCall) hooks.Action {
	f.slot().SetHelper(ev)
	return hooks.Continue
}

func (f *flight) Call(ev *hooks.CallEvent) hooks.Action {
	f.slot().SetCall(ev)
	return hooks.Continue
}

func (f *flight) MapOp(ev *hooks.MapOp) hooks.Action {
	f.slot().SetMapOp(ev)
	return hooks.Continue
}

func (f *flight) Output(ev *hooks.Output) { f.slot().SetOutput(ev) }

func (f *flight) Enter(ev *hooks.Run) {
	f.next, f.count = 0, 0
	f.enter.SetRun(ev, false)
}

func (f *flight) Exit(ev *hooks.Run) { f.exit.SetRun(ev, true) }

// deliver passes the kept events to h, oldest first, framed by the run's
// entry and exit. It starts at the first instruction whose start the ring
// still holds, so no event appears without its instruction.
func (f *flight) deliver(h any) {
	f.enter.Deliver(h)
	start := (f.next - f.count + len(f.ring)) % len(f.ring)
	begun := f.count < len(f.ring)
	for i := range f.count {
		r := &f.ring[(start+i)%len(f.ring)]
		if !begun && r.Kind != hooks.KindBefore {
			continue
		}
		begun = true
		r.Deliver(h)
	}
	f.exit.Deliver(h)
}
