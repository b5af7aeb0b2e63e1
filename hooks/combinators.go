package hooks

import (
	"strings"

	"github.com/bpfscope/bpfscope/isa"
)

// Combinators build one hook out of others. The value they return
// implements StepHook and AccessHook only when one of the hooks inside
// does, because a machine runs its slow, traced loop exactly when the
// attached hook implements one of those two: a Multi of helper and run
// hooks keeps the fast loop. The other interfaces are always implemented;
// their events are rare.
//
// None of them allocates per event.

// fan delivers each event to the hooks that implement its interface, when
// gate (if set) admits the event's pc.
type fan struct {
	step   []StepHook
	access []AccessHook
	helper []HelperHook
	call   []CallHook
	mapOp  []MapHook
	output []OutputHook
	run    []RunHook
	pcs    []PCHook
	// Batch hooks (BatchHook) take instructions from batches: they get no
	// live steps, and of live accesses those of helpers only; their
	// StepHook and AccessHook are for replayed events.
	batchStep   []StepHook
	batchAccess []AccessHook
	gate        func(pc int) bool
	kept        []uint32 // PCs admitted by the gate, reused
	filtered    PCBatch  // the batch of kept pcs, reused
}

func newFan(hs []any) *fan {
	f := new(fan)
	for _, h := range hs {
		f.add(h)
	}
	return f
}

func (f *fan) add(h any) {
	if h == nil {
		return
	}
	if _, ok := h.(BatchHook); ok {
		if s, ok := h.(StepHook); ok {
			f.batchStep = append(f.batchStep, s)
		}
		if a, ok := h.(AccessHook); ok {
			f.batchAccess = append(f.batchAccess, a)
		}
	} else {
		if s, ok := h.(StepHook); ok {
			f.step = append(f.step, s)
		}
		if a, ok := h.(AccessHook); ok {
			f.access = append(f.access, a)
		}
	}
	if x, ok := h.(HelperHook); ok {
		f.helper = append(f.helper, x)
	}
	if c, ok := h.(CallHook); ok {
		f.call = append(f.call, c)
	}
	if m, ok := h.(MapHook); ok {
		f.mapOp = append(f.mapOp, m)
	}
	if o, ok := h.(OutputHook); ok {
		f.output = append(f.output, o)
	}
	if r, ok := h.(RunHook); ok {
		f.run = append(f.run, r)
	}
	if p, ok := h.(PCHook); ok {
		f.pcs = append(f.pcs, p)
	}
}

// admit reports whether the gate lets events at pc through.
func (f *fan) admit(pc int) bool { return f.gate == nil || f.gate(pc) }

// strongest returns the answer that wins when hooks disagree:
// Abort over Stop over Continue.
func strongest(a, b Action) Action { return max(a, b) }

func (f *fan) beforeStep(ev *Step) Action {
	if !f.admit(ev.PC) {
		return Continue
	}
	act := Continue
	for _, h := range f.step {
		act = strongest(act, h.BeforeStep(ev))
	}
	return act
}

func (f *fan) afterStep(ev *Step) Action {
	if !f.admit(ev.PC) {
		return Continue
	}
	act := Continue
	for _, h := range f.step {
		act = strongest(act, h.AfterStep(ev))
	}
	return act
}

func (f *fan) accessEv(ev *Access) Action {
	if !f.admit(ev.PC) {
		return Continue
	}
	act := Continue
	for _, h := range f.access {
		act = strongest(act, h.Access(ev))
	}
	if ev.Helper != 0 { // the batches hold the accesses of instructions
		for _, h := range f.batchAccess {
			act = strongest(act, h.Access(ev))
		}
	}
	return act
}

// fanBatch is the shape of a combination whose hooks of instructions are
// all batch hooks: it is a BatchHook itself. Its StepHook and AccessHook
// pass replayed events on to them (see BatchHook).
type fanBatch struct{ fanRarePC }

func (fanBatch) BatchesOnly() {}

func (f fanBatch) BeforeStep(ev *Step) Action {
	act := Continue
	if f.admit(ev.PC) {
		for _, h := range f.batchStep {
			act = strongest(act, h.BeforeStep(ev))
		}
	}
	return act
}

