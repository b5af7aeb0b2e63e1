package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/hooks"
)

func cmdDump(e *env, args []string) error {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfscope dump [--format text|json] FILE\n\nPrints the events of a trace file written by 'bpfscope trace --record'.")
		fs.PrintDefaults()
	}
	format := fs.String("format", "text", "output `FORMAT`: text or json (JSON Lines)")
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	switch *format {
	case "text":
		t := text.New(e.stdout)
		err = tracefile.Dump(f, t)
		if ferr := t.Flush(); err == nil {
			err = ferr
		}
	case "json":
		j := jsonl.New(e.stdout)
		err = tracefile.Dump(f, j)
		if ferr := j.Flush(); err == nil {
			err = ferr
		}
	default:
		return fmt.Errorf("--format %q: want text or json", *format)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	return nil
}

func cmdReplay(e *env, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfscope replay FILE...\n\nRe-executes each trace file from what it holds alone (program, maps, input,\nenvironment) and checks that every event is the same as recorded; on a\nmismatch it shows the first divergent step.")
		fs.PrintDefaults()
	}
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	bad := 0
	for _, name := range pos {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		res, err := tracefile.Replay(f, nil)
		f.Close()
		var d *tracefile.Divergence
		switch {
		case errors.As(err, &d):
			bad++
			fmt.Fprintf(e.stdout, "%s: DIVERGES at event %d (pc %d): %s\n", name, d.Index, d.PC, d.What)
			fmt.Fprintf(e.stdout, "  recorded: %s\n", describeRecord(d.Recorded))
			fmt.Fprintf(e.stdout, "  replayed: %s\n", describeRecord(d.Replayed))
		case err != nil:
			return fmt.Errorf("%s: %w", name, err)
		default:
			status := fmt.Sprintf("r0=%d", res.R0)
			if res.Err != nil {
				status = "error: " + res.Err.Error()
			}
			fmt.Fprintf(e.stdout, "%s: ok, %d events replayed identically, %s\n", name, res.Events, status)
		}
	}
	if bad > 0 {
		return errSilent
	}
	return nil
}

// describeRecord prints one event in a line, for divergence reports.
func describeRecord(r *hooks.Record) string {
	if r == nil {
		return "(end of events)"
	}
	switch r.Kind {
	case hooks.KindBefore:
		return fmt.Sprintf("pc %d: %s", r.Step.PC, text.Disasm(&r.Step))
	case hooks.KindAfter:
		return fmt.Sprintf("pc %d done: %s", r.Step.PC, regsString(&r.Regs, r.Step.Changed))
	case hooks.KindAccess:
		a := &r.Access
		return fmt.Sprintf("pc %d: %s u%d at %#x = %#x (old %#x)", a.PC, a.Kind, a.Size*8, a.Addr, a.Value, a.Old)
	case hooks.KindHelper:
		h := &r.Helper
		return fmt.Sprintf("pc %d: %s(%#x, %#x, %#x, %#x, %#x) = %#x", h.PC, h.Name, h.Args[0], h.Args[1], h.Args[2], h.Args[3], h.Args[4], h.Ret)
	case hooks.KindCall:
		c := &r.Call
		return fmt.Sprintf("pc %d: %s %s -> %d (depth %d, r0=%#x)", c.PC, c.Kind, c.Func, c.Target, c.Depth, c.R0)
	case hooks.KindMapOp:
		m := &r.MapOp
		return fmt.Sprintf("pc %d: map %s %s key=%x value=%x hit=%v errno=%d", m.PC, m.Map, m.Op, m.Key, m.Value, m.Hit, m.Errno)
	case hooks.KindOutput:
		return fmt.Sprintf("pc %d: output %s %q", r.Output.PC, r.Output.Kind, r.Output.Data)
	case hooks.KindEnter:
		return fmt.Sprintf("run %s(r1=%#x)", r.Run.Prog, r.Run.Args[0])
	case hooks.KindExit:
		if r.Run.Err != nil {
			return fmt.Sprintf("exit error %v (%d insns)", r.Run.Err, r.Run.Insns)
		}
		return fmt.Sprintf("exit r0=%#x (%d insns)", r.Run.R0, r.Run.Insns)
	}
	return r.Kind.String()
}

func regsString(regs *[11]uint64, changed uint16) string {
	var b strings.Builder
	for i, v := range regs {
		if changed == 0 || changed&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "r%d=%#x", i, v)
		}
	}
	return b.String()
}

const diffUsage = `usage: bpfscope diff A B

Shows where two trace files part ways: the same program on two packets,
or two builds of a program on the same packet. Prints the first divergent
step with the state of both runs there, then a summary of each run.
Exit status is 1 when the traces differ.
`

