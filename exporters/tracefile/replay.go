package tracefile

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
)

// Options tune Replay.
type Options struct {
	// Helpers builds the helper set over the replayed environment
	// (default helpers.New). A run recorded with other helpers needs the
	// same ones again.
	Helpers func(helpers.Env) vm.HelperSet
	// Hook, if not nil, sees the replayed events too.
	Hook any
	// MaxInsns bounds each re-executed run (vm.Config.MaxInsns; 0: the
	// default). A run of a version 3 file is also stopped, as diverging,
	// once it runs past the instruction count recorded for it.
	MaxInsns uint64
	// MaxMapMemory is the maps' budget of a version 3 file's re-execution
	// (Reader.CaptureLimit; 0: maps.DefaultMemoryLimit).
	MaxMapMemory uint64
}

// Result is the outcome of a faithful replay.
type Result struct {
	Events int    // events compared (versions 1 and 2, and Trace.Replay)
	Runs   int    // runs replayed
	Insns  uint64 // instructions executed, over all runs
	R0     uint64 // the (last) run's result
	Err    error  // the (last) run's error, as recorded and replayed
}

// Divergence is the first difference between a recorded and a replayed
// event stream.
type Divergence struct {
	Run      int           // of the run in a version 3 file (from 1), 0 for versions 1 and 2
	Index    int           // of the event in the stream (in a version 3 file: of the event or instruction in the run, -1 if the run's results differ)
	PC       int           // of the instruction, -1 for run entry and exit
	Recorded *hooks.Record // nil if the recording ended first
	Replayed *hooks.Record // nil if the replay ended first
	What     string        // what differs
	// RecordedBy names the bpfscope that wrote a version 3 file
	// (Reader.Producer): when it is not this one (Producer()), a change
	// of bpfscope may explain the divergence.
	RecordedBy string
}

func (d *Divergence) Error() string {
	switch {
	case d.Run == 0:
		return fmt.Sprintf("replay diverges at event %d (pc %d): %s", d.Index, d.PC, d.What)
	case d.Index < 0:
		return fmt.Sprintf("replay diverges in run %d: %s%s", d.Run, d.What, d.origin())
	}
	return fmt.Sprintf("replay diverges in run %d at event %d (pc %d): %s%s", d.Run, d.Index, d.PC, d.What, d.origin())
}

// origin says where a version 3 file came from when that may explain a
// divergence.
func (d *Divergence) origin() string {
	if d.RecordedBy != "" && d.RecordedBy != Producer() {
		return fmt.Sprintf(" (recorded by %s, replayed by %s)", d.RecordedBy, Producer())
	}
	return " (another helper set, or a damaged file?)"
}

// Replay re-executes a trace file from what it holds alone — program, map
// contents, inputs and environment — and checks it against the recording.
// A version 3 file is replayed run by run, in constant memory: each run's
// result, instruction count, error, state checksum and (when stored)
// executed pcs, and the maps after the last run. A version 1 or 2 file
// has every event compared. It returns a *Divergence error at the first
// difference.
func Replay(r io.Reader, opts *Options) (*Result, error) {
	tr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	if tr.version < 3 {
		t, err := readAll(tr, DefaultMaxEventMemory)
		if err != nil {
			return nil, err
		}
		return t.Replay(opts)
	}
	p, err := tr.NewRunner(opts)
	if err != nil {
		return nil, err
	}
	var hook any
	if opts != nil {
		hook = opts.Hook
	}
	res := &Result{}
	for {
		run, err := tr.NextRun()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		o, err := p.Run(run, hook)
		if err != nil {
			return nil, err
		}
		res.Runs++
		res.Insns += o.Insns
		res.R0, res.Err = o.R0, o.Err
	}
	if err := p.Finish(tr); err != nil {
		return nil, err
	}
	return res, nil
}

// Replay re-executes the trace and compares every event with those the
// Trace holds; see the function Replay. For a version 3 file this checks
// that running the file again gives the same events twice, and the
// recorded results and checksums.
func (t *Trace) Replay(opts *Options) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	if t.Runs != nil {
		return t.replayRuns(opts)
	}
	mk := opts.Helpers
	if mk == nil {
		mk = func(e helpers.Env) vm.HelperSet { return helpers.New(e) }
	}
	env := helpers.Replay(t.Env)
	m, args, err := t.Capture.Machine(mk(env))
	if err != nil {
		return nil, fmt.Errorf("tracefile: rebuilding the run: %w", err)
	}
	cmp := &comparer{want: t.Events, env: env}
	m.Attach(hooks.Multi(cmp, opts.Hook))
	r0, runErr := m.Run(context.Background(), args...)
	if cmp.div != nil {
		return nil, cmp.div
	}
	if cmp.n < len(t.Events) {
		w := t.Events[cmp.n]
		return nil, &Divergence{Index: cmp.n, PC: w.PC(), Recorded: w, What: "the replay ended early (" + errText(runErr) + ")"}
	}
	if err := env.Err(); err != nil {
		return nil, &Divergence{Index: cmp.n, PC: -1, What: err.Error()}
	}
	if n := env.Remaining(); n > 0 {
		return nil, &Divergence{Index: cmp.n, PC: -1, What: fmt.Sprintf("%d recorded environment values were not used", n)}
	}
	return &Result{Events: cmp.n, Runs: 1, Insns: m.Insns(), R0: r0, Err: runErr}, nil
}

