package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/google/pprof/profile"
)

// profiler counts executed instructions per call stack (BPF-to-BPF
// calls), and optionally collects spans for a Chrome trace.
type profiler struct {
	progs  map[string]*vm.Program
	stack  []int // call-site pcs, outermost first
	counts map[sampleKey]int64
	stacks map[string][]int // interned call stacks by key
	curKey string

	spans *spans // nil unless --perfetto
	clock int64  // instructions executed over all runs: the trace clock
	base  int64  // clock at the start of the current run
}

type sampleKey struct {
	prog  string
	stack string // interned key of the call-site pcs
	pc    int
}

func newProfiler() *profiler {
	return &profiler{progs: map[string]*vm.Program{}, counts: map[sampleKey]int64{}, stacks: map[string][]int{}}
}

func (p *profiler) stackKey() string {
	var b strings.Builder
	for _, pc := range p.stack {
		b.WriteString(strconv.Itoa(pc))
		b.WriteByte(',')
	}
	k := b.String()
	if _, ok := p.stacks[k]; !ok {
		p.stacks[k] = append([]int(nil), p.stack...)
	}
	return k
}

func (p *profiler) BeforeStep(ev *hooks.Step) hooks.Action {
	if len(p.stack) != ev.Depth {
		p.stack = p.stack[:min(len(p.stack), ev.Depth)]
	}
	p.counts[sampleKey{ev.Prog, p.curKey, ev.PC}]++
	p.clock = p.base + int64(ev.Count)
	return hooks.Continue
}

func (p *profiler) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }

func (p *profiler) Call(ev *hooks.CallEvent) hooks.Action {
	switch ev.Kind {
	case hooks.Call:
		p.stack = append(p.stack, ev.PC)
		p.spans.begin(ev.Func, p.clock)
	case hooks.Return:
		if len(p.stack) > 0 {
			p.stack = p.stack[:len(p.stack)-1]
		}
		p.spans.end(p.clock + 1)
	case hooks.TailCall:
		p.stack = p.stack[:0]
		p.spans.instant("tail call "+ev.Prog, p.clock)
	}
	p.curKey = p.stackKey()
	return hooks.Continue
}

func (p *profiler) Helper(ev *hooks.HelperCall) hooks.Action {
	p.spans.complete(ev.Name, p.clock, 1, map[string]any{"ret": fmt.Sprintf("%#x", ev.Ret)})
	return hooks.Continue
}

func (p *profiler) Enter(ev *hooks.Run) {
	p.stack, p.curKey = p.stack[:0], ""
	p.base = p.clock + 1
	p.spans.begin(ev.Prog, p.base)
}

func (p *profiler) Exit(ev *hooks.Run) {
	p.clock = p.base + int64(ev.Insns)
	for p.spans.depth() > 0 {
		p.spans.end(p.clock)
	}
}

// build makes the pprof profile: one location per (program, pc) with its
// source line and function, one sample per distinct call stack and pc.
func (p *profiler) build(src *sourceDir) *profile.Profile {
	prof := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "instructions", Unit: "count"}},
		PeriodType: &profile.ValueType{Type: "instructions", Unit: "count"},
		Period:     1,
	}
	type locKey struct {
		prog string
		pc   int
	}
	locs := map[locKey]*profile.Location{}
	funcs := map[string]*profile.Function{}
	location := func(prog string, pc int) *profile.Location {
		k := locKey{prog, pc}
		if l, ok := locs[k]; ok {
			return l
		}
		vp := p.progs[prog]
		name, file, line, start := prog, "", 0, 0
		if vp != nil {
			if f := vp.FuncAt(pc); f != "" {
				name = f
			}
			if l := vp.Line(pc); l != nil {
				file, line = src.resolve(l.File), l.Line
			}
			for _, f := range vp.Funcs {
				if f.Name == name {
					if l := vp.Line(f.Start); l != nil {
						start = l.Line
					}
				}
			}
		}
		fn, ok := funcs[prog+"\x00"+name]
		if !ok {
			fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: name, SystemName: name, Filename: file, StartLine: int64(start)}
			funcs[prog+"\x00"+name] = fn
			prof.Function = append(prof.Function, fn)
		}
		l := &profile.Location{ID: uint64(len(locs) + 1), Address: uint64(pc) * 8, Line: []profile.Line{{Function: fn, Line: int64(line)}}}
		locs[k] = l
		prof.Location = append(prof.Location, l)
		return l
	}
	keys := make([]sampleKey, 0, len(p.counts))
	for k := range p.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.prog != b.prog {
			return a.prog < b.prog
		}
		if a.stack != b.stack {
			return a.stack < b.stack
		}
		return a.pc < b.pc
	})
	for _, k := range keys {
		s := &profile.Sample{Value: []int64{p.counts[k]}}
		s.Location = append(s.Location, location(k.prog, k.pc))
		callers := p.stacks[k.stack]
		for i := len(callers) - 1; i >= 0; i-- {
			s.Location = append(s.Location, location(k.prog, callers[i]))
		}
		prof.Sample = append(prof.Sample, s)
	}
	return prof
}

