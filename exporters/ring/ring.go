// Package ring is a bounded in-memory sink for events: a hook that copies
// each event into a preallocated slot of a ring, for a reader on another
// goroutine or for a flight recorder that keeps the last N events of a run
// and hands them over when the run fails.
//
// The machine never waits for the reader: when the ring is full the oldest
// event is overwritten (OverwriteOldest) or the new one is dropped and
// counted (DropNewest). A lock guards the ring only while one event is
// copied in or out, so neither side holds the other up for longer.
// Copying does not allocate once each slot's byte buffers (map keys and
// values, output data) have grown to the sizes the program uses.
//
// Attached to a machine, the ring takes instructions in batches
// (hooks.BatchHook): it keeps each batch as it came, a few bytes per
// instruction, and turns it into events (Before, Access, After, in the
// order a traced run reports them) only when they are read, counted or
// handed over; with OverwriteOldest, batches too old to matter are
// forgotten unread. A flight recorder thus costs little more than an
// untraced run until it fires.
//
// Access events keep the machine as their Inspector, so Access.Where
// names the address when it is read: right while the machine still holds
// the run's regions (during the run and until the next Reset), though a
// stack address is named relative to the frame current at that time. The
// Region of an access made by an instruction is likewise located when the
// event is built from its batch (a stack slot's offset is that of its own
// frame).
package ring

import (
	"context"
	"sync"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
)

// Policy says what a full ring does with a new event.
type Policy uint8

const (
	// OverwriteOldest keeps the newest events: a flight recorder.
	OverwriteOldest Policy = iota
	// DropNewest keeps the oldest events and counts the dropped ones.
	DropNewest
)

// Buffer is a ring of events. It implements every hook interface.
type Buffer struct {
	mu      sync.Mutex
	slots   []hooks.Record
	head    int // oldest event
	n       int // events held
	policy  Policy
	dropped uint64 // events lost: dropped (DropNewest) or overwritten
	total   uint64
	ready   chan struct{}

	resetOnEnter bool
	trigger      func(*hooks.Run) bool
	dump         func([]*hooks.Record)

	// Events newer than those in slots, not yet copied there: batches as
	// they came, and the events between them.
	pend       []pending
	pendEvents uint64
	freeChunks []*chunk
	freeRecs   []*hooks.Record
	memOps     memTable
	batch      hooks.PCBatch // a chunk as a batch again, to build its events
}

// pending is a batch of instructions or one other event.
type pending struct {
	c *chunk
	r *hooks.Record
}

// chunk is a copy of a hooks.PCBatch that can rebuild its events.
type chunk struct {
	prog     string
	first    uint64
	pc       []uint32
	old      []uint64
	snaps    []hooks.Snapshot
	end      [11]uint64
	endDepth int
	faulted  bool
	insns    []isa.Insn
	lines    []*isa.Line
	m        hooks.Inspector
	events   uint64
	calls    bool // the first instruction calls out: the events before it happened during it
}

// memTable marks, by pc, the instructions of one program that access
// memory, to count a batch's events without building them.
type memTable struct {
	insns []isa.Insn
	mem   []bool
}

func (t *memTable) of(insns []isa.Insn) []bool {
	if len(insns) == 0 || len(t.insns) != len(insns) || &t.insns[0] != &insns[0] {
		t.insns = insns
		t.mem = t.mem[:0]
		for _, in := range insns {
			t.mem = append(t.mem, hooks.TouchesMemory(in))
		}
	}
	return t.mem
}

// New returns a ring of size events (at least 1).
func New(size int, p Policy) *Buffer {
	size = max(size, 1)
	return &Buffer{slots: make([]hooks.Record, size), policy: p, ready: make(chan struct{}, 1)}
}

// FlightRecorder returns a ring that keeps the last size events of each
// run (it empties itself when a run starts) and, when a run exits and
// trigger accepts it, passes dump copies of those events, the exit
// included, oldest first. dump runs on the machine's goroutine.
func FlightRecorder(size int, trigger func(*hooks.Run) bool, dump func([]*hooks.Record)) *Buffer {
	b := New(size, OverwriteOldest)
	b.resetOnEnter, b.trigger, b.dump = true, trigger, dump
	return b
}

