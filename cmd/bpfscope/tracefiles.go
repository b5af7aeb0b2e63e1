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
