package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/pcaprec"
	"github.com/bpfscope/bpfscope/internal/pipeline"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"
)

const runUsage = `usage: bpfscope run [flags] [PROG.o|PROG.bin]

Classic BPF filters (tcpdump expressions, socket filters, seccomp policies)
run with --cbpf, --cbpf-expr or --seccomp: see 'bpfscope run --cbpf x -h'.

Runs a program as BPF_PROG_TEST_RUN does (like 'bpftool prog run'): on one
packet (--data-in), or on every packet of a capture (--pcap) in order, with
map state carried from packet to packet as in the kernel. Prints the verdict
of every packet and a summary. Without a program it runs the bundled
xdp_firewall example over the bundled capture.

Parallel runs: with --jobs N > 1 every worker has its own copy of the maps,
so a packet sees only the map changes of the packets its worker ran before
it, and map contents at the end are not merged. That changes results for
programs whose behaviour depends on map state (counters, rate limits,
connection tables), so the default is one worker for programs with any
writable map, and every core for programs without one (or with read-only
maps only). Results are reported in capture order either way.

Programs run on Ethernet frames. Captures of raw IP get a synthetic
Ethernet header, Linux cooked captures (SLL, SLL2: 'tcpdump -i any') one
with the recorded protocol and source address; other link types are
refused.

Exit status is 1 if a run failed or the capture is damaged (the packets
before the damage are still run and reported).

`

