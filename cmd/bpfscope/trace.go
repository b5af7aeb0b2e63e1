package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/loader"
)

const traceUsage = `usage: bpfscope trace [flags] [PROG.o|PROG.bin]

Classic BPF filters (tcpdump expressions, socket filters, seccomp policies)
run with --cbpf, --cbpf-expr or --seccomp: see 'bpfscope trace --cbpf x -h'.

Runs a program like 'bpfscope run' (same inputs; packets always run in
order on one machine) and prints what every instruction did: registers it
changed, memory it touched by region name, helper calls, map operations,
and the C source line each instruction came from. Every packet gets a
header line and ends with its verdict. Without a program it traces the
bundled xdp_firewall example over the bundled capture.

Filters select what is printed; every packet still runs, so map state
evolves as without them. --record FILE writes one trace file holding every
run (run N is packet N), for 'bpfscope dump', 'replay', 'diff' and
'debug', which name a run as FILE#N. The file keeps what the runs depend
on (program, maps, inputs, the environment's answers) and their results;
readers derive the events by running them again. Recording costs little
more than running, so -q --record keeps a whole capture cheaply.
--record-each writes one file per traced packet instead (FILE itself when
one packet is traced, else FILE with the packet number before its
extension). A trace file (FILE or FILE#N) in place of the program prints
its recorded runs, as 'bpfscope dump' does.

`

// traceFlags select and shape what trace prints.
type traceFlags struct {
	format   string
	locals   bool // DWARF variable names in the text trace
	raw      bool // no names at all
	record   string
	packets  string
	funcs    string
	line     string
	pcs      string
	flight   int
	flightOn string
	quiet    bool
	each     bool // --record-each: a file per traced packet
	recPCs   bool // --record-pcs
}

