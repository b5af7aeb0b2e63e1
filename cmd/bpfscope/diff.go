package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/cilium/ebpf/btf"
)

const diffUsage = `usage: bpfscope diff [--context N] A B

Shows where two runs (from 'bpfscope trace --record') part ways: the same
program on two packets, or two builds of a program on the same packet. A
and B are trace files of one run or runs inside a file, FILE#N.

First the control flow: the first instruction after which the two runs went
to different pcs (a branch taken one way in A and the other in B, or one
run ending), with the registers of both runs there, the instruction in
kernel syntax and its source line. When both runs execute the same pcs, the
first instruction whose values differ instead. Then a summary: instructions
executed, result, helper calls and map operations that differ, and source
lines only one run reached.

Exit status is 0 when the traces are identical, 1 when they differ and 2
when they cannot be compared (a file missing or damaged), as diff(1).

`

// diffSide is one trace of a diff, split into instructions.
type diffSide struct {
	label string // "A" or "B"
	name  string
	t     *tracefile.Trace
	steps []diffStep
	text  []textLine
}

// diffStep is one executed instruction.
type diffStep struct {
	prog string
	pc   int
	ev   int // index of its Before event in t.Events
}

func cmdDiff(e *env, args []string) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), diffUsage); fs.PrintDefaults() }
	context := fs.Int("context", 3, "show `N` common instructions before the branch where the runs part")
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := atLeast(fs, map[string]int{"context": 0}); err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return errUsage
	}
	var sides [2]*diffSide
	for i, name := range pos {
		t, err := readTrace(name)
		if err != nil {
			return &statusError{code: 2, err: err}
		}
		sides[i] = newDiffSide([]string{"A", "B"}[i], name, t)
	}
	a, b := sides[0], sides[1]
	w := e.stdout
	for _, s := range sides {
		fmt.Fprintf(w, "%s  %s: %s (%s), %d-byte input\n", s.label, s.name, s.t.Capture.Prog.Name, s.t.Capture.Type, len(s.t.Capture.Input.Data))
	}
	fmt.Fprintln(w)

	k := 0
	for k < len(a.steps) && k < len(b.steps) && a.steps[k].prog == b.steps[k].prog && a.steps[k].pc == b.steps[k].pc {
		k++
	}
	same := false
	if k < len(a.steps) || k < len(b.steps) {
		controlDiff(w, a, b, k, *context)
	} else {
		same = !valueDiff(w, a, b, *context)
	}
	fmt.Fprintln(w)
	summary(w, a, b)
	if same {
		return nil
	}
	return errSilent
}

// readTrace reads one run: a trace file of one run, or FILE#N.
func readTrace(name string) (*tracefile.Trace, error) {
	f, done, err := openRuns(name)
	if err != nil {
		return nil, err
	}
	defer done()
	if n, err := countRuns(f); err == nil && n > 1 {
		return nil, fmt.Errorf("%s holds %d runs: name one as %s#N", name, n, name)
	}
	t, err := tracefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

func newDiffSide(label, name string, t *tracefile.Trace) *diffSide {
	s := &diffSide{label: label, name: name, t: t, text: renderText(t.Events)}
	for i, r := range t.Events {
		if r.Kind != hooks.KindBefore {
			continue
		}
		s.steps = append(s.steps, diffStep{prog: r.Step.Prog, pc: r.Step.PC, ev: i})
	}
	return s
}

// lines returns the text lines of instruction k: its source line, when
// known, and the instruction with what it did.
func (s *diffSide) lines(k int) []string {
	var out []string
	for _, l := range s.text {
		if l.step == k {
			out = append(out, l.s)
		}
	}
	// The exporter writes a source line only where it changes.
	st := s.steps[k]
	if len(out) > 0 && isInsnLine(out[0]) && st.prog == s.t.Capture.Prog.Name {
		if l := s.t.Capture.Prog.Line(st.pc); l != nil {
			out = append([]string{fmt.Sprintf("; %s:%d: %s", filepath.Base(l.File), l.Line, l.Text)}, out...)
		}
	}
	return out
}

func (s *diffSide) regs(k int) *[11]uint64 { return &s.t.Events[s.steps[k].ev].Regs }

// next says where the run went after instruction k-1: the text of
// instruction k, or how the run ended.
func (s *diffSide) next(w io.Writer, k int) {
	if k < len(s.steps) {
		fmt.Fprintf(w, "%s goes on at pc %d:\n", s.label, s.steps[k].pc)
		printLines(w, s.lines(k))
		return
	}
	fmt.Fprintf(w, "%s ends: %s\n", s.label, traceResult(s.t))
}

// printSteps prints instructions from..to, common to both runs, as A ran
// them, each source line once; where B's differs (other values), B's line
// follows A's, and both are marked.
func printSteps(w io.Writer, a, b *diffSide, from, to int) {
	src := ""
	for j := from; j <= to; j++ {
		la, lb := a.lines(j), b.lines(j)
		if len(la) > 1 {
			if la[0] != src {
				printLines(w, la[:1])
			}
			src, la = la[0], la[1:]
		}
		if len(lb) > 1 {
			lb = lb[1:]
		}
		if strings.Join(la, "\n") == strings.Join(lb, "\n") {
			printLines(w, la)
			continue
		}
		for _, l := range la {
			fmt.Fprintf(w, "  A %s\n", strings.TrimLeft(l, " "))
		}
		for _, l := range lb {
			fmt.Fprintf(w, "  B %s\n", strings.TrimLeft(l, " "))
		}
	}
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintf(w, "    %s\n", strings.TrimLeft(l, " "))
	}
}

