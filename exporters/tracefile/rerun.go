package tracefile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// NextRun returns the next run of a version 3 file, io.EOF after the last
// one (the end section read and its run count checked). Its slices point
// into the file's buffers and stay valid.
func (t *Reader) NextRun() (*Run, error) {
	if t.version < 3 {
		return nil, fmt.Errorf("tracefile: a version %d file stores the events of one run, not runs", t.version)
	}
	for t.rd.done() || t.rd.b == nil {
		if t.ended {
			return nil, io.EOF
		}
		kind, payload, off, err := t.section()
		if err != nil {
			return nil, err
		}
		d := dec{b: payload}
		switch kind {
		case secRuns:
			t.rd, t.rdOff = d, off
			continue
		case secEnd:
			if n := d.u(); d.err == nil && n != uint64(t.runN) {
				d.fail("%d runs announced, %d read", n, t.runN)
			}
			if raw := d.raw(4); raw != nil {
				t.mapsSum = binary.LittleEndian.Uint32(raw)
			}
			t.ended = true
		default:
			return nil, &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: "unexpected section after the runs began"}
		}
		if d.err == nil && !d.done() {
			d.fail("%d bytes of trailing data", len(d.b)-d.off)
		}
		if err := sectionErr(kind, off, &d); err != nil {
			return nil, err
		}
		t.rd = dec{}
	}
	d := &t.rd
	start := d.off
	r := t.decodeRun(d)
	if d.err != nil {
		err := sectionErr(secRuns, t.rdOff, d).(*FormatError)
		err.Msg = fmt.Sprintf("run %d (at byte %d): %s", t.runN+1, start, err.Msg)
		return nil, err
	}
	t.runN++
	r.N = t.runN
	if t.runN == 1 {
		t.input = r.Input
	}
	t.env = append(t.env, r.Env...)
	if t.keepRuns {
		t.kept = append(t.kept, r)
	}
	return r, nil
}

func (t *Reader) decodeRun(d *dec) *Run {
	r := &Run{}
	flags := d.byte1()
	r.flags = flags
	if flags&^runFlagsMask != 0 {
		d.fail("run flags %#x", flags)
		return r
	}
	r.NotRun, r.WantCtxOut = flags&runNotRun != 0, flags&runWantCtxOut != 0
	if r.Input.Data = d.bytes(); len(r.Input.Data) == 0 {
		r.Input.Data = nil
	}
	if flags&runCtxSame == 0 {
		t.prevCtx = d.bytes()
	}
	if len(t.prevCtx) > 0 {
		r.Input.Ctx = t.prevCtx
	}
	n := d.n((len(d.b) - d.off) / 3) // kind, value and length: 3 bytes at least
	if n > 0 {
		r.Env = make([]helpers.EnvValue, 0, n)
	}
	for range n {
		v := helpers.EnvValue{Kind: helpers.EnvKind(d.byte1()), Value: d.u(), Data: d.bytes()}
		if len(v.Data) == 0 {
			v.Data = nil
		}
		r.Env = append(r.Env, v)
	}
	r.Retval, r.Insns = d.u(), d.u()
	if flags&runErr != 0 {
		r.Err = recordedError(d.str())
	}
	if raw := d.raw(4); raw != nil {
		r.State = binary.LittleEndian.Uint32(raw)
	}
	if flags&runPCs != 0 {
		progs := len(t.progs) + 1
		spans := d.n((len(d.b) - d.off) / 2) // program and count: 2 bytes at least
		r.PCs = make([]PCSpan, 0, spans)
		for range spans {
			var s PCSpan
			switch ix := d.n(progs); {
			case ix == 0:
				s.Prog = t.prog.Name
			case ix < progs:
				s.Prog = t.progs[ix-1].Name
			default:
				s.Prog = d.str()
			}
			k := d.n(len(d.b) - d.off) // a byte per pc at least
			s.PCs = make([]uint32, 0, k)
			prev := int64(-1)
			for range k {
				pc := prev + 1 + d.i()
				if pc < 0 || pc > 1<<31 {
					d.fail("pc %d out of range", pc)
				}
				if d.err != nil {
					return r
				}
				s.PCs = append(s.PCs, uint32(pc))
				prev = pc
			}
			r.PCs = append(r.PCs, s)
		}
	}
	return r
}

