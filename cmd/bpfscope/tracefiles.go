package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/gopacket/gopacket/layers"
)

func cmdDump(e *env, args []string) error {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfscope dump [--format text|json] FILE[#N]\n\nPrints the events of a trace file written by 'bpfscope trace --record', or of\nits run N alone (FILE#N), by running the recorded runs again.")
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
	f, done, err := openRuns(pos[0])
	if err != nil {
		return err
	}
	defer done()
	runs, err := countRuns(f)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	var out interface{ Flush() error }
	var setRun func(*tracefile.Run)
	switch *format {
	case "text":
		t := text.New(e.stdout)
		out = t
		setRun = func(r *tracefile.Run) { // a header per run of a file of several
			t.Flush()
			fmt.Fprintf(e.stdout, "\n=== run %d: %s (%d bytes) ===\n", r.N, summarizeInput(r.Input.Data), len(r.Input.Data))
		}
	case "json":
		j := jsonl.New(e.stdout)
		out = j
		setRun = func(r *tracefile.Run) { j.SetPacket(r.N) }
	default:
		return fmt.Errorf("--format %q: want text or json", *format)
	}
	if runs > 1 {
		var tr *tracefile.Reader
		if tr, err = tracefile.NewReader(f); err == nil {
			err = tracefile.DumpRuns(tr, nil, out, setRun)
		}
	} else {
		err = tracefile.Dump(f, out)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	return nil
}

func cmdReplay(e *env, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfscope replay FILE[#N]...\n\nRe-executes each trace file (or its run N alone, FILE#N) from what it holds\nalone (program, maps, inputs, environment) and checks every run against the\nrecording: result, instructions, error, the checksum of data_out and\nctx_out, the maps after the last run; a file of one run has its events\nderived twice and compared. On a mismatch it shows where the runs part.")
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
		f, done, err := openRuns(name)
		var res *tracefile.Result
		runs := 0
		if err == nil {
			runs, err = countRuns(f)
		}
		if err == nil {
			if runs > 1 { // run by run, in constant memory
				res, err = tracefile.Replay(f, nil)
			} else { // events derived, then compared with a second run
				var t *tracefile.Trace
				if t, err = tracefile.ReadAll(f); err == nil {
					res, err = t.Replay(nil)
				}
			}
		}
		if done != nil {
			done()
		}
		var d *tracefile.Divergence
		switch {
		case errors.As(err, &d) && d.Recorded == nil && d.Replayed == nil:
			bad++
			fmt.Fprintf(e.stdout, "%s: DIVERGES: %v\n", name, d)
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
			if runs > 1 {
				fmt.Fprintf(e.stdout, "%s: ok, %d runs replayed identically (%d instructions), the last %s\n", name, res.Runs, res.Insns, status)
			} else {
				fmt.Fprintf(e.stdout, "%s: ok, %d events replayed identically, %s\n", name, res.Events, status)
			}
		}
	}
	if bad > 0 {
		return errSilent
	}
	return nil
}

// splitRun splits FILE#N, run N of a trace file, into the file's name and
// N (0 when the argument names no run, or a file by that name exists).
func splitRun(arg string) (string, int) {
	i := strings.LastIndexByte(arg, '#')
	if i <= 0 {
		return arg, 0
	}
	n, err := strconv.Atoi(arg[i+1:])
	if err != nil || n < 1 {
		return arg, 0
	}
	if _, err := os.Stat(arg); err == nil {
		return arg, 0
	}
	return arg[:i], n
}

// loadRuns reads a trace file, or a file of its run N alone for FILE#N
// (the runs before it run again to give the maps N started from).
func loadRuns(arg string) ([]byte, error) {
	f, done, err := openRuns(arg)
	if err != nil {
		return nil, err
	}
	defer done()
	return io.ReadAll(f)
}

// openRuns opens a trace file, or for FILE#N a file of its run N alone,
// for reading from the start (done closes it). A whole file is read as
// it streams, however many runs it holds.
func openRuns(arg string) (io.ReadSeeker, func(), error) {
	name, n := splitRun(arg)
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return f, func() { f.Close() }, nil
	}
	defer f.Close()
	one, err := tracefile.Select(bufio.NewReaderSize(f, 1<<20), n, nil)
	if tracefile.IsSingleRun(err) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, nil, err
		}
		one, err = io.ReadAll(f)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", arg, err)
	}
	return bytes.NewReader(one), func() {}, nil
}

// countRuns returns the number of runs of a trace file (1 for versions 1
// and 2), reading the runs' records without running them, and rewinds it.
func countRuns(f io.ReadSeeker) (int, error) {
	defer f.Seek(0, io.SeekStart)
	r, err := tracefile.NewReader(f)
	if err != nil {
		return 0, err
	}
	if r.Version() < 3 {
		return 1, nil
	}
	n := 0
	for {
		if _, err := r.NextRun(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return 0, err
		}
		n++
	}
}

// summarizeInput describes a run's data_in, for headers.
func summarizeInput(data []byte) string {
	if len(data) == 0 {
		return "no data_in"
	}
	return summarize(data, layers.LinkTypeEthernet)
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