// OnError is a trigger for runs that end with an error.
func OnError(r *hooks.Run) bool { return r.Err != nil }

// OnResult returns a trigger for runs that fail or return one of results
// (XDP_ABORTED is 0, XDP_DROP 1).
func OnResult(results ...uint64) func(*hooks.Run) bool {
	return func(r *hooks.Run) bool {
		if r.Err != nil {
			return true
		}
		for _, v := range results {
			if r.R0 == v {
				return true
			}
		}
		return false
	}
}

// slot locks the ring and returns the slot for a new event, or nil (and
// unlocks) when the event is dropped. commit must follow a non-nil slot.
// While batches wait, the event waits behind them.
func (b *Buffer) slot() *hooks.Record {
	b.mu.Lock()
	b.total++
	if len(b.pend) > 0 {
		r := b.newRec()
		b.pend = append(b.pend, pending{r: r})
		b.pendEvents++
		return r
	}
	r := b.place()
	if r == nil {
		b.mu.Unlock()
	}
	return r
}

// place returns the slot for the next event, overwriting or dropping as
// the policy says (nil: dropped).
func (b *Buffer) place() *hooks.Record {
	if b.n == len(b.slots) {
		b.dropped++
		if b.policy == DropNewest {
			return nil
		}
		b.head = (b.head + 1) % len(b.slots)
		b.n--
	}
	return &b.slots[(b.head+b.n)%len(b.slots)]
}

func (b *Buffer) commit() {
	if len(b.pend) == 0 {
		b.n++
	} else {
		b.trim()
	}
	b.mu.Unlock()
	b.signal()
}

func (b *Buffer) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

func (b *Buffer) newRec() *hooks.Record {
	if k := len(b.freeRecs); k > 0 {
		r := b.freeRecs[k-1]
		b.freeRecs = b.freeRecs[:k-1]
		return r
	}
	return new(hooks.Record)
}

// PCs keeps a batch of instructions, to be turned into events when read.
func (b *Buffer) PCs(batch *hooks.PCBatch) {
	if len(batch.Old) != len(batch.PC) { // a Filter's: it cannot be copied
		b.mu.Lock()
		b.settle()
		for ex := range batch.Executed() {
			b.total += b.put(ex, nil)
		}
		b.mu.Unlock()
		b.signal()
		return
	}
	b.mu.Lock()
	c := b.newChunk()
	c.prog, c.first, c.insns, c.lines, c.m = batch.Prog, batch.First, batch.Insns, batch.Lines, batch.M
	c.pc = append(c.pc[:0], batch.PC...)
	c.old = append(c.old[:0], batch.Old...)
	c.snaps = append(c.snaps[:0], batch.Snaps...)
	c.end, c.endDepth, c.faulted = batch.End, batch.EndDepth, batch.Faulted
	c.events = b.count(c)
	c.calls = len(c.pc) > 0 && int(c.pc[0]) < len(c.insns) && callsOut(c.insns[c.pc[0]])
	b.pend = append(b.pend, pending{c: c})
	b.pendEvents += c.events
	b.total += c.events
	b.trim()
	b.mu.Unlock()
	b.signal()
}

func (b *Buffer) newChunk() *chunk {
	if k := len(b.freeChunks); k > 0 {
		c := b.freeChunks[k-1]
		b.freeChunks = b.freeChunks[:k-1]
		return c
	}
	return new(chunk)
}

// count is how many events a chunk stands for: a Before and an After per
// instruction and an Access per memory instruction, none of the latter
// two for one that faulted.
func (b *Buffer) count(c *chunk) uint64 {
	mem := b.memOps.of(c.insns)
	n := uint64(2 * len(c.pc))
	for _, pc := range c.pc {
		if int(pc) < len(mem) && mem[pc] {
			n++
		}
	}
	if c.faulted && len(c.pc) > 0 {
		n--
		if pc := c.pc[len(c.pc)-1]; int(pc) < len(mem) && mem[pc] {
			n--
		}
	}
	return n
}