// Runner runs the runs of a version 3 file again, in order, on one machine
// over maps rebuilt from the file, and checks each against the recording.
type Runner struct {
	c        *Capture
	refs     *refs
	env      *helpers.ReplayEnv
	hs       vm.HelperSet
	m        *vm.Machine
	tr       *testrun.Runner
	n        int
	pcs      pcChecker
	scratch  []byte
	lens     [8]byte
	overran  bool   // the run went past its recorded length
	producer string // of the file, for divergences
}

// stopper aborts a run at its next instruction.
type stopper struct{}

func (stopper) BeforeStep(*hooks.Step) hooks.Action { return hooks.Abort }
func (stopper) AfterStep(*hooks.Step) hooks.Action  { return hooks.Abort }

// stateResetter is what helper sets that keep per-run state have
// (helpers.Set); the command resets it before each run.
type stateResetter interface{ ResetState(*vm.Machine) }

// NewRunner builds a Runner from what NewReader read (the program, the
// programs and the maps' initial contents), with opts.Helpers over an
// environment that answers from each run's recorded values.
func (t *Reader) NewRunner(opts *Options) (*Runner, error) {
	var limit uint64
	if opts != nil {
		limit = opts.MaxMapMemory
	}
	c, err := t.CaptureLimit(limit)
	if err != nil {
		return nil, err
	}
	p, err := newRunner(c, opts)
	if p != nil {
		p.producer = t.producer
	}
	return p, err
}

func newRunner(c *Capture, opts *Options) (*Runner, error) {
	mk := defaultHelpers
	var maxInsns uint64
	if opts != nil {
		if opts.Helpers != nil {
			mk = opts.Helpers
		}
		maxInsns = opts.MaxInsns
	}
	p := &Runner{c: c, env: helpers.Replay(nil)}
	p.hs = mk(p.env)
	vmaps := make([]vm.Map, len(c.Maps))
	for i, mp := range c.Maps {
		vmaps[i] = mp
	}
	var err error
	if p.m, err = vm.New(c.Prog, vm.Config{Helpers: p.hs, Maps: vmaps, MaxInsns: maxInsns}); err != nil {
		return nil, fmt.Errorf("tracefile: rebuilding the machine: %w", err)
	}
	if p.refs, err = collectRefs(c); err != nil {
		return nil, err
	}
	if c.Type != ebpf.UnspecifiedProgram {
		p.tr = testrun.NewRunner(p.m, c.Type)
	}
	return p, nil
}

func defaultHelpers(e helpers.Env) vm.HelperSet { return helpers.New(e) }

// Machine returns the machine the runs run on.
func (p *Runner) Machine() *vm.Machine { return p.m }

// Capture returns the capture the runs run over: its maps hold the state
// the runs so far left.
func (p *Runner) Capture() *Capture { return p.c }

// Outcome is what a run did when run again.
type Outcome struct {
	R0    uint64
	Insns uint64
	Err   error // the run's own error (a fault, a refused input)
}