// replayRuns is Trace.Replay for a version 3 file.
func (t *Trace) replayRuns(opts *Options) (*Result, error) {
	p, err := newRunner(t.Capture, opts)
	if err != nil {
		return nil, err
	}
	cmp := &comparer{want: t.Events, env: p.env}
	h := hooks.Multi(cmp, opts.Hook)
	res := &Result{}
	for _, run := range t.Runs {
		o, err := p.Run(run, h)
		if cmp.div != nil {
			cmp.div.Run = run.N
			return nil, cmp.div
		}
		if err != nil {
			return nil, err
		}
		res.Runs++
		res.Insns += o.Insns
		res.R0, res.Err = o.R0, o.Err
	}
	if cmp.n < len(t.Events) {
		w := t.Events[cmp.n]
		return nil, &Divergence{Run: res.Runs, Index: cmp.n, PC: w.PC(), Recorded: w, What: "the replay ended early"}
	}
	if t.end != nil {
		if err := p.Finish(t.end); err != nil {
			return nil, err
		}
	}
	res.Events = cmp.n
	return res, nil
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// comparer checks each replayed event against the recording and aborts
// the run at the first difference.
type comparer struct {
	want []*hooks.Record
	env  *helpers.ReplayEnv
	n    int
	got  hooks.Record
	div  *Divergence
}

func (c *comparer) check(where string) hooks.Action {
	if c.div != nil {
		return hooks.Abort
	}
	i := c.n
	c.n++
	if i >= len(c.want) {
		c.div = &Divergence{Index: i, PC: c.got.PC(), Replayed: c.got.Clone(), What: "the recording ended here"}
		return hooks.Abort
	}
	w := c.want[i]
	what := diff(w, &c.got, where)
	if c.got.Kind == hooks.KindHelper && c.env.Err() != nil {
		// The cause beats its symptom (a different result).
		what = c.env.Err().Error()
	}
	if what != "" {
		c.div = &Divergence{Index: i, PC: w.PC(), Recorded: w, Replayed: c.got.Clone(), What: what}
		return hooks.Abort
	}
	return hooks.Continue
}

func (c *comparer) BeforeStep(ev *hooks.Step) hooks.Action {
	c.got.SetStep(ev, false)
	return c.check("")
}

func (c *comparer) AfterStep(ev *hooks.Step) hooks.Action {
	c.got.SetStep(ev, true)
	return c.check("")
}

func (c *comparer) Access(ev *hooks.Access) hooks.Action {
	c.got.SetAccess(ev)
	return c.check(ev.Where())
}

func (c *comparer) Helper(ev *hooks.HelperCall) hooks.Action { c.got.SetHelper(ev); return c.check("") }
func (c *comparer) Call(ev *hooks.CallEvent) hooks.Action    { c.got.SetCall(ev); return c.check("") }
func (c *comparer) MapOp(ev *hooks.MapOp) hooks.Action       { c.got.SetMapOp(ev); return c.check("") }
func (c *comparer) Output(ev *hooks.Output)                  { c.got.SetOutput(ev); c.check("") }
func (c *comparer) Enter(ev *hooks.Run)                      { c.got.SetRun(ev, false); c.check("") }
func (c *comparer) Exit(ev *hooks.Run) {
	if c.div == nil {
		c.got.SetRun(ev, true)
		c.check("")
	}
}

// diff describes how the replayed event b differs from the recorded a;
// where is b's region name for accesses.
func diff(a, b *hooks.Record, where string) string {
	if a.Kind != b.Kind {
		return fmt.Sprintf("recorded a %s event, replayed a %s event", a.Kind, b.Kind)
	}
	var d differ
	switch a.Kind {
	case hooks.KindBefore, hooks.KindAfter:
		x, y := &a.Step, &b.Step
		d.int("pc", x.PC, y.PC)
		d.u64("instruction", rawWord(x), rawWord(y))
		d.u64("imm64", x.Imm64, y.Imm64)
		d.int("depth", x.Depth, y.Depth)
		d.u64("count", x.Count, y.Count)
		d.str("program", x.Prog, y.Prog)
		if a.Kind == hooks.KindAfter {
			d.u64("changed registers", uint64(x.Changed), uint64(y.Changed))
		}
		for r := range a.Regs {
			d.u64(fmt.Sprintf("r%d", r), a.Regs[r], b.Regs[r])
		}
	case hooks.KindAccess:
		x, y := &a.Access, &b.Access
		d.int("pc", x.PC, y.PC)
		d.str("access kind", x.Kind.String(), y.Kind.String())
		d.u64("address", x.Addr, y.Addr)
		d.int("size", x.Size, y.Size)
		d.u64("value", x.Value, y.Value)
		if x.Kind != hooks.Load { // loads leave Old unspecified
			d.u64("old value", x.Old, y.Old)
		}
		d.int("helper", int(x.Helper), int(y.Helper))
		d.bytes("bytes", x.Bytes, y.Bytes)
		if x.M != nil {
			d.str("region", x.Where(), where)
		}
	case hooks.KindHelper:
		x, y := &a.Helper, &b.Helper
		d.int("pc", x.PC, y.PC)
		d.int("helper id", int(x.ID), int(y.ID))
		d.str("helper name", x.Name, y.Name)
		for i := range x.Args {
			d.u64(fmt.Sprintf("argument r%d", i+1), x.Args[i], y.Args[i])
		}
		d.u64("result", x.Ret, y.Ret)
		d.int("depth", x.Depth, y.Depth)
		d.str("error", errOrEmpty(x.Err), errOrEmpty(y.Err))
	case hooks.KindCall:
		x, y := &a.Call, &b.Call
		d.str("call kind", x.Kind.String(), y.Kind.String())
		d.int("pc", x.PC, y.PC)
		d.int("target", x.Target, y.Target)
		d.str("function", x.Func, y.Func)
		d.int("depth", x.Depth, y.Depth)
		d.u64("r0", x.R0, y.R0)
		d.str("program", x.Prog, y.Prog)
	case hooks.KindMapOp:
		x, y := &a.MapOp, &b.MapOp
		d.int("pc", x.PC, y.PC)
		d.str("map", x.Map, y.Map)
		d.str("operation", x.Op.String(), y.Op.String())
		d.bytes("key", x.Key, y.Key)
		d.bytes("value", x.Value, y.Value)
		d.u64("flags", x.Flags, y.Flags)
		d.str("hit", fmt.Sprint(x.Hit), fmt.Sprint(y.Hit))
		d.int("errno", int(x.Errno), int(y.Errno))
	case hooks.KindOutput:
		x, y := &a.Output, &b.Output
		d.int("pc", x.PC, y.PC)
		d.str("output kind", x.Kind, y.Kind)
		d.str("map", x.Map, y.Map)
		d.bytes("data", x.Data, y.Data)
	case hooks.KindEnter, hooks.KindExit:
		x, y := &a.Run, &b.Run
		d.str("program", x.Prog, y.Prog)
		for i := range x.Args {
			d.u64(fmt.Sprintf("r%d", i+1), x.Args[i], y.Args[i])
		}
		d.u64("result", x.R0, y.R0)
		d.u64("instructions", x.Insns, y.Insns)
		d.str("error", errOrEmpty(x.Err), errOrEmpty(y.Err))
	}
	return d.what
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func rawWord(s *hooks.Step) uint64 {
	i := s.Insn
	return uint64(i.Op) | uint64(i.Dst)<<8 | uint64(i.Src)<<12 | uint64(uint16(i.Off))<<16 | uint64(uint32(i.Imm))<<32
}

// differ keeps the first difference found.
type differ struct{ what string }

func (d *differ) set(field, a, b string) {
	if d.what == "" {
		d.what = fmt.Sprintf("%s: recorded %s, replayed %s", field, a, b)
	}
}

func (d *differ) u64(field string, a, b uint64) {
	if a != b {
		d.set(field, fmt.Sprintf("%#x", a), fmt.Sprintf("%#x", b))
	}
}

func (d *differ) int(field string, a, b int) {
	if a != b {
		d.set(field, fmt.Sprint(a), fmt.Sprint(b))
	}
}

func (d *differ) str(field, a, b string) {
	if a != b {
		d.set(field, fmt.Sprintf("%q", a), fmt.Sprintf("%q", b))
	}
}

func (d *differ) bytes(field string, a, b []byte) {
	if !bytes.Equal(a, b) {
		d.set(field, fmt.Sprintf("%x", a), fmt.Sprintf("%x", b))
	}
}