func (f fanBatch) AfterStep(ev *Step) Action {
	act := Continue
	if f.admit(ev.PC) {
		for _, h := range f.batchStep {
			act = strongest(act, h.AfterStep(ev))
		}
	}
	return act
}

// Access passes helpers' accesses, live or replayed, and replayed
// accesses of instructions, which a machine never sends a BatchHook.
func (f fanBatch) Access(ev *Access) Action {
	act := Continue
	if f.admit(ev.PC) {
		for _, h := range f.batchAccess {
			act = strongest(act, h.Access(ev))
		}
	}
	return act
}

func (f *fan) Helper(ev *HelperCall) Action {
	if !f.admit(ev.PC) {
		return Continue
	}
	act := Continue
	for _, h := range f.helper {
		act = strongest(act, h.Helper(ev))
	}
	return act
}

func (f *fan) Call(ev *CallEvent) Action {
	if !f.admit(ev.PC) {
		return Continue
	}
	act := Continue
	for _, h := range f.call {
		act = strongest(act, h.Call(ev))
	}
	return act
}

func (f *fan) MapOp(ev *MapOp) Action {
	if !f.admit(ev.PC) {
		return Continue
	}
	act := Continue
	for _, h := range f.mapOp {
		act = strongest(act, h.MapOp(ev))
	}
	return act
}

func (f *fan) Output(ev *Output) {
	if !f.admit(ev.PC) {
		return
	}
	for _, h := range f.output {
		h.Output(ev)
	}
}

// pcBatch passes a batch on; with a gate, only the admitted pcs (First
// then still counts from the unfiltered batch), whose Steps are rebuilt
// from the whole batch.
func (f *fan) pcBatch(ev *PCBatch) {
	if f.gate != nil {
		f.kept = f.kept[:0]
		for _, pc := range ev.PC {
			if f.gate(int(pc)) {
				f.kept = append(f.kept, pc)
			}
		}
		if len(f.kept) == 0 {
			return
		}
		f.filtered.Prog, f.filtered.First, f.filtered.PC = ev.Prog, ev.First, f.kept
		f.filtered.Insns, f.filtered.Lines, f.filtered.M = ev.Insns, ev.Lines, ev.M
		f.filtered.full, f.filtered.sel = ev, f.gate
		ev = &f.filtered
	}
	for _, h := range f.pcs {
		h.PCs(ev)
	}
}

// Enter and Exit are never filtered: a run's bounds matter to every hook.
func (f *fan) Enter(ev *Run) {
	for _, h := range f.run {
		h.Enter(ev)
	}
}

func (f *fan) Exit(ev *Run) {
	for _, h := range f.run {
		h.Exit(ev)
	}
}

// The shapes of a combined hook: whether it is a StepHook, an AccessHook
// and a PCHook. The machine picks its interpreter path by what a hook
// implements, so a combination must not claim interfaces it does not need.
type (
	fanRare   struct{ *fan }
	fanStep   struct{ *fan }
	fanAccess struct{ *fan }
	fanBoth   struct{ *fan }

	fanRarePC   struct{ fanRare }
	fanStepPC   struct{ fanStep }
	fanAccessPC struct{ fanAccess }
	fanBothPC   struct{ fanBoth }
)

func (f fanRarePC) PCs(ev *PCBatch)   { f.pcBatch(ev) }
func (f fanStepPC) PCs(ev *PCBatch)   { f.pcBatch(ev) }
func (f fanAccessPC) PCs(ev *PCBatch) { f.pcBatch(ev) }
func (f fanBothPC) PCs(ev *PCBatch)   { f.pcBatch(ev) }

func (f fanStep) BeforeStep(ev *Step) Action { return f.beforeStep(ev) }
func (f fanStep) AfterStep(ev *Step) Action  { return f.afterStep(ev) }
func (f fanAccess) Access(ev *Access) Action { return f.accessEv(ev) }
func (f fanBoth) BeforeStep(ev *Step) Action { return f.beforeStep(ev) }
func (f fanBoth) AfterStep(ev *Step) Action  { return f.afterStep(ev) }
func (f fanBoth) Access(ev *Access) Action   { return f.accessEv(ev) }