func cmdTrace(e *env, args []string) (retErr error) {
	if wantsClassic(args) {
		return classicRun(e, args, true)
	}
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), traceUsage); fs.PrintDefaults() }
	var in inputFlags
	in.register(fs)
	var tf traceFlags
	fs.StringVar(&tf.format, "format", "text", "output `FORMAT`: text (verifier-log style) or json (JSON Lines, docs/jsonl-schema.md)")
	fs.BoolVar(&tf.locals, "locals", true, "name C variables next to registers and stack slots, from the object's DWARF (built with -g)")
	fs.BoolVar(&tf.raw, "raw", false, "no names from debug info or packet dissection: regions and offsets, keys and values in hex")
	fs.StringVar(&tf.record, "record", "", "write every run to the trace `FILE` (run N is packet N; read it with dump, replay, diff and debug, FILE#N for one run)")
	fs.BoolVar(&tf.each, "record-each", false, "with --record: one trace file per traced packet, FILE with the packet number before its extension")
	fs.BoolVar(&tf.recPCs, "record-pcs", false, "with --record: also store the pcs each run executed (readers get them without running the program again)")
	fs.StringVar(&tf.packets, "packet", "", "trace only packets `N` (1-based; a list such as 1,3-5)")
	fs.StringVar(&tf.funcs, "func", "", "trace only instructions of the BPF functions `NAMES` (comma-separated)")
	fs.StringVar(&tf.line, "line", "", "trace only instructions of source `LINE` (N or FILE:N; comma-separated N)")
	fs.StringVar(&tf.pcs, "pc", "", "trace only instructions at pcs `A-B` (inclusive) or A")
	fs.IntVar(&tf.flight, "flight", 0, "flight recorder: keep the last `N` events of each run and print them, each line led by the packet number and program/function, only for runs that fail or end in a --flight-on verdict")
	fs.BoolVar(&tf.quiet, "q", false, "print nothing but errors (with --record: only write the trace file)")
	fs.StringVar(&tf.flightOn, "flight-on", "", "`VERDICTS` that make the flight recorder print (comma-separated, e.g. XDP_ABORTED,XDP_DROP; default: failed runs and XDP_ABORTED)")
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := atLeast(fs, map[string]int{"flight": 1}); err != nil {
		return err
	}
	if tf.format != "text" && tf.format != "json" {
		return fmt.Errorf("--format %q: want text or json", tf.format)
	}
	if len(pos) == 1 && isTraceFile(pos[0]) { // the recorded runs, derived again
		return cmdDump(e, []string{"--format", tf.format, pos[0]})
	}
	if (tf.each || tf.recPCs) && tf.record == "" {
		return &statusError{code: 2, err: errors.New("--record-each and --record-pcs need --record FILE")}
	}
	p, err := in.load(pos)
	if err != nil {
		return err
	}
	ctxIn, src, err := in.inputs(p)
	if err != nil {
		return err
	}
	defer src.Close()
	coll, err := p.collection()
	if err != nil {
		return err
	}
	renv := helpers.Record(helpers.NewDefaultEnv())
	inst, err := p.instantiate(coll, renv)
	if err != nil {
		return err
	}
	sel, err := tf.selection(inst)
	if err != nil {
		return err
	}
	var want map[int]bool
	if tf.packets != "" {
		if want, err = parseList(tf.packets); err != nil {
			return fmt.Errorf("--packet: %v", err)
		}
		if want[0] {
			return &statusError{code: 2, err: fmt.Errorf("--packet %s: packets are numbered from 1", tf.packets)}
		}
	}
	if sel != nil && !matchesAny(sel, inst.prog.Len()) {
		fmt.Fprintf(e.stderr, "bpfscope trace: warning: no instruction of %s matches %s: nothing will be traced\n", inst.prog.Name, tf.filterNames())
	}
	flightOn, err := tf.verdicts(p)
	if err != nil {
		return err
	}
	// A single traced packet records to FILE itself.
	_, isSingle := src.(*single)
	oneFile := isSingle || len(want) == 1

	w := e.stdout
	if tf.quiet {
		w = io.Discard
	}
	var out interface {
		Flush() error
		Err() error
	}
	var hook any
	var js *jsonl.Writer
	if tf.format == "json" {
		js = jsonl.New(w)
		js.Raw = tf.raw
		out, hook = js, js
	} else {
		t := text.New(w)
		t.Raw = tf.raw
		if tf.locals && !tf.raw {
			setLocals(t, p, coll)
		}
		out, hook = t, t
		fmt.Fprintf(w, "%s: %s (%s)\n", p.label, p.name, p.typ)
		if tf.raw {
			mapListing(w, nil, p.mapSets)
		} else {
			mapListing(w, coll, p.mapSets)
		}
	}
	if tf.quiet {
		hook = nil
	}
	if sel != nil && hook != nil {
		hook = hooks.Filter(hook, sel)
	}
	var fl *flight
	var names *funcNamer
	if tf.flight > 0 {
		fl = newFlight(tf.flight, func(r *hooks.Run) bool { return r.Err != nil || flightOn[uint32(r.R0)] })
		names = newFuncNamer(inst)
	}

	var recOpts *tracefile.WriterOptions
	if tf.recPCs {
		recOpts = &tracefile.WriterOptions{PCs: true}
	}
	newCapture := func(data []byte) *tracefile.Capture {
		return &tracefile.Capture{Prog: inst.prog, Type: p.typ, Maps: mapsInOrder(inst.coll),
			Input: ctx_(data, ctxIn), Env: renv, CPUs: cpus(inst.coll)}
	}
	// One file for the whole input: every run, traced or not, since each
	// starts from the maps the runs before it left.
	var all *tracefile.Writer
	if tf.record != "" && !tf.each {
		f, err := os.Create(tf.record)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 256<<10)
		if all, err = tracefile.NewWriterOptions(bw, newCapture(nil), recOpts); err != nil {
			return err
		}
		defer func() {
			err := all.Close()
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil && retErr == nil {
				retErr = err
			}
		}()
	}
	var recHook any
	if all != nil {
		recHook = all.Hook()
	}
	var envLog []helpers.EnvValue // reused: recording allocates nothing per run
	runOf := func(pk packet, r *result) *tracefile.Run {
		envLog = renv.AppendLog(envLog[:0])
		return &tracefile.Run{Input: ctx_(pk.Data, ctxIn), WantCtxOut: inst.ctxOut, NotRun: pk.Err != nil,
			Env: envLog, Retval: uint64(r.Retval), Insns: r.Insns, Err: r.Err, DataOut: r.DataOut, CtxOut: r.CtxOut}
	}
	record := func(pk packet, r *result) error {
		if all == nil {
			return nil
		}
		return all.Record(runOf(pk, r))
	}
	// Runs nothing watches (-q, or packets --packet leaves out) go the
	// untraced way, into one result.
	var shared result
	execute := func(pk packet, h any) *result {
		if h == nil {
			inst.executeShared(context.Background(), p.typ, pk, ctxIn, 0, outSizes{}, true, &shared)
			return &shared
		}
		return inst.execute(context.Background(), p.typ, pk, ctxIn, 0, h)
	}

	// The frame is not kept past its run (Record copies it): read each
	// into the same buffer where the source can.
	next := src.Next
	if s, ok := src.(interface{ NextShared() (packet, error) }); ok {
		next = s.NextShared
	}
	var ran runSeen // whether the run started; declared once, it stays off the heap
	var readErr error
	failed, last := 0, 0
	for {
		pk, err := next()
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
		last = pk.N
		renv.Reset()
		if want != nil && !want[pk.N] {
			// Run untraced, so later packets see the map state they would.
			if err := record(pk, execute(pk, recHook)); err != nil {
				return err
			}
			continue
		}
		var rec *tracefile.Writer
		var recFile *os.File
		if tf.record != "" && tf.each {
			name := tf.record
			if !oneFile {
				name = numbered(tf.record, pk.N)
			}
			if recFile, err = os.Create(name); err != nil {
				return err
			}
			if rec, err = tracefile.NewWriterOptions(recFile, newCapture(pk.Data), recOpts); err != nil {
				recFile.Close()
				return err
			}
			recHook = rec.Hook()
		}
		h := hook
		if fl != nil {
			h = fl.hook()
		}
		if tf.format == "text" && fl == nil && !tf.quiet {
			packetHeader(w, p, pk, src)
		}
		if js != nil {
			js.SetPacket(pk.N)
		}
		ran = false
		var r *result
		if h == nil && recHook == nil && rec == nil && js == nil {
			r = execute(pk, nil) // -q: nothing to watch, nothing needs to know it ran
		} else {
			r = execute(pk, hooks.Multi(h, &ran, recHook))
		}
		if err := record(pk, r); err != nil {
			return err
		}
		if rec != nil {
			if !bool(ran) { // nothing ran: no file to replay
				rec.Close()
				recFile.Close()
				os.Remove(recFile.Name())
				fmt.Fprintf(e.stderr, "bpfscope trace: packet %d did not run (%v): no trace file %s\n", pk.N, r.Err, recFile.Name())
			} else {
				err := rec.Record(runOf(pk, r))
				if cerr := rec.Close(); err == nil {
					err = cerr
				}
				if cerr := recFile.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
			}
		}
		if r.Err != nil {
			failed++
		}
		if fl != nil {
			recs := fl.events(sel)
			if recs == nil && r.Err == nil {
				continue
			}
			if tf.format == "json" {
				if recs == nil {
					printJSONError(w, pk.N, r.Err)
					continue
				}
				if err := printFlightJSON(w, pk.N, names, recs); err != nil {
					return err
				}
				continue
			}
			packetHeader(w, p, pk, src)
			if recs == nil {
				fmt.Fprintf(w, "; flight recorder: packet %d did not run\n", pk.N)
			} else {
				fmt.Fprintf(w, "; flight recorder: the last %d events of packet %d\n", tf.flight, pk.N)
				printFlightText(w, pk.N, names, recs)
			}
		}
		if js != nil && r.Err != nil && !bool(ran) {
			js.Error(r.Err) // refused input: no enter or exit says so
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if tf.format == "text" && !tf.quiet {
			traceFooter(w, r)
		}
		if tf.quiet && r.Err != nil {
			fmt.Fprintf(e.stderr, "bpfscope trace: packet %d: %v\n", pk.N, r.Err)
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if missing := beyond(want, last); readErr == nil && missing != "" {
		fmt.Fprintf(e.stderr, "bpfscope trace: warning: --packet %s: the input has %d packet(s)\n", missing, last)
	}
	if readErr != nil {
		return readErr
	}
	if failed > 0 {
		return errSilent
	}
	return nil
}

// isTraceFile reports whether arg names a trace file (FILE or FILE#N).
func isTraceFile(arg string) bool {
	name, _ := splitRun(arg)
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, len(tracefile.Magic))
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == tracefile.Magic
}

// runSeen records whether a run started: test_run refuses some inputs
// before the program runs.
type runSeen bool

func (r *runSeen) Enter(*hooks.Run) { *r = true }
func (r *runSeen) Exit(*hooks.Run)  {}

// printJSONError writes the "error" event of a packet that did not run.
func printJSONError(w io.Writer, n int, err error) {
	j := jsonl.New(w)
	j.SetPacket(n)
	j.Error(err)
	j.Flush()
}

// ctx_ builds a test-run input; the name avoids the package ctx.
func ctx_(data, ctxIn []byte) ctx.Input { return ctx.Input{Data: data, Ctx: ctxIn} }

func cpus(c *loader.Collection) int {
	if c == nil {
		return 1
	}
	return c.PossibleCPUs()
}

// numbered inserts a packet number before a file name's extension.
func numbered(name string, n int) string {
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + strconv.Itoa(n) + ext
}

func packetHeader(w io.Writer, p *program, pk packet, src source) {
	if w == io.Discard { // trace -q: summarize decodes the frame (µs)
		return
	}
	fmt.Fprintf(w, "\n=== packet %d: %s (%d bytes) ===\n", pk.N, summarize(pk.Data, src.LinkType()), len(pk.Data))
}

func traceFooter(w io.Writer, r *result) {
	if w == io.Discard { // trace -q
		return
	}
	switch {
	case r.Err != nil:
		fmt.Fprintf(w, "=> error: %v\n", r.Err)
	default:
		fmt.Fprintf(w, "=> %s", r.Verdict)
		if r.modified() {
			fmt.Fprint(w, ", packet modified")
		}
		if r.Redirect != nil {
			fmt.Fprintf(w, ", redirect to %s", redirectString(r.Redirect))
		}
		fmt.Fprintln(w)
	}
	for _, l := range r.Printk {
		fmt.Fprintf(w, "   bpf_printk: %s\n", strings.TrimRight(l, "\n"))
	}
}

// selection combines the instruction filters into one match, nil if none.
func (tf *traceFlags) selection(inst *instance) (hooks.Match, error) {
	var ms []hooks.Match
	prog := inst.prog
	if tf.funcs != "" {
		names := strings.Split(tf.funcs, ",")
		known := map[string]bool{}
		for _, f := range prog.Funcs {
			known[f.Name] = true
		}
		for _, n := range names {
			if !known[n] && len(prog.Funcs) > 0 {
				var all []string
				for _, f := range prog.Funcs {
					all = append(all, f.Name)
				}
				return nil, fmt.Errorf("--func: no function %q; functions: %s", n, strings.Join(all, ", "))
			}
		}
		ms = append(ms, hooks.InFunc(prog, names...))
	}
	if tf.line != "" {
		file, nums := "", tf.line
		if i := strings.LastIndex(tf.line, ":"); i >= 0 {
			file, nums = tf.line[:i], tf.line[i+1:]
		}
		var lines []int
		for _, s := range strings.Split(nums, ",") {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("--line %q: want N, N,M or FILE:N", tf.line)
			}
			lines = append(lines, n)
		}
		ms = append(ms, hooks.AtLines(prog, file, lines...))
	}
	if tf.pcs != "" {
		a, b, isRange := strings.Cut(tf.pcs, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil || hi < lo {
			return nil, fmt.Errorf("--pc %q: want A-B or A", tf.pcs)
		}
		ms = append(ms, hooks.PCRange(lo, hi+1))
	}
	switch len(ms) {
	case 0:
		return nil, nil
	case 1:
		return ms[0], nil
	}
	return func(pc int) bool {
		for _, m := range ms {
			if !m(pc) {
				return false
			}
		}
		return true
	}, nil
}

// matchesAny reports whether m selects any pc of a program of n slots.
func matchesAny(m hooks.Match, n int) bool {
	for pc := range n {
		if m(pc) {
			return true
		}
	}
	return false
}

// filterNames names the instruction filters given, for messages.
func (tf *traceFlags) filterNames() string {
	var fs []string
	for _, f := range []struct{ name, v string }{{"--func", tf.funcs}, {"--line", tf.line}, {"--pc", tf.pcs}} {
		if f.v != "" {
			fs = append(fs, f.name+" "+f.v)
		}
	}
	return strings.Join(fs, " and ")
}

// beyond lists the wanted packet numbers past the last one read.
func beyond(want map[int]bool, last int) string {
	var ns []int
	for n := range want {
		if n > last {
			ns = append(ns, n)
		}
	}
	sort.Ints(ns)
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// verdicts parses --flight-on.
func (tf *traceFlags) verdicts(p *program) (map[uint32]bool, error) {
	set := map[uint32]bool{}
	if tf.flightOn == "" {
		if tf.flight > 0 && p.typ.String() == "XDP" {
			set[0] = true // XDP_ABORTED
		}
		return set, nil
	}
	if tf.flight <= 0 {
		return nil, errors.New("--flight-on needs --flight N")
	}
	for _, s := range strings.Split(tf.flightOn, ",") {
		r, ok := parseVerdict(p.typ, strings.TrimSpace(s))
		if !ok {
			return nil, fmt.Errorf("--flight-on: unknown verdict %q for %s programs", s, p.typ)
		}
		set[r] = true
	}
	return set, nil
}
