package ring_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/exporters/ring"
	"github.com/bpfscope/bpfscope/hooks"
)

// The XDP case reports 65 events: Enter, 25 instructions × (Before,
// After), 9 accesses (one is bpf_map_lookup_elem reading its key), a map
// lookup, a helper call, a call and a return, and Exit.
const xdpEvents = 1 + 25*2 + 9 + 1 + 1 + 2 + 1

func TestOverwriteOldest(t *testing.T) {
	b := ring.New(10, ring.OverwriteOldest)
	if _, err := exptest.XDP(t).Run(t, b); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 10 || b.Total() != xdpEvents || b.Dropped() != xdpEvents-10 {
		t.Fatalf("len %d total %d dropped %d", b.Len(), b.Total(), b.Dropped())
	}
	// The newest ten: the callee's last instructions, the return, the
	// caller's exit and the run's exit.
	evs := b.Snapshot()
	if last := evs[9]; last.Kind != hooks.KindExit || last.Run.R0 != 3 {
		t.Errorf("last event %v r0 %d", last.Kind, last.Run.R0)
	}
	var r hooks.Record
	n := 0
	for b.Read(&r) {
		n++
	}
	if n != 10 || b.Len() != 0 {
		t.Errorf("read %d", n)
	}
}

func TestDropNewest(t *testing.T) {
	b := ring.New(5, ring.DropNewest)
	if _, err := exptest.XDP(t).Run(t, b); err != nil {
		t.Fatal(err)
	}
	if b.Dropped() != xdpEvents-5 {
		t.Fatalf("dropped %d", b.Dropped())
	}
	var r hooks.Record
	b.Read(&r)
	if r.Kind != hooks.KindEnter || r.Run.Prog != "xdp_count" {
		t.Errorf("first event %v", r.Kind)
	}
	b.Read(&r)
	if r.Kind != hooks.KindBefore || r.Step.PC != 0 {
		t.Errorf("second event %v pc %d", r.Kind, r.Step.PC)
	}
}

// The flight recorder hands over the last events of a run that returns a
// chosen result, here XDP_TX (3), and nothing for other results.
func TestFlightRecorder(t *testing.T) {
	var dumps [][]*hooks.Record
	b := ring.FlightRecorder(4, ring.OnResult(3), func(r []*hooks.Record) { dumps = append(dumps, r) })
	c := exptest.XDP(t)
	c.Run(t, b)
	c.Run(t, b) // a second run starts from an empty ring
	if len(dumps) != 2 || len(dumps[1]) != 4 {
		t.Fatalf("dumps %d", len(dumps))
	}
	d := dumps[1]
	// Last four: the After of the callee's exit (pc 27, reported once the
	// caller resumes), the caller's exit (pc 20) before and after, and the
	// run's exit.
	if d[0].Kind != hooks.KindAfter || d[0].Step.PC != 27 || d[1].Kind != hooks.KindBefore || d[1].Step.PC != 20 ||
		d[2].Kind != hooks.KindAfter || d[3].Kind != hooks.KindExit || d[3].Run.R0 != 3 {
		t.Errorf("dump %v %v %v %v", d[0].Kind, d[1].Kind, d[2].Kind, d[3].Kind)
	}
	dumps = nil
	b2 := ring.FlightRecorder(4, ring.OnError, func(r []*hooks.Record) { dumps = append(dumps, r) })
	exptest.XDP(t).Run(t, b2)
	if len(dumps) != 0 {
		t.Error("a successful run was dumped by OnError")
	}
}

func TestConcurrentReader(t *testing.T) {
	b := ring.New(64, ring.DropNewest)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	readerCtx, stopReader := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var read int
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var r hooks.Record
		for {
			for b.Read(&r) {
				read++
			}
			select {
			case <-done:
				for b.Read(&r) {
					read++
				}
				return
			default:
			}
			b.Wait(readerCtx)
		}
	}()
	c := exptest.Conformance(t, "prime.data")
	m, args := c.Machine(t)
	m.Attach(b)
	if _, err := m.Run(ctx, args...); err != nil {
		t.Fatal(err)
	}
	close(done)
	stopReader()
	wg.Wait()
	if uint64(read)+b.Dropped() != b.Total() {
		t.Errorf("read %d + dropped %d != total %d", read, b.Dropped(), b.Total())
	}
}

func TestNoAllocations(t *testing.T) {
	b := ring.New(128, ring.OverwriteOldest)
	c := exptest.XDP(t)
	m, args := c.Machine(t)
	m.Attach(b)
	ctx := context.Background()
	run := func() {
		if _, err := c.Capture.Start(m); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Run(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	// A slot keeps the buffer of the largest key or value it held: warm
	// every slot up, then the ring allocates nothing more.
	for range 128 {
		run()
	}
	// What remains is the context set-up per run (ctx.NewXDP) and the
	// machine's; the ring adds nothing: compare with a hook that does
	// nothing.
	withRing := testing.AllocsPerRun(20, run)
	m.Attach(nop{})
	without := testing.AllocsPerRun(20, run)
	if withRing > without {
		t.Errorf("%v allocations per run with the ring, %v without", withRing, without)
	}
}

type nop struct{}

func (nop) BeforeStep(*hooks.Step) hooks.Action   { return hooks.Continue }
func (nop) AfterStep(*hooks.Step) hooks.Action    { return hooks.Continue }
func (nop) Access(*hooks.Access) hooks.Action     { return hooks.Continue }
func (nop) Helper(*hooks.HelperCall) hooks.Action { return hooks.Continue }
func (nop) Call(*hooks.CallEvent) hooks.Action    { return hooks.Continue }
func (nop) MapOp(*hooks.MapOp) hooks.Action       { return hooks.Continue }
func (nop) Output(*hooks.Output)                  {}
func (nop) Enter(*hooks.Run)                      {}
func (nop) Exit(*hooks.Run)                       {}