func cmdRun(e *env, args []string) (err error) {
	if wantsClassic(args) {
		return classicRun(e, args, false)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), runUsage); fs.PrintDefaults() }
	var in inputFlags
	in.register(fs)
	var (
		dataOut = fs.String("data-out", "", "write the output packet (data_out) of the run to `FILE` (- for stdout; the report then goes to stderr)")
		ctxOut  = fs.String("ctx-out", "", "write the output context (ctx_out) of the run to `FILE` (- for stdout; the report then goes to stderr)")
		dataCap = fs.Int("data-size-out", 0, "the data_out buffer holds `N` bytes: a longer output is cut there and the run fails with ENOSPC, as in the kernel (default: large enough)")
		ctxCap  = fs.Int("ctx-size-out", 0, "the ctx_out buffer holds `N` bytes, as --data-size-out")
		pcapOut = fs.String("pcap-out", "", "write the packets that were not dropped, as the program left them, to the pcap `FILE`")
		dropOut = fs.String("drop-out", "", "write the packets that were dropped (or failed), as they came in, to the pcap `FILE`")
		repeat  = fs.Int("repeat", 0, "run the program `N` times over each packet, as test_run's repeat")
		asJSON  = fs.Bool("json", false, "print one JSON object per packet, then a summary object")
		jobs    = fs.Int("jobs", 0, "run on `N` workers (default: 1 for programs with writable maps, else every core; see above)")
		quiet   = fs.Bool("q", false, "print the summary only")
	)
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := atLeast(fs, map[string]int{"jobs": 1, "repeat": 0, "data-size-out": 0, "ctx-size-out": 0}); err != nil {
		return err
	}
	if *dataOut == "-" && *ctxOut == "-" {
		return &statusError{code: 2, err: errors.New("--data-out and --ctx-out cannot both be - (stdout)")}
	}
	report := e.stdout
	if *dataOut == "-" || *ctxOut == "-" {
		report = e.stderr // stdout carries the bytes
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
	_, isSingle := src.(*single)
	if !isSingle && (*dataOut != "" || *ctxOut != "") {
		return errors.New("--data-out and --ctx-out need a single packet (--data-in); use --pcap-out for captures")
	}
	if *ctxOut != "" && p.typ == ebpf.RawTracepoint {
		// net/bpf/test_run.c: raw_tp runs take ctx_in only (EINVAL).
		return fmt.Errorf("--ctx-out: test_run gives no ctx_out for %s programs (the kernel refuses it with EINVAL)", p.typ)
	}

	if *ctxOut != "" {
		// As a ctx_out buffer given to BPF_PROG_TEST_RUN does.
		p.ctxOut = true
		if p.typ == ebpf.XDP && ctxIn == nil {
			fmt.Fprintln(e.stderr, "bpfscope run: note: --ctx-out without --ctx-in: as in the kernel, the run starts from a zeroed xdp_md, whose data_end 0 puts the whole frame in fragments (give --ctx-in to set data_end)")
		}
	}
	coll, err := p.collection()
	if err != nil {
		return err
	}
	n := *jobs
	if n <= 0 {
		n = defaultJobs(p, coll)
	}
	if n > 1 && p.writableMaps(coll) {
		fmt.Fprintf(e.stderr, "bpfscope run: %d workers with separate maps: packets do not see each other's map updates\n", n)
	}

	if !isSingle {
		// A line per packet: written one by one, a capture costs a
		// write(2) per packet.
		bw := bufio.NewWriterSize(report, 64<<10)
		defer func() {
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
		}()
		report = bw
	}
	out := &runOutput{
		w: report, typ: p.typ, json: *asJSON, quiet: *quiet, single: isSingle,
		link:    src.LinkType(),
		pcapOut: newPcapWriter(*pcapOut, src.LinkType()), dropOut: newPcapWriter(*dropOut, src.LinkType()),
	}
	if !*asJSON && !*quiet {
		header(report, p, coll, &in)
	}
	prog := newProgress(e.stderr)
	ctx := context.Background()

	var readErr error
	if n <= 1 {
		inst, err := p.instantiate(coll, helpers.NewDefaultEnv())
		if err != nil {
			return err
		}
		if readErr, err = runSerial(ctx, inst, p.typ, src, ctxIn, *repeat, outSizes{*dataCap, *ctxCap}, out, prog); err != nil {
			return err
		}
	} else {
		emit := func(r *result) error {
			prog.tick(r.Packet.N)
			return out.add(r)
		}
		var tick func(int)
		if out.countsOnly() {
			emit = nil // the workers count
			if prog != nil {
				tick = prog.tick
			}
		}
		readErr, err = runParallel(ctx, p, src, n, ctxIn, *repeat, outSizes{*dataCap, *ctxCap}, !out.single, emit, &out.tally, tick)
		if err != nil {
			return err
		}
	}
	prog.done()
	if err := out.finish(); err != nil {
		return err
	}
	if r := out.last; isSingle && r != nil && r.Err == nil {
		if err := writeOut(e, *dataOut, r.DataOut); err != nil {
			return err
		}
		if *ctxOut != "" && r.CtxOut == nil {
			return fmt.Errorf("--ctx-out: the run of this %s program gave no ctx_out", p.typ)
		}
		if err := writeOut(e, *ctxOut, r.CtxOut); err != nil {
			return err
		}
	}
	if readErr != nil {
		return readErr
	}
	if out.failed > 0 {
		return errSilent
	}
	return nil
}

// header says what is about to run, for people reading the output.
func header(w io.Writer, p *program, c *loader.Collection, in *inputFlags) {
	what := "one packet"
	switch {
	case in.pcap != "":
		what = in.pcap
	case in.dataIn != "":
		what = in.dataIn
	case p.bundled:
		what = "bundled sample.pcap"
	}
	fmt.Fprintf(w, "%s: %s (%s) on %s\n", p.label, p.name, p.typ, what)
	for _, s := range p.mapSets {
		fmt.Fprintf(w, "  map %s\n", mapSetText(c, s))
	}
	fmt.Fprintln(w)
}

// writeOut writes an output of the run to the file --data-out or
// --ctx-out names, or to stdout for "-".
func writeOut(e *env, path string, b []byte) error {
	switch path {
	case "":
		return nil
	case "-":
		_, err := e.stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}

// runSerial runs every packet of src on inst in order, handing each
// result to out. out is done with a result before the next run, so the
// packet (from a sharedSource) and the result's outputs are buffers used
// again for the next packet: the loop allocates nothing per packet.
func runSerial(ctx context.Context, inst *instance, typ ebpf.ProgramType, src source, ctxIn []byte, repeat int, sizes outSizes, out *runOutput, prog *progress) (readErr, err error) {
	next := src.Next
	if s, ok := src.(sharedSource); ok && !out.keepsResults() {
		next = s.NextShared
	}
	var r result
	for {
		pk, err := next()
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			return readErr, nil
		}
		inst.executeShared(ctx, typ, pk, ctxIn, repeat, sizes, !out.single, &r)
		if err := out.add(&r); err != nil {
			return readErr, err
		}
		prog.tick(pk.N)
	}
}

