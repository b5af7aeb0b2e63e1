package exporters_test

import (
	"bytes"
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/exporters/ring"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/hooks"
)

// benchCase is byte_sum over a 1000-byte packet: 7006 instructions and
// 1002 loads per run.
func benchCase(b testing.TB) *exptest.Case {
	pkt := make([]byte, 1000)
	for i := range pkt {
		pkt[i] = byte(i)
	}
	return exptest.ByteSum(b, pkt)
}

// eventCount counts the events one run reports.
type eventCount struct{ n uint64 }

func (c *eventCount) BeforeStep(*hooks.Step) hooks.Action   { c.n++; return hooks.Continue }
func (c *eventCount) AfterStep(*hooks.Step) hooks.Action    { c.n++; return hooks.Continue }
func (c *eventCount) Access(*hooks.Access) hooks.Action     { c.n++; return hooks.Continue }
func (c *eventCount) Helper(*hooks.HelperCall) hooks.Action { c.n++; return hooks.Continue }
func (c *eventCount) Call(*hooks.CallEvent) hooks.Action    { c.n++; return hooks.Continue }
func (c *eventCount) MapOp(*hooks.MapOp) hooks.Action       { c.n++; return hooks.Continue }
func (c *eventCount) Output(*hooks.Output)                  { c.n++ }
func (c *eventCount) Enter(*hooks.Run)                      { c.n++ }
func (c *eventCount) Exit(*hooks.Run)                       { c.n++ }

// bench runs the program b.N times with the hook newHook returns (nil: no
// hook) and reports ns per instruction and events per second.
func bench(b *testing.B, newHook func() any) {
	c := benchCase(b)
	m, _ := c.Machine(b)
	runCtx := context.Background()
	// The context is built once and then reused, as the command's packet
	// loop (testrun.Runner) reuses it: the figures are the run and its
	// hook, not the building of an XDP buffer per run.
	p, err := ctx.Lookup(c.Capture.Type)
	if err != nil {
		b.Fatal(err)
	}
	var inst ctx.Reusable
	once := func(h any) uint64 {
		m.Attach(h)
		m.Reset()
		var err error
		if inst != nil {
			err = inst.Reuse(c.Capture.Input)
		} else {
			var i ctx.Instance
			if i, err = p.New(m, c.Capture.Input); err == nil {
				inst, _ = i.(ctx.Reusable)
				if inst == nil {
					b.Fatal("the XDP context is not reusable")
				}
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Run(runCtx, inst.Arg()); err != nil {
			b.Fatal(err)
		}
		return m.Insns()
	}
	var cnt eventCount
	insns := once(&cnt)
	var h any
	if newHook != nil {
		h = newHook()
	}
	b.ReportAllocs()
	b.ResetTimer()
	// CPU time rather than wall time, so that figures taken on a busy
	// machine stay comparable.
	start := cpuTime()
	for range b.N {
		once(h)
	}
	el := cpuTime() - start
	b.ReportMetric(float64(el.Nanoseconds())/float64(uint64(b.N)*insns), "cpu-ns/insn")
	if h != nil {
		b.ReportMetric(float64(cnt.n)*float64(b.N)/el.Seconds(), "events/cpu-s")
	}
}

// cpuTime is the process's user and system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkUntraced(b *testing.B) { bench(b, nil) }

func BenchmarkNoop(b *testing.B) { bench(b, func() any { return &eventCount{} }) }

func BenchmarkText(b *testing.B) { bench(b, func() any { return text.New(io.Discard) }) }

func BenchmarkJSONL(b *testing.B) { bench(b, func() any { return jsonl.New(io.Discard) }) }

// The Raw variants leave names out (packet fields, globals, decoded keys):
// against BenchmarkText and BenchmarkJSONL they measure what naming costs.
// Every load of byte_sum is a packet byte, named (or found to be payload)
// through the machine's hooks.Namer.

func BenchmarkTextRaw(b *testing.B) {
	bench(b, func() any { t := text.New(io.Discard); t.Raw = true; return t })
}

func BenchmarkJSONLRaw(b *testing.B) {
	bench(b, func() any { j := jsonl.New(io.Discard); j.Raw = true; return j })
}

func BenchmarkRing(b *testing.B) {
	bench(b, func() any { return ring.New(4096, ring.OverwriteOldest) })
}

// BenchmarkFlight is a flight recorder that keeps the last 1000 events of
// every run and never fires: what leaving one on costs.
func BenchmarkFlight(b *testing.B) {
	bench(b, func() any {
		return ring.FlightRecorder(1000, ring.OnError, func([]*hooks.Record) { b.Fatal("the flight recorder fired") })
	})
}

func BenchmarkCounter(b *testing.B) { bench(b, func() any { return hooks.Count(nil) }) }

// BenchmarkTraceFile records each run into a fresh trace file in memory,
// the sections before and after the run included. A trace file stores
// what a run depends on, not its events (docs/trace-format.md, version
// 3): the Writer only sees the run's entry and exit.
func BenchmarkTraceFile(b *testing.B) {
	c := benchCase(b)
	var buf bytes.Buffer
	bench(b, func() any { return &perRun{c: c, buf: &buf} })
	b.ReportMetric(float64(buf.Len()), "file-bytes")
}

// perRun starts a new trace file writer at each run.
type perRun struct {
	c   *exptest.Case
	buf *bytes.Buffer
	w   *tracefile.Writer
}

func (p *perRun) Enter(ev *hooks.Run) {
	p.buf.Reset()
	p.w, _ = tracefile.NewWriter(p.buf, p.c.Capture)
	p.w.Enter(ev)
}
func (p *perRun) Exit(ev *hooks.Run) { p.w.Exit(ev); p.w.Close() }

// batches takes every batch and looks at none of it.
type batches struct{ n int }

func (h *batches) BatchesOnly()         {}
func (h *batches) PCs(b *hooks.PCBatch) { h.n += len(b.PC) }

// BenchmarkBatches is what recording PC batches costs, the floor under
// BenchmarkWalk.
func BenchmarkBatches(b *testing.B) { bench(b, func() any { return &batches{} }) }

// walker walks every batch with the cursor the text and JSON Lines
// exporters use, and writes nothing: the floor under their figures.
type walker struct{ sum uint64 }

func (w *walker) BatchesOnly() {}
func (w *walker) PCs(b *hooks.PCBatch) {
	for c := b.Walk(); c.Next(); {
		w.sum += uint64(c.Changed)
		if c.Access != nil {
			w.sum += c.Access.Addr
		}
	}
}

// BenchmarkWalk is what the text and JSON Lines exporters cost before
// they write anything: the batches and the cursor over them.
func BenchmarkWalk(b *testing.B) { bench(b, func() any { return &walker{} }) }
