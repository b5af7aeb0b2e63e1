package main

import (
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
	"sync"
	"time"

	"github.com/bpfscope/bpfscope/helpers"
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

Exit status is 1 if a run failed or the capture is damaged (the packets
before the damage are still run and reported).

`

func cmdRun(e *env, args []string) error {
	if wantsClassic(args) {
		return classicRun(e, args, false)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), runUsage); fs.PrintDefaults() }
	var in inputFlags
	in.register(fs)
	var (
		dataOut = fs.String("data-out", "", "write the output packet (data_out) of the run to `FILE`")
		ctxOut  = fs.String("ctx-out", "", "write the output context (ctx_out) of the run to `FILE`")
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

	out := &runOutput{
		w: e.stdout, typ: p.typ, json: *asJSON, quiet: *quiet, single: isSingle,
		link: src.LinkType(), counts: map[uint32]int{}, redirects: map[string]int{},
		pcapOut: newPcapWriter(*pcapOut, src.LinkType()), dropOut: newPcapWriter(*dropOut, src.LinkType()),
	}
	if !*asJSON && !*quiet {
		header(e.stdout, p, coll, &in)
	}
	prog := newProgress(e.stderr)
	ctx := context.Background()

	var readErr error
	if n <= 1 {
		inst, err := p.instantiate(coll, helpers.NewDefaultEnv())
		if err != nil {
			return err
		}
		for {
			pk, err := src.Next()
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				break
			}
			if err := out.add(inst.execute(ctx, p.typ, pk, ctxIn, *repeat, nil)); err != nil {
				return err
			}
			prog.tick(pk.N)
		}
	} else {
		readErr, err = runParallel(ctx, p, src, n, ctxIn, *repeat, func(r *result) error {
			prog.tick(r.Packet.N)
			return out.add(r)
		})
		if err != nil {
			return err
		}
	}
	prog.done()
	if err := out.finish(); err != nil {
		return err
	}
	if isSingle {
		r := out.last
		if *dataOut != "" && r != nil {
			if err := os.WriteFile(*dataOut, r.DataOut, 0o644); err != nil {
				return err
			}
		}
		if *ctxOut != "" && r != nil {
			if err := os.WriteFile(*ctxOut, r.CtxOut, 0o644); err != nil {
				return err
			}
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

func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}

// runParallel runs packets on n workers, each with its own machine and
// maps, and hands the results to emit in capture order. It returns the
// capture's read error separately from failures of the run itself.
func runParallel(ctx context.Context, p *program, src source, n int, ctxIn []byte, repeat int, emit func(*result) error) (readErr, err error) {
	insts := make([]*instance, n)
	for i := range insts {
		if insts[i], err = p.instantiate(nil, helpers.NewDefaultEnv()); err != nil {
			return nil, err
		}
	}
	const batch = 1024
	pks := make([]packet, 0, batch)
	res := make([]*result, batch)
	for {
		pks = pks[:0]
		for len(pks) < batch {
			pk, err := src.Next()
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				break
			}
			pks = append(pks, pk)
		}
		var wg sync.WaitGroup
		next := make(chan int, len(pks))
		for i := range pks {
			next <- i
		}
		close(next)
		for _, inst := range insts {
			wg.Go(func() {
				for i := range next {
					res[i] = inst.execute(ctx, p.typ, pks[i], ctxIn, repeat, nil)
				}
			})
		}
		wg.Wait()
		for i := range pks {
			if err := emit(res[i]); err != nil {
				return readErr, err
			}
		}
		if len(pks) < batch {
			return readErr, nil
		}
	}
}

// runOutput prints results and keeps the summary.
type runOutput struct {
	w                io.Writer
	typ              ebpf.ProgramType
	json, quiet      bool
	single           bool
	link             layers.LinkType
	pcapOut, dropOut *pcapWriter

	total, failed, modified int
	counts                  map[uint32]int
	redirects               map[string]int
	last                    *result
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
	o.total++
	o.last = r
	if r.Err != nil {
		o.failed++
	} else {
		o.counts[r.Retval]++
	}
	if r.modified() {
		o.modified++
	}
	if r.Redirect != nil {
		o.redirects[redirectString(r.Redirect)]++
	}
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
		fmt.Fprintf(o.w, "%sbpf_printk: %s\n", ind, strings.TrimRight(l, "\n"))
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
		fmt.Fprintf(o.w, "Return value: %d (%s), %d instructions\n", r.Retval, r.Verdict, r.Insns)
	}
	for _, l := range r.Printk {
		fmt.Fprintf(o.w, "bpf_printk: %s\n", strings.TrimRight(l, "\n"))
	}
	if r.Redirect != nil {
		fmt.Fprintf(o.w, "redirect: %s\n", redirectString(r.Redirect))
	}
	if len(r.DataOut) > 0 {
		state := "unchanged"
		if r.modified() {
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
	rets := make([]uint32, 0, len(o.counts))
	for r := range o.counts {
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
			v[verdict(o.typ, r)] = o.counts[r]
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
		fmt.Fprintf(o.w, "%-16s %8d\n", verdict(o.typ, r), o.counts[r])
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