// Run runs r again with hook attached (nil: untraced, at full speed) and
// checks it against the recording: the environment's answers all used
// in order, the result, instruction count, error, state checksum and, if
// stored, the executed pcs. A difference is a *Divergence naming the run.
func (p *Runner) Run(r *Run, hook any) (*Outcome, error) {
	if p.n++; r.N > 0 {
		p.n = r.N
	}
	if r.NotRun {
		return &Outcome{Err: r.Err}, nil
	}
	p.env.Feed(r.Env)
	if rs, ok := p.hs.(stateResetter); ok {
		rs.ResetState(p.m)
	}
	h := hook
	checkPCs := r.flags&runPCs != 0
	if checkPCs {
		p.pcs.start(r.PCs)
		h = hooks.Multi(hook, &p.pcs)
	}
	if h != nil {
		if err := p.m.Attach(h); err != nil {
			return nil, err
		}
		defer p.m.Attach(nil)
	}
	// A run going past its recorded length has diverged: stop it there
	// rather than let a damaged or hostile file run (and trace) for long.
	p.m.SetAlarm(r.Insns+1, func() {
		p.overran = true
		p.m.Attach(hooks.Multi(h, stopper{}))
	})
	p.overran = false
	defer p.m.SetAlarm(0, nil)
	var o Outcome
	var out ctx.Output
	if p.tr == nil { // raw memory convention
		p.c.Input = r.Input
		args, err := p.c.Start(p.m)
		if err != nil {
			return nil, err
		}
		o.R0, o.Err = p.m.Run(context.Background(), args...)
		o.Insns, out = p.m.Insns(), ctx.Output{Data: p.c.mem}
	} else {
		res, err := p.tr.RunShared(testrun.Options{Data: r.Input.Data, Ctx: r.Input.Ctx, WantCtxOut: r.WantCtxOut, NoDuration: true})
		o.Err = err
		if res != nil {
			o.R0, o.Insns, out = uint64(res.Retval), res.Insns, ctx.Output{Data: res.DataOut, Ctx: res.CtxOut}
		}
	}
	if err := p.check(r, &o, out, checkPCs); err != nil {
		return &o, err
	}
	return &o, nil
}

// check compares a run's outcome with its record.
func (p *Runner) check(r *Run, o *Outcome, out ctx.Output, checkPCs bool) error {
	div := func(format string, args ...any) error {
		return &Divergence{Run: p.n, Index: -1, PC: -1, What: fmt.Sprintf(format, args...), RecordedBy: p.producer}
	}
	if p.overran {
		return div("the run goes on past the %d instructions recorded", r.Insns)
	}
	if err := p.env.Err(); err != nil {
		return div("%v", err)
	}
	if n := p.env.Remaining(); n > 0 {
		return div("%d recorded environment values were not used", n)
	}
	if got, want := errOrEmpty(o.Err), errOrEmpty(r.Err); got != want {
		return div("error: recorded %q, replayed %q", want, got)
	}
	if checkPCs && p.pcs.div != nil {
		d := *p.pcs.div
		d.Run, d.RecordedBy = p.n, p.producer
		return &d
	}
	if o.Insns != r.Insns {
		return div("instructions: recorded %d, replayed %d", r.Insns, o.Insns)
	}
	// test_run reports a u32; a raw-memory run the whole of r0. A failed
	// run's r0 is not a result.
	got, want := o.R0, r.Retval
	if p.tr != nil {
		got, want = uint64(uint32(got)), uint64(uint32(want))
	}
	if r.Err == nil && got != want {
		return div("result: recorded %#x, replayed %#x", want, got)
	}
	var sum uint32
	if r.flags&runNoOutputs == 0 {
		sum = outputSum(&p.lens, out.Data, out.Ctx)
	}
	if r.flags&runMaps != 0 {
		mb, err := encodeMaps(p.scratch[:0], p.refs)
		if err != nil {
			return err
		}
		p.scratch = mb
		sum = crc32.Update(sum, castagnoli, mb)
	}
	if sum != r.State {
		what := "data_out or ctx_out"
		if r.flags&runMaps != 0 {
			what = "data_out, ctx_out or the maps"
		}
		return div("state checksum: recorded %08x, replayed %08x (%s differ)", r.State, sum, what)
	}
	return nil
}