// callsOut reports a call or exit: the events of a batch's first
// instruction that is one come before the batch.
func callsOut(in isa.Insn) bool {
	return in.Class() == isa.ClassJMP && (in.Op == isa.ClassJMP|0x80 || in.Op == isa.ClassJMP|0x90)
}

// trim applies the policy to what waits: DropNewest copies it into the
// slots now (dropping what does not fit); OverwriteOldest forgets the
// oldest of it, and the slots, when newer events fill the ring anyway.
func (b *Buffer) trim() {
	if b.policy == DropNewest {
		b.settle()
		return
	}
	size := uint64(len(b.slots))
	if b.pendEvents >= size && b.n > 0 {
		b.dropped += uint64(b.n)
		b.head, b.n = 0, 0
	}
	k := 0
	for k < len(b.pend)-1 {
		e := b.pend[k].events()
		if b.pendEvents-e < size {
			break
		}
		b.pendEvents -= e
		b.dropped += e
		b.free(b.pend[k])
		k++
	}
	if k > 0 {
		b.pend = b.pend[:copy(b.pend, b.pend[k:])]
	}
}

func (p pending) events() uint64 {
	if p.c != nil {
		return p.c.events
	}
	return 1
}

func (b *Buffer) free(p pending) {
	if p.c != nil {
		p.c.m = nil
		b.freeChunks = append(b.freeChunks, p.c)
	} else {
		b.freeRecs = append(b.freeRecs, p.r)
	}
}

// settle copies what waits into the slots, oldest first, building the
// events of batches. The lock is held.
func (b *Buffer) settle() {
	for i := 0; i < len(b.pend); {
		k := i // b.pend[i:k] are events, b.pend[k] a batch if any
		for k < len(b.pend) && b.pend[k].r != nil {
			k++
		}
		// The events just before a batch that begins with a call or exit
		// happened during that instruction (the run's entry and tail
		// calls excepted): they go between its Before and its After.
		split := k
		if k < len(b.pend) && b.pend[k].c.calls {
			for split > i && !between(b.pend[split-1].r) {
				split--
			}
		}
		for _, p := range b.pend[i:split] {
			b.putRec(p.r)
		}
		if k < len(b.pend) {
			b.putChunk(b.pend[k].c, b.pend[split:k])
		}
		i = k + 1
	}
	for _, p := range b.pend {
		b.free(p)
	}
	b.pend = b.pend[:0]
	b.pendEvents = 0
}

func (b *Buffer) putRec(r *hooks.Record) {
	if s := b.place(); s != nil {
		r.CopyTo(s)
		b.n++
	}
}

// putChunk builds the events of a batch into the slots, with the events
// that happened during its first instruction.
func (b *Buffer) putChunk(c *chunk, during []pending) {
	bt := &b.batch
	bt.Prog, bt.First, bt.PC, bt.Old, bt.Snaps = c.prog, c.first, c.pc, c.old, c.snaps
	bt.End, bt.EndDepth, bt.Faulted = c.end, c.endDepth, c.faulted
	bt.Insns, bt.Lines, bt.M = c.insns, c.lines, c.m
	fp := c.end[10] // the frame the batch's stack accesses are in
	for c := bt.Walk(); c.Next(); {
		if c.Access != nil && c.Access.Region.Kind == hooks.RegionStack {
			c.Access.Region.Offset = int64(c.Access.Addr) - int64(fp)
		}
		c.Steps()
		b.put(&c.Executed, during)
		during = nil
	}
	bt.M = nil
}

// put places the events of one instruction, and those that happened
// during it; it returns how many it placed or dropped.
func (b *Buffer) put(ex *hooks.Executed, during []pending) uint64 {
	n := uint64(1)
	if r := b.place(); r != nil {
		r.SetStep(ex.Before, false)
		b.n++
	}
	for _, p := range during {
		b.putRec(p.r)
	}
	if ex.Access != nil {
		n++
		if r := b.place(); r != nil {
			r.SetAccess(ex.Access)
			b.n++
		}
	}
	if ex.After != nil {
		n++
		if r := b.place(); r != nil {
			r.SetStep(ex.After, true)
			b.n++
		}
	}
	return n
}