// controlDiff reports the first instruction k at which the runs are at
// different pcs: instruction k-1, the same in both, went different ways.
func controlDiff(w io.Writer, a, b *diffSide, k, context int) {
	if k == 0 {
		fmt.Fprintln(w, "The runs have no instruction in common: they start at different pcs, or one did not run.")
		for _, s := range []*diffSide{a, b} {
			s.next(w, 0)
		}
		if len(a.steps) > 0 && len(b.steps) > 0 {
			regTable(w, "registers at entry", a.regs(0), b.regs(0))
		}
		return
	}
	br := k - 1
	fmt.Fprintf(w, "Control flow parts after %d common instructions: pc %d (instruction %d) led to %s in A and %s in B.\n",
		k, a.steps[br].pc, br+1, where(a, k), where(b, k))
	fmt.Fprintln(w)
	fmt.Fprintf(w, "the last common instructions, up to pc %d (A and B mark lines where the values differ):\n", a.steps[br].pc)
	printSteps(w, a, b, max(0, br-context), br)
	a.next(w, k)
	b.next(w, k)
	fmt.Fprintln(w)
	regTable(w, fmt.Sprintf("registers before pc %d", a.steps[br].pc), a.regs(br), b.regs(br))
}

// where names the pc a run went to, or how it ended.
func where(s *diffSide, k int) string {
	if k < len(s.steps) {
		return fmt.Sprintf("pc %d", s.steps[k].pc)
	}
	return "the end of the run"
}

// valueDiff reports the first event that differs between runs that took
// the same path, and whether there was one.
func valueDiff(w io.Writer, a, b *diffSide, context int) bool {
	i := 0
	for i < len(a.t.Events) && i < len(b.t.Events) && describeRecord(a.t.Events[i]) == describeRecord(b.t.Events[i]) {
		i++
	}
	if i == len(a.t.Events) && i == len(b.t.Events) {
		fmt.Fprintf(w, "The traces are identical: %d instructions, %d events.\n", len(a.steps), i)
		return false
	}
	k := countSteps(a.t.Events[:min(i+1, len(a.t.Events))]) - 1
	fmt.Fprintf(w, "Control flow is the same in both (%d instructions), values differ: ", len(a.steps))
	if k < 0 {
		fmt.Fprintln(w, "the runs start differently.")
	} else {
		fmt.Fprintf(w, "first at pc %d (instruction %d).\n", a.steps[k].pc, k+1)
	}
	fmt.Fprintln(w)
	if k >= 0 {
		fmt.Fprintf(w, "the instructions up to pc %d (A and B mark lines where the values differ):\n", a.steps[k].pc)
		printSteps(w, a, b, max(0, k-context), k)
	}
	fmt.Fprintln(w, "\nthe first event that differs:")
	for _, s := range []*diffSide{a, b} {
		var ev *hooks.Record
		if i < len(s.t.Events) {
			ev = s.t.Events[i]
		}
		fmt.Fprintf(w, "  %s %s\n", s.label, eventText(s.t, ev))
	}
	if k >= 0 {
		fmt.Fprintln(w)
		regTable(w, fmt.Sprintf("registers before pc %d", a.steps[k].pc), a.regs(k), b.regs(k))
	}
	return true
}

