package hooks

// Kind names the kind of event a Record holds.
type Kind uint8

const (
	KindNone   Kind = iota
	KindBefore      // StepHook.BeforeStep
	KindAfter       // StepHook.AfterStep
	KindAccess      // AccessHook.Access
	KindHelper      // HelperHook.Helper
	KindCall        // CallHook.Call
	KindMapOp       // MapHook.MapOp
	KindOutput      // OutputHook.Output
	KindEnter       // RunHook.Enter
	KindExit        // RunHook.Exit
)

var kindNames = [...]string{"none", "before", "after", "access", "helper", "call", "map", "output", "enter", "exit"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(?)"
}

// Record is a copy of one event that outlives the hook call: ring buffers
// keep them and trace file readers produce them. Only the field named by
// Kind is meaningful. Slices point into buffers the Record owns, so
// copying an event into a Record that is reused does not allocate once
// its buffers have grown.
type Record struct {
	Kind Kind

	Step   Step // Step.Regs points to Regs
	Access Access
	Helper HelperCall
	Call   CallEvent
	MapOp  MapOp
	Output Output
	Run    Run

	Regs [11]uint64

	key, value, data []byte
}

// SetStep copies a BeforeStep (after false) or AfterStep event.
func (r *Record) SetStep(ev *Step, after bool) {
	r.Kind = KindBefore
	if after {
		r.Kind = KindAfter
	}
	r.Step = *ev
	if ev.Regs != nil {
		r.Regs = *ev.Regs
	}
	r.Step.Regs = &r.Regs
}

// SetAccess copies an Access event; its Bytes are copied too.
func (r *Record) SetAccess(ev *Access) {
	r.Kind = KindAccess
	r.Access = *ev
	if ev.Bytes != nil {
		r.data = append(r.data[:0], ev.Bytes...)
		r.Access.Bytes = r.data
	}
}

// SetHelper copies a HelperCall event.
func (r *Record) SetHelper(ev *HelperCall) {
	r.Kind = KindHelper
	r.Helper = *ev
}

// SetCall copies a CallEvent.
func (r *Record) SetCall(ev *CallEvent) {
	r.Kind = KindCall
	r.Call = *ev
}

// SetMapOp copies a MapOp event with its key and value.
func (r *Record) SetMapOp(ev *MapOp) {
	r.Kind = KindMapOp
	r.MapOp = *ev
	r.key = append(r.key[:0], ev.Key...)
	r.value = append(r.value[:0], ev.Value...)
	r.MapOp.Key = nilIfNil(ev.Key, r.key)
	r.MapOp.Value = nilIfNil(ev.Value, r.value)
}

// SetOutput copies an Output event with its data.
func (r *Record) SetOutput(ev *Output) {
	r.Kind = KindOutput
	r.Output = *ev
	r.data = append(r.data[:0], ev.Data...)
	r.Output.Data = nilIfNil(ev.Data, r.data)
}

// SetRun copies a run's Enter (exit false) or Exit event.
func (r *Record) SetRun(ev *Run, exit bool) {
	r.Kind = KindEnter
	if exit {
		r.Kind = KindExit
	}
	r.Run = *ev
}

func nilIfNil(src, own []byte) []byte {
	if src == nil {
		return nil
	}
	return own
}