// Finish checks the maps after the last run against the checksum the
// file ends with (read once NextRun returned io.EOF).
func (p *Runner) Finish(t *Reader) error {
	mb, err := encodeMaps(p.scratch[:0], p.refs)
	if err != nil {
		return err
	}
	p.scratch = mb
	if sum := crc32.Checksum(mb, castagnoli); sum != t.mapsSum {
		return &Divergence{Run: p.n, Index: -1, PC: -1, RecordedBy: p.producer,
			What: fmt.Sprintf("the maps after the last run differ from the recording (checksum recorded %08x, replayed %08x)", t.mapsSum, sum)}
	}
	return nil
}

// pcChecker compares the executed pcs with the recorded spans.
type pcChecker struct {
	want  []PCSpan
	span  int
	off   int
	count int
	div   *Divergence
}

func (c *pcChecker) start(spans []PCSpan) {
	c.want, c.span, c.off, c.count, c.div = spans, 0, 0, 0, nil
}

// PCs implements hooks.PCHook.
func (c *pcChecker) PCs(b *hooks.PCBatch) {
	for _, pc := range b.PC {
		if c.div != nil {
			return
		}
		for c.span < len(c.want) && c.off == len(c.want[c.span].PCs) {
			c.span, c.off = c.span+1, 0
		}
		switch {
		case c.span == len(c.want):
			c.div = &Divergence{Index: c.count, PC: int(pc), What: fmt.Sprintf("instruction %d at pc %d of %s: the recording ended before it", c.count, pc, b.Prog)}
		case c.want[c.span].Prog != b.Prog || c.want[c.span].PCs[c.off] != pc:
			w := c.want[c.span]
			c.div = &Divergence{Index: c.count, PC: int(pc), What: fmt.Sprintf("instruction %d: recorded pc %d of %s, replayed pc %d of %s", c.count, w.PCs[c.off], w.Prog, pc, b.Prog)}
		}
		c.off++
		c.count++
	}
}

// deriver produces the events of a version 3 file for Next: it runs each
// run again with a hook that keeps copies of its events.
type deriver struct {
	run     *Runner
	recs    []hooks.Record
	wheres  []string // per record: the region and name of accesses, taken as they happened
	names   []string
	n, next int
	held    int64
	limit   int64
	done    bool
}

