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
// Access events keep the machine as their Inspector, so Access.Where
// names the address when it is read: right while the machine still holds
// the run's regions (during the run and until the next Reset), though a
// stack address is named relative to the frame current at that time.
package ring

import (
	"context"
	"sync"

	"github.com/bpfscope/bpfscope/hooks"
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
func (b *Buffer) slot() *hooks.Record {
	b.mu.Lock()
	b.total++
	if b.n == len(b.slots) {
		b.dropped++
		if b.policy == DropNewest {
			b.mu.Unlock()
			return nil
		}
		b.head = (b.head + 1) % len(b.slots)
		b.n--
	}
	return &b.slots[(b.head+b.n)%len(b.slots)]
}

func (b *Buffer) commit() {
	b.n++
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// Read copies the oldest event into dst and removes it from the ring. It
// reports false when the ring is empty.
func (b *Buffer) Read(dst *hooks.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
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
	return b.n
}

// Dropped returns how many events were lost: dropped when the ring was
// full (DropNewest) or overwritten before being read (OverwriteOldest).
func (b *Buffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
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
	b.mu.Unlock()
}

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