// shape wraps f in the type that implements exactly the traced interfaces
// its hooks need.
func (f *fan) shape() any {
	pcs := len(f.pcs) > 0
	step, access := len(f.step) > 0, len(f.access) > 0
	batch := len(f.batchStep)+len(f.batchAccess) > 0
	if batch && !step && !access {
		return fanBatch{fanRarePC{fanRare{f}}}
	}
	// Traced anyway: helpers' accesses reach batch hooks through Access.
	access = access || len(f.batchAccess) > 0
	switch {
	case step && access && pcs:
		return fanBothPC{fanBoth{f}}
	case step && access:
		return fanBoth{f}
	case step && pcs:
		return fanStepPC{fanStep{f}}
	case step:
		return fanStep{f}
	case access && pcs:
		return fanAccessPC{fanAccess{f}}
	case access:
		return fanAccess{f}
	case pcs:
		return fanRarePC{fanRare{f}}
	}
	return fanRare{f}
}

// Multi combines hooks: each event goes to every hook that implements its
// interface, in argument order. When hooks answer differently the
// strongest answer wins: Abort over Stop over Continue. Nil hooks are
// ignored.
func Multi(hs ...any) any { return newFan(hs).shape() }

// A Match selects instructions by pc, for Filter.
type Match func(pc int) bool

// Filter passes h only the events of instructions m selects: steps,
// accesses, helper calls, calls, map operations and output at those pcs.
// Run entry and exit always pass.
func Filter(h any, m Match) any {
	f := newFan([]any{h})
	f.gate = m
	return f.shape()
}

// PCRange matches lo <= pc < hi.
func PCRange(lo, hi int) Match {
	return func(pc int) bool { return pc >= lo && pc < hi }
}

// PCs matches the given pcs.
func PCs(pcs ...int) Match {
	return newBitmap(pcs).match
}

// Program is what function and line filters need to know of a program;
// *vm.Program implements it.
type Program interface {
	Len() int
	FuncAt(pc int) string
	Line(pc int) *isa.Line
}

// InFunc matches the instructions of the named functions of p. Filters
// see pcs only: after a tail call the same pcs of the new program match.
func InFunc(p Program, names ...string) Match {
	var pcs []int
	for pc := range p.Len() {
		fn := p.FuncAt(pc)
		if l := p.Line(pc); fn == "" && l != nil {
			fn = l.Func
		}
		for _, n := range names {
			if fn == n {
				pcs = append(pcs, pc)
			}
		}
	}
	return newBitmap(pcs).match
}

// AtLines matches the instructions of p compiled from the given lines of
// file. file matches a source path equal to it or ending in "/"+file; an
// empty file matches every file.
func AtLines(p Program, file string, lines ...int) Match {
	var pcs []int
	for pc := range p.Len() {
		l := p.Line(pc)
		if l == nil || file != "" && l.File != file && !strings.HasSuffix(l.File, "/"+file) {
			continue
		}
		for _, n := range lines {
			if l.Line == n {
				pcs = append(pcs, pc)
			}
		}
	}
	return newBitmap(pcs).match
}

// bitmap is a set of pcs.
type bitmap []uint64

func newBitmap(pcs []int) bitmap {
	var b bitmap
	for _, pc := range pcs {
		b.set(pc, true)
	}
	return b
}