// runParallel runs packets on n workers, each with its own machine and
// maps. With emit, the results go to emit in capture order; without
// (nil), each worker counts its results in a tally of its own, and the
// tallies are added to sum at the end: a summary does not depend on the
// order of the packets. tick, if not nil, gets the number of packets run
// so far from time to time. The capture's read error comes back
// separately from failures of the run itself. untimed is as
// executeShared's.
//
// The packets go in batches through internal/pipeline: a worker reads
// its next batch itself, then runs it. A classic pcap file is read in
// chunks that workers run in place, so every packet's bytes are copied
// once, by the read, as in a serial run; other inputs are copied into
// the batch. Batches and their buffers are used again: the loop
// allocates nothing per packet.
func runParallel(ctx context.Context, p *program, src source, n int, ctxIn []byte, repeat int, sizes outSizes, untimed bool,
	emit func(*result) error, sum *tally, tick func(int)) (readErr, err error) {
	workers := make([]*worker, n)
	for i := range workers {
		inst, err := p.instantiate(nil, helpers.NewDefaultEnv())
		if err != nil {
			return nil, err
		}
		workers[i] = &worker{inst: inst}
	}
	c, inChunks := src.(*capture)
	inChunks = inChunks && c.inChunks()
	next := src.Next
	if s, ok := src.(sharedSource); ok {
		next = s.NextShared // fill copies the packet
	}
	run := func(w int, b *batch) {
		wk := workers[w]
		if emit != nil {
			b.run(ctx, wk.inst, p.typ, ctxIn, repeat, sizes, untimed)
			return
		}
		for i := range b.len() {
			wk.inst.executeShared(ctx, p.typ, b.packet(i), ctxIn, repeat, sizes, untimed, &wk.r)
			wk.sum.add(&wk.r)
		}
	}
	st := pipeline.Stages[batch]{
		Fill: func(b *batch) bool {
			var err error
			if inChunks {
				b.inPlace = true
				b.first, err = c.readChunk(&b.chunk)
			} else {
				err = b.fill(next)
			}
			if err != nil && err != io.EOF {
				readErr = err // read after Run returns
			}
			return err != nil
		},
		Work: run,
	}
	ran := 0
	switch {
	case emit != nil:
		st.Emit = func(b *batch) error {
			for i := range b.res {
				if err := emit(&b.res[i]); err != nil {
					return err
				}
			}
			return nil
		}
	case tick != nil: // a batch at a time
		st.Emit = func(b *batch) error {
			ran += b.len()
			tick(ran)
			return nil
		}
	}
	err = pipeline.Run(n, st)
	if emit == nil {
		for _, wk := range workers {
			sum.merge(&wk.sum)
		}
	}
	return readErr, err
}

// worker is what a worker of runParallel writes to as it runs: its
// machine's state, and without emit its last result and its tally.
// Workers write only to their own; the padding keeps them off each
// other's cache lines.
type worker struct {
	_    [64]byte
	inst *instance
	r    result
	sum  tally
	_    [64]byte
}

// batchLen is the number of packets runParallel copies into a batch
// from a source it cannot read in chunks: enough to make the hand-overs
// rare, few enough to keep the workers fed at the end.
const batchLen = 256

// batch is packets of runParallel with their results.
type batch struct {
	// A chunk of a pcap file, its packets in place (inPlace), numbered
	// from first+1; or packets copied into data.
	inPlace bool
	first   int
	chunk   pcaprec.Chunk
	pks     []packet
	data    []byte // the packets' bytes, one after the other
	ends    []int  // where each packet's bytes end in data

	res []result // the runs, in the order of the packets (with emit)
	// outs and ctxOuts hold each run's outputs, which the machine's
	// buffers hold only until its next run.
	outs, ctxOuts [][]byte
	printk        [][]string // and their bpf_printk lines
}