// between reports an event that comes between instructions.
func between(r *hooks.Record) bool {
	return r.Kind == hooks.KindEnter || r.Kind == hooks.KindExit ||
		r.Kind == hooks.KindCall && r.Call.Kind == hooks.TailCall
}

// Read copies the oldest event into dst and removes it from the ring. It
// reports false when the ring is empty.
func (b *Buffer) Read(dst *hooks.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settle()
	if b.n == 0 {
		return false
	}
	b.slots[b.head].CopyTo(dst)
	b.head = (b.head + 1) % len(b.slots)
	b.n--
	return true
}

// Wait blocks until the ring holds an event or ctx is done.
func (b *Buffer) Wait(ctx context.Context) error {
	for {
		if b.Len() > 0 {
			return nil
		}
		select {
		case <-b.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Snapshot returns copies of the events held, oldest first, leaving them
// in the ring.
func (b *Buffer) Snapshot() []*hooks.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settle()
	return b.snapshot()
}

func (b *Buffer) snapshot() []*hooks.Record {
	out := make([]*hooks.Record, b.n)
	for i := range out {
		out[i] = b.slots[(b.head+i)%len(b.slots)].Clone()
	}
	return out
}

// Len returns the number of events held.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settle()
	return b.n
}

// Dropped returns how many events were lost: dropped when the ring was
// full (DropNewest) or overwritten before being read (OverwriteOldest).
func (b *Buffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settle()
	return b.dropped
}

// Total returns how many events were offered to the ring.
func (b *Buffer) Total() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Clear empties the ring.
func (b *Buffer) Clear() {
	b.mu.Lock()
	b.head, b.n = 0, 0
	for _, p := range b.pend {
		b.free(p)
	}
	b.pend, b.pendEvents = b.pend[:0], 0
	b.mu.Unlock()
}

// BatchesOnly makes the Buffer a hooks.BatchHook: attached to a machine, it
// keeps instructions as batches (PCs); its StepHook and AccessHook keep
// events replayed from Records.
func (b *Buffer) BatchesOnly() {}

func (b *Buffer) BeforeStep(ev *hooks.Step) hooks.Action {
	if r := b.slot(); r != nil {
		r.SetStep(ev, false)
		b.commit()
	}
	return hooks.Continue
}

func (b *Buffer) AfterStep(ev *hooks.Step) hooks.Action {
	if r := b.slot(); r != nil {
		r.SetStep(ev, true)
		b.commit()
	}
	return hooks.Continue
}

func (b *Buffer) Access(ev *hooks.Access) hooks.Action {
	if r := b.slot(); r != nil {
		r.SetAccess(ev)
		b.commit()
	}
	return hooks.Continue
}

func (b *Buffer) Helper(ev *hooks.HelperCall) hooks.Action {
	if r := b.slot(); r != nil {
		r.SetHelper(ev)
		b.commit()
	}
	return hooks.Continue
}

func (b *Buffer) Call(ev *hooks.CallEvent) hooks.Action {
	if r := b.slot(); r != nil {
		r.SetCall(ev)
		b.commit()
	}
	return hooks.Continue
}

func (b *Buffer) MapOp(ev *hooks.MapOp) hooks.Action {
	if r := b.slot(); r != nil {
		r.SetMapOp(ev)
		b.commit()
	}
	return hooks.Continue
}

func (b *Buffer) Output(ev *hooks.Output) {
	if r := b.slot(); r != nil {
		r.SetOutput(ev)
		b.commit()
	}
}

func (b *Buffer) Enter(ev *hooks.Run) {
	if b.resetOnEnter {
		b.Clear()
	}
	if r := b.slot(); r != nil {
		r.SetRun(ev, false)
		b.commit()
	}
}

func (b *Buffer) Exit(ev *hooks.Run) {
	if r := b.slot(); r != nil {
		r.SetRun(ev, true)
		b.commit()
	}
	if b.trigger != nil && b.dump != nil && b.trigger(ev) {
		b.dump(b.Snapshot())
	}
}