// Deliver passes the recorded event to h, if h implements the matching
// interface, and returns h's answer (Continue for hooks without one).
func (r *Record) Deliver(h any) Action {
	switch r.Kind {
	case KindBefore, KindAfter:
		if s, ok := h.(StepHook); ok {
			r.Step.Regs = &r.Regs
			if r.Kind == KindBefore {
				return s.BeforeStep(&r.Step)
			}
			return s.AfterStep(&r.Step)
		}
	case KindAccess:
		if a, ok := h.(AccessHook); ok {
			return a.Access(&r.Access)
		}
	case KindHelper:
		if x, ok := h.(HelperHook); ok {
			return x.Helper(&r.Helper)
		}
	case KindCall:
		if c, ok := h.(CallHook); ok {
			return c.Call(&r.Call)
		}
	case KindMapOp:
		if mo, ok := h.(MapHook); ok {
			return mo.MapOp(&r.MapOp)
		}
	case KindOutput:
		if o, ok := h.(OutputHook); ok {
			o.Output(&r.Output)
		}
	case KindEnter, KindExit:
		if rh, ok := h.(RunHook); ok {
			if r.Kind == KindEnter {
				rh.Enter(&r.Run)
			} else {
				rh.Exit(&r.Run)
			}
		}
	}
	return Continue
}

// PC returns the pc of the instruction the event belongs to, or -1 for
// run entry and exit.
func (r *Record) PC() int {
	switch r.Kind {
	case KindBefore, KindAfter:
		return r.Step.PC
	case KindAccess:
		return r.Access.PC
	case KindHelper:
		return r.Helper.PC
	case KindCall:
		return r.Call.PC
	case KindMapOp:
		return r.MapOp.PC
	case KindOutput:
		return r.Output.PC
	}
	return -1
}

// Clone returns a copy of r that shares no buffers with it.
func (r *Record) Clone() *Record {
	c := new(Record)
	c.copyFrom(r)
	return c
}

// CopyTo copies r into dst, reusing dst's buffers.
func (r *Record) CopyTo(dst *Record) { dst.copyFrom(r) }

func (r *Record) copyFrom(src *Record) {
	key, value, data := r.key, r.value, r.data
	*r = *src
	r.key, r.value, r.data = key, value, data
	r.Step.Regs = &r.Regs
	switch src.Kind {
	case KindAccess:
		if src.Access.Bytes != nil {
			r.data = append(r.data[:0], src.Access.Bytes...)
			r.Access.Bytes = r.data
		}
	case KindMapOp:
		r.key = append(r.key[:0], src.MapOp.Key...)
		r.value = append(r.value[:0], src.MapOp.Value...)
		r.MapOp.Key = nilIfNil(src.MapOp.Key, r.key)
		r.MapOp.Value = nilIfNil(src.MapOp.Value, r.value)
	case KindOutput:
		r.data = append(r.data[:0], src.Output.Data...)
		r.Output.Data = nilIfNil(src.Output.Data, r.data)
	}
}

// Recorder is a hook that copies every event into a growing slice of
// Records: the simplest way to keep a whole run, for tests and tools.
// It allocates per event; use package exporters/ring for a bounded sink.
type Recorder struct {
	Records []*Record
}

func (c *Recorder) add() *Record {
	r := new(Record)
	c.Records = append(c.Records, r)
	return r
}

func (c *Recorder) BeforeStep(ev *Step) Action { c.add().SetStep(ev, false); return Continue }
func (c *Recorder) AfterStep(ev *Step) Action  { c.add().SetStep(ev, true); return Continue }
func (c *Recorder) Access(ev *Access) Action   { c.add().SetAccess(ev); return Continue }
func (c *Recorder) Helper(ev *HelperCall) Action {
	c.add().SetHelper(ev)
	return Continue
}
func (c *Recorder) Call(ev *CallEvent) Action { c.add().SetCall(ev); return Continue }
func (c *Recorder) MapOp(ev *MapOp) Action    { c.add().SetMapOp(ev); return Continue }
func (c *Recorder) Output(ev *Output)         { c.add().SetOutput(ev) }
func (c *Recorder) Enter(ev *Run)             { c.add().SetRun(ev, false) }
func (c *Recorder) Exit(ev *Run)              { c.add().SetRun(ev, true) }

// Replay delivers recorded events to h in order, stopping at the first
// Abort, which it returns.
func Replay(recs []*Record, h any) Action {
	for _, r := range recs {
		if a := r.Deliver(h); a == Abort {
			return a
		}
	}
	return Continue
}