func (b *batch) len() int {
	if b.inPlace {
		return len(b.chunk.Recs)
	}
	return len(b.pks)
}

// packet returns packet i of b.
func (b *batch) packet(i int) packet {
	if b.inPlace {
		return packet{N: b.first + i + 1, Info: b.chunk.Recs[i].Info, Data: b.chunk.Packet(i)}
	}
	return b.pks[i]
}

// fill reads up to batchLen packets with next, copying their bytes into
// b. The error is next's after the last packet (io.EOF at the end).
func (b *batch) fill(next func() (packet, error)) (err error) {
	b.pks, b.data, b.ends = b.pks[:0], b.data[:0], b.ends[:0]
	for len(b.pks) < batchLen {
		var pk packet
		if pk, err = next(); err != nil {
			break
		}
		b.data = append(b.data, pk.Data...)
		b.ends = append(b.ends, len(b.data))
		b.pks = append(b.pks, pk)
	}
	start := 0 // b.data has its final place only now
	for i, end := range b.ends {
		b.pks[i].Data = b.data[start:end:end]
		start = end
	}
	return err
}

// run runs every packet of b on inst, keeping the results in b.res.
func (b *batch) run(ctx context.Context, inst *instance, typ ebpf.ProgramType, ctxIn []byte, repeat int, sizes outSizes, untimed bool) {
	n := b.len()
	if cap(b.res) < n {
		b.res = make([]result, n)
		b.outs, b.ctxOuts = make([][]byte, n), make([][]byte, n)
		b.printk = make([][]string, n)
	}
	b.res = b.res[:n]
	for i := range b.res {
		pk, r := b.packet(i), &b.res[i]
		inst.executeShared(ctx, typ, pk, ctxIn, repeat, sizes, untimed, r)
		if bytes.Equal(r.DataOut, pk.Data) && r.DataOut != nil {
			r.DataOut = pk.Data // the same bytes, in the batch already
		} else {
			r.DataOut = keep(&b.outs[i], r.DataOut)
		}
		r.CtxOut = keep(&b.ctxOuts[i], r.CtxOut)
		if r.Printk != nil { // the machine's next run writes over its array
			b.printk[i] = append(b.printk[i][:0], r.Printk...)
			r.Printk = b.printk[i]
		}
	}
}

// keep copies out into *buf, reusing it, and returns the copy (nil for
// nil).
func keep(buf *[]byte, out []byte) []byte {
	if out == nil {
		return nil
	}
	*buf = append((*buf)[:0], out...)
	return *buf
}

// tally counts results for the summary.
type tally struct {
	total, failed, modified int
	small                   [8]int         // packets by retval, for the retvals every type uses
	counts                  map[uint32]int // by the other retvals
	redirects               map[string]int
}

// add counts r.
func (t *tally) add(r *result) {
	t.total++
	if r.Err != nil {
		t.failed++
	} else if r.Retval < uint32(len(t.small)) {
		t.small[r.Retval]++
	} else {
		if t.counts == nil {
			t.counts = map[uint32]int{}
		}
		t.counts[r.Retval]++
	}
	if r.modified() {
		t.modified++
	}
	if r.Redirect != nil {
		if t.redirects == nil {
			t.redirects = map[string]int{}
		}
		t.redirects[redirectString(r.Redirect)]++
	}
}

// merge adds the counts of o to t.
func (t *tally) merge(o *tally) {
	t.total += o.total
	t.failed += o.failed
	t.modified += o.modified
	for i, n := range o.small {
		t.small[i] += n
	}
	for r, n := range o.counts {
		if t.counts == nil {
			t.counts = map[uint32]int{}
		}
		t.counts[r] += n
	}
	for k, n := range o.redirects {
		if t.redirects == nil {
			t.redirects = map[string]int{}
		}
		t.redirects[k] += n
	}
}

// verdicts returns the number of packets by retval, all of them.
func (t *tally) verdicts() map[uint32]int {
	v := make(map[uint32]int, len(t.counts)+len(t.small))
	for r, n := range t.counts {
		v[r] = n
	}
	for r, n := range t.small {
		if n > 0 {
			v[uint32(r)] += n
		}
	}
	return v
}