func (b *bitmap) set(pc int, on bool) {
	if pc < 0 {
		return
	}
	w := pc / 64
	if w >= len(*b) {
		if !on {
			return
		}
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	if on {
		(*b)[w] |= 1 << (pc % 64)
	} else {
		(*b)[w] &^= 1 << (pc % 64)
	}
}

func (b bitmap) match(pc int) bool {
	w := pc / 64
	return pc >= 0 && w < len(b) && b[w]&(1<<(pc%64)) != 0
}

// Sample passes h the events of every nth executed instruction (those
// whose Step.Count is a multiple of n), with the accesses, helper calls
// and other events they cause; run entry and exit always pass. The
// result is always a StepHook, since sampling counts instructions.
func Sample(h any, n uint64) any {
	if n == 0 {
		n = 1
	}
	s := &sampler{n: n}
	s.fan = newFan([]any{h})
	s.fan.gate = func(int) bool { return s.on }
	if len(s.fan.access) > 0 {
		return sampleAccess{s}
	}
	return s
}

type sampler struct {
	*fan
	n  uint64
	on bool
}

func (s *sampler) BeforeStep(ev *Step) Action {
	s.on = ev.Count%s.n == 0
	return s.beforeStep(ev)
}

func (s *sampler) AfterStep(ev *Step) Action { return s.afterStep(ev) }

type sampleAccess struct{ *sampler }

func (s sampleAccess) Access(ev *Access) Action { return s.accessEv(ev) }

// Counter counts what runs do. Attach it alone or in a Multi; it is a
// StepHook, so the machine runs traced.
type Counter struct {
	Runs     uint64
	Insns    uint64 // instructions started, including one that faulted
	Accesses uint64
	Helpers  uint64
	Calls    uint64 // BPF-to-BPF calls (returns are not counted)
	MapOps   uint64
	// PerPC[pc] counts executions of the instruction at pc; it grows as
	// needed (Count sizes it for a program up front).
	PerPC []uint64
	// PerHelper counts calls by helper id.
	PerHelper map[int32]uint64
}

// Count returns a Counter sized for p (which may be nil).
func Count(p Program) *Counter {
	c := &Counter{PerHelper: map[int32]uint64{}}
	if p != nil {
		c.PerPC = make([]uint64, p.Len())
	}
	return c
}

// Reset zeroes the counts, keeping their storage.
func (c *Counter) Reset() {
	perPC, perHelper := c.PerPC, c.PerHelper
	clear(perPC)
	clear(perHelper)
	*c = Counter{PerPC: perPC, PerHelper: perHelper}
}

func (c *Counter) BeforeStep(ev *Step) Action {
	c.Insns++
	if ev.PC >= len(c.PerPC) {
		c.PerPC = append(c.PerPC, make([]uint64, ev.PC+1-len(c.PerPC))...)
	}
	c.PerPC[ev.PC]++
	return Continue
}

func (c *Counter) AfterStep(*Step) Action { return Continue }
func (c *Counter) Access(*Access) Action  { c.Accesses++; return Continue }
func (c *Counter) MapOp(*MapOp) Action    { c.MapOps++; return Continue }
func (c *Counter) Enter(*Run)             { c.Runs++ }
func (c *Counter) Exit(*Run)              {}

func (c *Counter) Helper(ev *HelperCall) Action {
	c.Helpers++
	if c.PerHelper == nil {
		c.PerHelper = map[int32]uint64{}
	}
	c.PerHelper[ev.ID]++
	return Continue
}

func (c *Counter) Call(ev *CallEvent) Action {
	if ev.Kind == Call {
		c.Calls++
	}
	return Continue
}

// Breakpoints stops a run before the instructions at chosen pcs. After the
// stop the machine's Resume runs on (the instruction is not stopped at
// again until it is reached anew) and Step single-steps.
type Breakpoints struct {
	set bitmap
	// Hits counts stops; Last is the pc of the latest.
	Hits uint64
	Last int
}

// Breakpoint returns breakpoints at pcs.
func Breakpoint(pcs ...int) *Breakpoints {
	return &Breakpoints{set: newBitmap(pcs), Last: -1}
}

// Set adds a breakpoint at pc.
func (b *Breakpoints) Set(pc int) { b.set.set(pc, true) }

// Clear removes the breakpoint at pc.
func (b *Breakpoints) Clear(pc int) { b.set.set(pc, false) }

// At reports whether pc has a breakpoint.
func (b *Breakpoints) At(pc int) bool { return b.set.match(pc) }

func (b *Breakpoints) BeforeStep(ev *Step) Action {
	if !b.set.match(ev.PC) {
		return Continue
	}
	b.Hits++
	b.Last = ev.PC
	return Stop
}

func (b *Breakpoints) AfterStep(*Step) Action { return Continue }