func (t *Reader) nextDerived() (*hooks.Record, error) {
	if t.derive == nil {
		p, err := t.NewRunner(t.opts)
		if err != nil {
			return nil, err
		}
		t.derive = &deriver{run: p}
	}
	d := t.derive
	for d.next == d.n {
		if d.done {
			return nil, io.EOF
		}
		r, err := t.NextRun()
		if err == io.EOF {
			d.done = true
			if err := d.run.Finish(t); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		d.n, d.next, d.held = 0, 0, 0
		d.limit = t.eventLimit
		if d.limit <= 0 {
			d.limit = DefaultMaxEventMemory
		}
		_, err = d.run.Run(r, d)
		if d.held > d.limit { // the run was stopped there
			return nil, &LimitError{Limit: "event memory", Max: d.limit, Need: d.held,
				Hint: "deliver the events to a hook with Dump instead, which holds none"}
		}
		if err != nil {
			return nil, err
		}
	}
	i := d.next
	d.next++
	rec := &t.rec
	d.recs[i].CopyTo(rec)
	switch rec.Kind {
	case hooks.KindBefore, hooks.KindAfter:
		rec.Step.M = t
		t.curProg = rec.Step.Prog
	case hooks.KindAccess:
		rec.Access.M = t
		t.where, t.name = d.wheres[i], d.names[i]
	case hooks.KindCall:
		if rec.Call.Kind == hooks.TailCall {
			t.curProg = rec.Call.Prog
		}
	case hooks.KindHelper:
		t.names[rec.Helper.ID] = rec.Helper.Name
	case hooks.KindEnter:
		t.curProg = rec.Run.Prog
	}
	t.index++
	return rec, nil
}

// add returns the next record slot of the run.
func (d *deriver) add() *hooks.Record {
	if d.n == len(d.recs) {
		d.recs = append(d.recs, hooks.Record{})
		d.wheres, d.names = append(d.wheres, ""), append(d.names, "")
	}
	d.n++
	d.wheres[d.n-1], d.names[d.n-1] = "", ""
	return &d.recs[d.n-1]
}

func (d *deriver) keep(r *hooks.Record) hooks.Action {
	if d.held += eventCost(r); d.held > d.limit {
		return hooks.Abort
	}
	return hooks.Continue
}

func (d *deriver) BeforeStep(ev *hooks.Step) hooks.Action {
	r := d.add()
	r.SetStep(ev, false)
	return d.keep(r)
}

func (d *deriver) AfterStep(ev *hooks.Step) hooks.Action {
	r := d.add()
	r.SetStep(ev, true)
	return d.keep(r)
}

func (d *deriver) Access(ev *hooks.Access) hooks.Action {
	r := d.add()
	r.SetAccess(ev)
	if ev.M != nil {
		d.wheres[d.n-1] = ev.Where()
		if n, ok := ev.M.(hooks.Namer); ok {
			d.names[d.n-1] = n.Name(ev.Addr, ev.Size)
		}
	}
	return d.keep(r)
}

func (d *deriver) Helper(ev *hooks.HelperCall) hooks.Action {
	r := d.add()
	r.SetHelper(ev)
	return d.keep(r)
}

func (d *deriver) Call(ev *hooks.CallEvent) hooks.Action {
	r := d.add()
	r.SetCall(ev)
	return d.keep(r)
}

func (d *deriver) MapOp(ev *hooks.MapOp) hooks.Action {
	r := d.add()
	r.SetMapOp(ev)
	return d.keep(r)
}

func (d *deriver) Output(ev *hooks.Output) {
	r := d.add()
	r.SetOutput(ev)
	d.keep(r)
}
func (d *deriver) Enter(ev *hooks.Run) { d.add().SetRun(ev, false) }
func (d *deriver) Exit(ev *hooks.Run)  { d.add().SetRun(ev, true) }

// Select returns the file holding run n of a version 3 file alone: the
// runs before it are run again (and checked), and the maps as they left
// them become the new file's initial contents. The debugger and 'diff'
// take one run this way.
func Select(r io.Reader, n int, opts *Options) ([]byte, error) {
	t, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	if t.version < 3 {
		if n == 1 {
			return nil, errNotRuns
		}
		return nil, fmt.Errorf("tracefile: a version %d file holds one run, not run %d", t.version, n)
	}
	if n < 1 {
		return nil, fmt.Errorf("tracefile: run %d: runs count from 1", n)
	}
	p, err := t.NewRunner(opts)
	if err != nil {
		return nil, err
	}
	for {
		run, err := t.NextRun()
		if err == io.EOF {
			return nil, fmt.Errorf("tracefile: run %d: the file holds %d run(s)", n, t.runN)
		}
		if err != nil {
			return nil, err
		}
		if run.N < n {
			if _, err := p.Run(run, nil); err != nil {
				return nil, err
			}
			continue
		}
		var buf bytesBuffer
		c := *p.c
		c.Input = run.Input
		w, err := newWriter(&buf, &c, nil, t.producer)
		if err != nil {
			return nil, err
		}
		if err := w.copyRun(run); err != nil {
			return nil, err
		}
		// The maps checksum at the end: of the state run n leaves.
		if _, err := p.Run(run, nil); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.b, nil
	}
}

// errNotRuns says a file predates runs: it is its own only run.
var errNotRuns = errors.New("tracefile: a version 1 or 2 file is one run")

// IsSingleRun reports whether err is Select's answer for run 1 of a
// version 1 or 2 file: the file itself is that run.
func IsSingleRun(err error) bool { return errors.Is(err, errNotRuns) }

type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
