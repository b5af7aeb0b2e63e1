package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/exporters/ring"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
)

// flight is trace --flight: a flight recorder from exporters/ring keeps
// the last n events of each run, and hands them over when the run ends in
// a way worth showing.
type flight struct {
	n     int
	buf   *ring.Buffer
	enter hooks.Record // kept apart: the ring may have overwritten it
	kept  []*hooks.Record
}

func newFlight(n int, show func(*hooks.Run) bool) *flight {
	f := &flight{n: n}
	f.buf = ring.FlightRecorder(n, show, func(recs []*hooks.Record) { f.kept = recs })
	return f
}

// hook is what to attach to the machine for one run.
func (f *flight) hook() any {
	f.kept = nil
	return hooks.Multi(f.buf, (*flightEnter)(f))
}

// flightEnter keeps a copy of the run's entry.
type flightEnter flight

func (f *flightEnter) Enter(ev *hooks.Run) { f.enter.SetRun(ev, false) }
func (f *flightEnter) Exit(*hooks.Run)     {}

// events returns the kept events of the last run, oldest first, framed by
// the run's entry, and beginning with a whole instruction; nil if the run
// was not kept.
func (f *flight) events(sel hooks.Match) []*hooks.Record {
	if f.kept == nil {
		return nil
	}
	out := []*hooks.Record{&f.enter}
	begun := false
	for _, r := range f.kept {
		switch {
		case r.Kind == hooks.KindEnter:
			continue
		case !begun && r.Kind != hooks.KindBefore && r.Kind != hooks.KindExit:
			continue // the rest of an instruction whose start was overwritten
		case sel != nil && r.PC() >= 0 && !sel(r.PC()):
			continue
		}
		begun = true
		out = append(out, r)
	}
	return out
}

// funcNamer names the program and function an event ran in.
type funcNamer struct {
	inst  *instance
	progs map[string]*vm.Program // by name: the traced one and those it tail-calls
}

func newFuncNamer(inst *instance) *funcNamer {
	return &funcNamer{inst: inst, progs: map[string]*vm.Program{inst.prog.Name: inst.prog}}
}

func (n *funcNamer) program(name string) *vm.Program {
	p, ok := n.progs[name]
	if !ok && n.inst.coll != nil {
		if lp, err := n.inst.coll.Program(name); err == nil {
			p = lp.Prog
		}
		n.progs[name] = p
	}
	return p
}

func (n *funcNamer) name(prog string, pc int) string {
	if p := n.program(prog); p != nil && pc >= 0 {
		if fn := p.FuncAt(pc); fn != "" && fn != prog {
			return prog + "/" + fn
		}
	}
	return prog
}

// labels follows the events and names, for each, the program and function
// it belongs to; steps the same for each instruction.
func (n *funcNamer) labels(recs []*hooks.Record) (each, steps []string) {
	prog := ""
	for _, r := range recs {
		switch r.Kind {
		case hooks.KindEnter:
			prog = r.Run.Prog
		case hooks.KindBefore:
			prog = r.Step.Prog
		}
		l := n.name(prog, r.PC())
		if r.Kind == hooks.KindCall && r.Call.Kind == hooks.TailCall {
			l = n.name(r.Call.Prog, -1)
			prog = r.Call.Prog
		}
		each = append(each, l)
		if r.Kind == hooks.KindBefore {
			steps = append(steps, l)
		}
	}
	return each, steps
}

// printFlightText writes the kept events with the text exporter, each line
// led by the packet number and the program/function it ran in, so the
// lines of one packet or function can be picked out with grep.
func printFlightText(w io.Writer, n int, names *funcNamer, recs []*hooks.Record) {
	each, steps := names.labels(recs)
	prog := each[0]
	lines := renderText(recs)
	width := len(prog)
	for _, s := range steps {
		width = max(width, len(s))
	}
	for _, l := range lines {
		label := prog
		if l.step >= 0 {
			label = steps[l.step]
		}
		fmt.Fprintf(w, "#%d %-*s  %s\n", n, width, label, l.s)
	}
}

// printFlightJSON writes the kept events as JSON Lines, each object with
// two more fields: "packet" and "in" (program/function).
func printFlightJSON(w io.Writer, n int, names *funcNamer, recs []*hooks.Record) error {
	each, _ := names.labels(recs)
	var buf bytes.Buffer
	j := jsonl.New(&buf)
	for i, r := range recs {
		r.Deliver(j)
		if err := j.Flush(); err != nil {
			return err
		}
		for _, l := range strings.SplitAfter(buf.String(), "\n") {
			rest, ok := strings.CutPrefix(l, `{"v":1,`)
			if !ok {
				continue
			}
			in, _ := json.Marshal(each[i])
			fmt.Fprintf(w, `{"v":1,"packet":%d,"in":%s,%s`, n, in, rest)
		}
		buf.Reset()
	}
	return nil
}