func cmdDiff(e *env, args []string) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), diffUsage); fs.PrintDefaults() }
	context := fs.Int("context", 4, "show `N` instructions common to both before the divergence")
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return errUsage
	}
	a, err := readTrace(pos[0])
	if err != nil {
		return err
	}
	b, err := readTrace(pos[1])
	if err != nil {
		return err
	}
	w := e.stdout
	i := 0
	for i < len(a.Events) && i < len(b.Events) && describeRecord(a.Events[i]) == describeRecord(b.Events[i]) {
		i++
	}
	same := i == len(a.Events) && i == len(b.Events)
	if same {
		fmt.Fprintf(w, "traces are identical: %d events\n", i)
	} else {
		fmt.Fprintf(w, "traces diverge at event %d, after %d common instructions\n", i, countSteps(a.Events[:i]))
		// Common context: the last few instructions before the split.
		var ctxPCs []string
		for j := i - 1; j >= 0 && len(ctxPCs) < *context; j-- {
			if r := a.Events[j]; r.Kind == hooks.KindBefore {
				ctxPCs = append([]string{fmt.Sprintf("    %s%s", describeRecord(r), lineSuffix(a, r.Step.PC))}, ctxPCs...)
			}
		}
		if len(ctxPCs) > 0 {
			fmt.Fprintln(w, "  common:")
			for _, l := range ctxPCs {
				fmt.Fprintln(w, l)
			}
		}
		for _, side := range []struct {
			name string
			t    *tracefile.Trace
		}{{"A " + pos[0], a}, {"B " + pos[1], b}} {
			fmt.Fprintf(w, "  %s:\n", side.name)
			var ev *hooks.Record
			if i < len(side.t.Events) {
				ev = side.t.Events[i]
			}
			pc := -1
			if ev != nil {
				pc = ev.PC()
			}
			fmt.Fprintf(w, "    next: %s%s\n", describeRecord(ev), lineSuffix(side.t, pc))
			if regs := lastRegs(side.t.Events[:min(i+1, len(side.t.Events))]); regs != nil {
				fmt.Fprintf(w, "    regs: %s\n", regsString(regs, 0))
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-3s %-12s %8s %8s  %s\n", "", "program", "events", "insns", "result")
	for _, side := range []struct {
		name string
		t    *tracefile.Trace
	}{{"A", a}, {"B", b}} {
		fmt.Fprintf(w, "%-3s %-12s %8d %8d  %s\n", side.name, side.t.Capture.Prog.Name, len(side.t.Events), countSteps(side.t.Events), traceResult(side.t))
	}
	la, lb := linesOf(a), linesOf(b)
	if only := minus(la, lb); len(only) > 0 {
		fmt.Fprintf(w, "source lines run only in A: %s\n", strings.Join(only, ", "))
	}
	if only := minus(lb, la); len(only) > 0 {
		fmt.Fprintf(w, "source lines run only in B: %s\n", strings.Join(only, ", "))
	}
	if !same {
		return errSilent
	}
	return nil
}

func readTrace(name string) (*tracefile.Trace, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := tracefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
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

// lastRegs is the register file of the latest step event.
func lastRegs(evs []*hooks.Record) *[11]uint64 {
	for j := len(evs) - 1; j >= 0; j-- {
		if k := evs[j].Kind; k == hooks.KindBefore || k == hooks.KindAfter {
			return &evs[j].Regs
		}
	}
	return nil
}

func traceResult(t *tracefile.Trace) string {
	for j := len(t.Events) - 1; j >= 0; j-- {
		if r := t.Events[j]; r.Kind == hooks.KindExit {
			if r.Run.Err != nil {
				return "error: " + r.Run.Err.Error()
			}
			return fmt.Sprintf("r0=%d (%s)", r.Run.R0, verdict(t.Capture.Type, uint32(r.Run.R0)))
		}
	}
	return "no exit recorded"
}

func lineSuffix(t *tracefile.Trace, pc int) string {
	if l := t.Capture.Prog.Line(pc); l != nil && pc >= 0 {
		return fmt.Sprintf("    ; %s:%d: %s", l.File, l.Line, l.Text)
	}
	return ""
}

// linesOf lists the source lines a trace executed, in order of first use.
func linesOf(t *tracefile.Trace) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range t.Events {
		if r.Kind != hooks.KindBefore {
			continue
		}
		if l := t.Capture.Prog.Line(r.Step.PC); l != nil {
			s := fmt.Sprintf("%s:%d", l.File, l.Line)
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