// runOutput prints results and keeps the summary.
type runOutput struct {
	w                io.Writer
	typ              ebpf.ProgramType
	json, quiet      bool
	single           bool
	link             layers.LinkType
	pcapOut, dropOut *pcapWriter

	tally
	last *result
}

// keepsResults says whether o holds on to a result after add returns.
func (o *runOutput) keepsResults() bool { return o.single }

// countsOnly says whether o does nothing with a result but count it:
// then the results need not come to add, nor in capture order.
func (o *runOutput) countsOnly() bool {
	return o.quiet && !o.single && o.pcapOut == nil && o.dropOut == nil
}

// jsonResult is the --json form of one packet's result.
type jsonResult struct {
	Packet   int               `json:"packet"`
	Len      int               `json:"len"`
	Retval   *uint32           `json:"retval,omitempty"`
	Verdict  string            `json:"verdict,omitempty"`
	Error    string            `json:"error,omitempty"`
	Insns    uint64            `json:"insns"`
	Modified bool              `json:"modified"`
	DataOut  string            `json:"data_out,omitempty"`
	CtxOut   string            `json:"ctx_out,omitempty"`
	Redirect *helpers.Redirect `json:"redirect,omitempty"`
	Printk   []string          `json:"printk,omitempty"`
}

func (o *runOutput) add(r *result) error {
	o.tally.add(r)
	o.last = r
	drop := r.Err != nil || dropped(o.typ, r.Retval)
	if drop {
		if err := o.dropOut.write(r.Packet.Info.Timestamp, r.Packet.Data); err != nil {
			return err
		}
	} else if err := o.pcapOut.write(r.Packet.Info.Timestamp, r.DataOut); err != nil {
		return err
	}
	switch {
	case o.quiet:
		return nil
	case o.json:
		j := jsonResult{Packet: r.Packet.N, Len: len(r.Packet.Data), Insns: r.Insns, Modified: r.modified(),
			Redirect: r.Redirect, Printk: r.Printk}
		if r.Err != nil {
			j.Error = r.Err.Error()
		} else {
			j.Retval, j.Verdict = &r.Retval, r.Verdict
			j.DataOut, j.CtxOut = hex.EncodeToString(r.DataOut), hex.EncodeToString(r.CtxOut)
		}
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.w, "%s\n", b)
		return err
	case o.single:
		return o.printSingle(r)
	}
	return o.printLine(r)
}

func (o *runOutput) printLine(r *result) error {
	v := r.Verdict
	if r.Err != nil {
		v = "error"
	}
	ts := ""
	if !r.Packet.Info.Timestamp.IsZero() {
		ts = r.Packet.Info.Timestamp.UTC().Format("15:04:05.000000") + " "
	}
	fmt.Fprintf(o.w, "#%-4d %s%-13s %s (%d bytes)\n", r.Packet.N, ts, v, summarize(r.Packet.Data, o.link), len(r.Packet.Data))
	o.details(r, "      ")
	return nil
}

func (o *runOutput) details(r *result, ind string) {
	if r.Err != nil {
		fmt.Fprintf(o.w, "%serror: %v\n", ind, r.Err)
	}
	for _, l := range r.Printk {
		fmt.Fprintf(o.w, "%sbpf_printk: %s%s\n", ind, strings.TrimRight(l, "\n"), times(r.Repeats))
	}
	if r.Redirect != nil {
		fmt.Fprintf(o.w, "%sredirect: %s\n", ind, redirectString(r.Redirect))
	}
	if r.modified() {
		fmt.Fprintf(o.w, "%soutput packet, %d bytes: %s\n", ind, len(r.DataOut), summarize(r.DataOut, o.link))
		hexdump(o.w, r.DataOut, ind+"  ")
	}
}