// regTable prints the registers of both runs side by side, marking those
// that differ.
func regTable(w io.Writer, title string, ra, rb *[11]uint64) {
	row := func(name, va, vb, mark string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-26s %-20s %-20s %s", name, va, vb, mark), " "))
	}
	row(title, "A", "B", "")
	for i := range ra {
		mark := ""
		if ra[i] != rb[i] {
			mark = "differs"
		}
		row(fmt.Sprintf("  r%d", i), fmt.Sprintf("%#x", ra[i]), fmt.Sprintf("%#x", rb[i]), mark)
	}
}

// summary compares the runs as a whole.
func summary(w io.Writer, a, b *diffSide) {
	row := func(name, va, vb string) {
		fmt.Fprintf(w, "%-26s %-20s %s\n", name, va, vb)
	}
	row("summary", "A", "B")
	row("  instructions", fmt.Sprint(insns(a.t)), fmt.Sprint(insns(b.t)))
	row("  result", traceResult(a.t), traceResult(b.t))
	ha, hb := eventTexts(a.t, hooks.KindHelper), eventTexts(b.t, hooks.KindHelper)
	ma, mb := eventTexts(a.t, hooks.KindMapOp), eventTexts(b.t, hooks.KindMapOp)
	row("  helper calls", fmt.Sprint(len(ha)), fmt.Sprint(len(hb)))
	row("  map operations", fmt.Sprint(len(ma)), fmt.Sprint(len(mb)))
	listDiff(w, "helper calls", ha, hb)
	listDiff(w, "map operations", ma, mb)
	la, lb := linesOf(a.t), linesOf(b.t)
	if only := minus(la, lb); len(only) > 0 {
		fmt.Fprintf(w, "source lines only A ran: %s\n", strings.Join(only, ", "))
	}
	if only := minus(lb, la); len(only) > 0 {
		fmt.Fprintf(w, "source lines only B ran: %s\n", strings.Join(only, ", "))
	}
}

// listDiff prints the events of one kind that only one run made, in the
// order they happened; events both runs made alike cancel out.
func listDiff(w io.Writer, what string, a, b []keyed) {
	onlyA, onlyB := minusMulti(a, b), minusMulti(b, a)
	if len(onlyA)+len(onlyB) == 0 {
		return
	}
	fmt.Fprintf(w, "%s that differ:\n", what)
	const most = 8
	for _, x := range []struct {
		label string
		l     []keyed
	}{{"A", onlyA}, {"B", onlyB}} {
		for j, e := range x.l {
			if j == most {
				fmt.Fprintf(w, "  %s  ... and %d more\n", x.label, len(x.l)-most)
				break
			}
			fmt.Fprintf(w, "  %s  %s\n", x.label, e.text)
		}
	}
}

// keyed is an event's text and what decides whether two are alike.
type keyed struct{ key, text string }

// minusMulti returns the elements of a not matched one for one in b.
func minusMulti(a, b []keyed) []keyed {
	n := map[string]int{}
	for _, e := range b {
		n[e.key]++
	}
	var out []keyed
	for _, e := range a {
		if n[e.key] > 0 {
			n[e.key]--
			continue
		}
		out = append(out, e)
	}
	return out
}

// eventTexts lists the helper calls or map operations of a run. Helper
// calls are alike when made at the same pc with the same arguments (as
// many as the helper takes: the registers past them hold leftovers) and
// the same result.
func eventTexts(t *tracefile.Trace, k hooks.Kind) []keyed {
	var out []keyed
	for _, r := range t.Events {
		if r.Kind != k {
			continue
		}
		s := eventText(t, r)
		out = append(out, keyed{s, s})
	}
	return out
}