// spans collects Chrome trace events (the JSON Perfetto and
// chrome://tracing read). The clock is the instruction count: one
// microsecond of trace time is one executed instruction.
type spans struct {
	events []map[string]any
	open   []string
	tid    int
}

func (s *spans) add(ev map[string]any) {
	ev["pid"], ev["tid"] = 1, s.tid
	s.events = append(s.events, ev)
}

func (s *spans) begin(name string, ts int64) {
	if s == nil {
		return
	}
	s.open = append(s.open, name)
	s.add(map[string]any{"name": name, "ph": "B", "ts": ts})
}

func (s *spans) end(ts int64) {
	if s == nil || len(s.open) == 0 {
		return
	}
	s.open = s.open[:len(s.open)-1]
	s.add(map[string]any{"ph": "E", "ts": ts})
}

func (s *spans) depth() int {
	if s == nil {
		return 0
	}
	return len(s.open)
}

func (s *spans) complete(name string, ts, dur int64, args map[string]any) {
	if s == nil {
		return
	}
	s.add(map[string]any{"name": name, "ph": "X", "ts": ts, "dur": dur, "cat": "helper", "args": args})
}

func (s *spans) instant(name string, ts int64) {
	if s == nil {
		return
	}
	s.add(map[string]any{"name": name, "ph": "i", "ts": ts, "s": "t"})
}

func (s *spans) write(w io.Writer) error {
	return json.NewEncoder(w).Encode(map[string]any{"traceEvents": s.events, "displayTimeUnit": "ns",
		"otherData": map[string]string{"clock": "1us = 1 executed instruction"}})
}

const profileUsage = `usage: bpfscope profile [flags] [PROG.o]

Runs a program over packets like 'bpfscope run' and writes a pprof profile
of executed instructions: one location per instruction, with its source
line and function from BTF, and call stacks for BPF-to-BPF calls. Read it
with 'go tool pprof -top bpfscope.pprof' (or -list, -http). --perfetto also
writes Chrome trace JSON for ui.perfetto.dev: one span per run and per
BPF-to-BPF call, helper calls as short spans; time is counted in
instructions (1us = 1 instruction).

`

func cmdProfile(e *env, args []string) error {
	if wantsClassic(args) {
		return classicProfile(e, args)
	}
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), profileUsage); fs.PrintDefaults() }
	var in inputFlags
	in.register(fs)
	out := fs.String("o", "bpfscope.pprof", "write the pprof profile to `FILE`")
	perfetto := fs.String("perfetto", "", "write Chrome trace JSON to `FILE`")
	top := fs.Int("top", 10, "print the `N` most executed source lines")
	var src sourceDir
	src.register(fs)
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	p, err := in.load(pos)
	if err != nil {
		return err
	}
	pr := newProfiler()
	if *perfetto != "" {
		pr.spans = &spans{}
	}
	runs, err := runAll(p, &in, pr, func(inst *instance) {
		pr.progs[inst.prog.Name] = inst.prog
		if inst.coll != nil {
			for _, lp := range inst.coll.Programs {
				pr.progs[lp.Name] = lp.Prog
			}
		}
	})
	if err != nil {
		return err
	}
	src.defaultFor(p)
	prof := pr.build(&src)
	if err := prof.CheckValid(); err != nil {
		return err
	}
	if err := writeFile(*out, prof.Write); err != nil {
		return err
	}
	if *perfetto != "" {
		if err := writeFile(*perfetto, pr.spans.write); err != nil {
			return err
		}
	}
	// A terminal summary: the hottest source lines.
	type hot struct {
		where string
		n     int64
	}
	byLine := map[string]int64{}
	var total int64
	for _, s := range prof.Sample {
		l := s.Location[0].Line[0]
		byLine[fmt.Sprintf("%s:%d %s", l.Function.Filename, l.Line, l.Function.Name)] += s.Value[0]
		total += s.Value[0]
	}
	hots := make([]hot, 0, len(byLine))
	for k, n := range byLine {
		hots = append(hots, hot{k, n})
	}
	sort.Slice(hots, func(i, j int) bool {
		if hots[i].n != hots[j].n {
			return hots[i].n > hots[j].n
		}
		return hots[i].where < hots[j].where
	})
	fmt.Fprintf(e.stdout, "%d runs, %d instructions executed\n%10s %6s  %s\n", runs, total, "insns", "share", "source line")
	for i, h := range hots {
		if i == *top {
			break
		}
		fmt.Fprintf(e.stdout, "%10d %5.1f%%  %s\n", h.n, 100*float64(h.n)/float64(total), h.where)
	}
	fmt.Fprintf(e.stdout, "wrote %s", *out)
	if *perfetto != "" {
		fmt.Fprintf(e.stdout, " and %s", *perfetto)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