// printSingle prints one run as bpftool prog run does.
func (o *runOutput) printSingle(r *result) error {
	if r.Err != nil {
		fmt.Fprintf(o.w, "error: %v\n", r.Err)
	} else {
		fmt.Fprintf(o.w, "Return value: %d (%s), %d instructions, duration (average) %dns\n", r.Retval, r.Verdict, r.Insns, r.Duration.Nanoseconds())
	}
	for _, l := range r.Printk {
		fmt.Fprintf(o.w, "bpf_printk: %s%s\n", strings.TrimRight(l, "\n"), times(r.Repeats))
	}
	if r.Redirect != nil {
		fmt.Fprintf(o.w, "redirect: %s\n", redirectString(r.Redirect))
	}
	if len(r.DataOut) > 0 {
		state := "unchanged"
		switch {
		case r.Err != nil:
			state = "cut at the buffer's size"
		case r.modified():
			state = "modified"
		}
		fmt.Fprintf(o.w, "data_out (%d bytes, %s):\n", len(r.DataOut), state)
		hexdump(o.w, r.DataOut, "  ")
	}
	if len(r.CtxOut) > 0 {
		fmt.Fprintf(o.w, "ctx_out (%d bytes):\n", len(r.CtxOut))
		hexdump(o.w, r.CtxOut, "  ")
	}
	return nil
}

// times marks output every one of n repeated runs printed alike.
func times(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (each of %d runs)", n)
}

func redirectString(r *helpers.Redirect) string {
	if r.Map != "" {
		return fmt.Sprintf("%s[%d]", r.Map, r.Key)
	}
	return fmt.Sprintf("ifindex %d", r.Ifindex)
}

// finish prints the summary and closes the output captures.
func (o *runOutput) finish() error {
	if err := o.pcapOut.close(); err != nil {
		return err
	}
	if err := o.dropOut.close(); err != nil {
		return err
	}
	counts := o.verdicts()
	rets := make([]uint32, 0, len(counts))
	for r := range counts {
		rets = append(rets, r)
	}
	sort.Slice(rets, func(i, j int) bool { return int32(rets[i]) < int32(rets[j]) })
	targets := make([]string, 0, len(o.redirects))
	for t := range o.redirects {
		targets = append(targets, t)
	}
	sort.Strings(targets)

	if o.json {
		s := map[string]any{"packets": o.total, "errors": o.failed, "modified": o.modified}
		v := map[string]int{}
		for _, r := range rets {
			v[verdict(o.typ, r)] = counts[r]
		}
		s["verdicts"] = v
		if len(o.redirects) > 0 {
			s["redirects"] = o.redirects
		}
		b, err := json.Marshal(map[string]any{"summary": s})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.w, "%s\n", b)
		return err
	}
	if o.single && !o.quiet {
		return nil
	}
	fmt.Fprintf(o.w, "\n%-16s %8s\n", "verdict", "packets")
	for _, r := range rets {
		fmt.Fprintf(o.w, "%-16s %8d\n", verdict(o.typ, r), counts[r])
	}
	if o.failed > 0 {
		fmt.Fprintf(o.w, "%-16s %8d\n", "error", o.failed)
	}
	fmt.Fprintf(o.w, "%-16s %8d\n", "total", o.total)
	if o.modified > 0 {
		fmt.Fprintf(o.w, "%d packet(s) modified by the program\n", o.modified)
	}
	for _, t := range targets {
		fmt.Fprintf(o.w, "redirected to %s: %d\n", t, o.redirects[t])
	}
	if o.pcapOut != nil {
		fmt.Fprintf(o.w, "wrote %d packet(s) to %s\n", o.pcapOut.n, o.pcapOut.path)
	}
	if o.dropOut != nil {
		fmt.Fprintf(o.w, "wrote %d dropped packet(s) to %s\n", o.dropOut.n, o.dropOut.path)
	}
	return nil
}

// progress shows packets done on a terminal, at most a few times a second.
type progress struct {
	w     *os.File
	start time.Time
	last  time.Time
	n     int
}

// newProgress returns nil unless w is a terminal.
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	now := time.Now()
	return &progress{w: f, start: now, last: now}
}

func (p *progress) tick(n int) {
	if p == nil {
		return
	}
	p.n = n
	if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond {
		p.last = now
		fmt.Fprintf(p.w, "\r%d packets, %.0f/s ", n, float64(n)/now.Sub(p.start).Seconds())
	}
}

func (p *progress) done() {
	if p != nil && p.last != p.start {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