// eventText describes an event of t in a line, with memory by name and map
// keys and values decoded by their BTF, when t has it.
func eventText(t *tracefile.Trace, r *hooks.Record) string {
	if r == nil {
		return "(no more events)"
	}
	switch r.Kind {
	case hooks.KindAccess:
		a := &r.Access
		s := fmt.Sprintf("pc %d: %s u%d %s", a.PC, a.Kind, a.Size*8, text.AppendWhere(nil, a.Where(), text.Name(a)))
		switch {
		case a.Bytes != nil:
			return s + " = " + hex.EncodeToString(a.Bytes)
		case a.Kind == hooks.Load:
			return fmt.Sprintf("%s = %#x", s, a.Value)
		}
		return fmt.Sprintf("%s: %#x -> %#x", s, a.Old, a.Value)
	case hooks.KindHelper:
		h := &r.Helper
		args := make([]string, 0, len(h.Args))
		for _, a := range h.Arguments() { // the registers past them are dead
			args = append(args, fmt.Sprintf("%#x", a))
		}
		if h.Err != nil {
			return fmt.Sprintf("pc %d: %s(%s) failed: %v", h.PC, h.Name, strings.Join(args, ", "), h.Err)
		}
		return fmt.Sprintf("pc %d: %s(%s) = %#x", h.PC, h.Name, strings.Join(args, ", "), h.Ret)
	case hooks.KindMapOp:
		m := &r.MapOp
		s := fmt.Sprintf("pc %d: map %s %s", m.PC, m.Map, m.Op)
		kt, vt := traceMapTypes(t, m.Map)
		if m.Key != nil {
			s += " key=" + string(btfvalue.AppendTextOrHex(nil, kt, m.Key))
		}
		if m.Op == hooks.MapLookup {
			s += map[bool]string{true: " hit", false: " miss"}[m.Hit]
		}
		if m.Value != nil {
			s += " value=" + string(btfvalue.AppendTextOrHex(nil, vt, m.Value))
		}
		if m.Errno != 0 {
			s += fmt.Sprintf(" errno=%d", m.Errno)
		}
		return s
	}
	return describeRecord(r)
}

// traceMapTypes returns the BTF of the keys and values of t's map name.
func traceMapTypes(t *tracefile.Trace, name string) (key, value btf.Type) {
	if t == nil || t.Capture == nil {
		return nil, nil
	}
	for _, m := range t.Capture.Maps {
		if m.Name() == name {
			s := m.Spec()
			return s.Key, s.Value
		}
	}
	return nil, nil
}

func countSteps(evs []*hooks.Record) int {
	n := 0
	for _, r := range evs {
		if r.Kind == hooks.KindBefore {
			n++
		}
	}
	return n
}

// insns is the instruction count the run's exit reports.
func insns(t *tracefile.Trace) uint64 {
	if r := exitOf(t); r != nil {
		return r.Run.Insns
	}
	return uint64(countSteps(t.Events))
}

func exitOf(t *tracefile.Trace) *hooks.Record {
	for j := len(t.Events) - 1; j >= 0; j-- {
		if r := t.Events[j]; r.Kind == hooks.KindExit {
			return r
		}
	}
	return nil
}

func traceResult(t *tracefile.Trace) string {
	r := exitOf(t)
	switch {
	case r == nil:
		return "no exit recorded"
	case r.Run.Err != nil:
		return "error: " + r.Run.Err.Error()
	}
	return fmt.Sprintf("r0=%d (%s)", r.Run.R0, verdict(t.Capture.Type, uint32(r.Run.R0)))
}

// linesOf lists the source lines a trace executed, in order of first use.
func linesOf(t *tracefile.Trace) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range t.Events {
		if r.Kind != hooks.KindBefore || r.Step.Prog != t.Capture.Prog.Name {
			continue
		}
		if l := t.Capture.Prog.Line(r.Step.PC); l != nil {
			s := fmt.Sprintf("%s:%d", filepath.Base(l.File), l.Line)
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}
