package debug

import (
	"errors"
	"fmt"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
)

// goal is what the run goroutine runs towards.
type goal struct {
	kind  goalKind
	count uint64 // goalCount: stop before the instruction with this count
	// goalLine: the frame and line stepped from; goalFinish: depth.
	over       bool
	depth      int
	prog, file string
	line       int
	from       uint64
}

type goalKind uint8

const (
	goalCount    goalKind = iota // a position (re-execution, stepi)
	goalContinue                 // breakpoints and watchpoints only
	goalLine                     // step / next
	goalFinish                   // out of the current function
	goalRecord                   // stop at count, recording positions from from on
	goalScan                     // stop at count, recording where breakpoints and watchpoints would stop
)

// position is one executed instruction, as a reverse step needs it.
type position struct {
	count uint64
	prog  string
	pc    int
	depth int
}

// errOvershot says an alarm rang past the position a re-execution wanted.
var errOvershot = errors.New("debug: re-execution passed its position")

// execution is one run of the target on its own goroutine. The session
// and the goroutine take turns: the session sends a goal and waits for
// the next event; the run's hook sends the event and waits for a goal.
// State is handed over with each message, so nothing is shared at once.
type execution struct {
	inst     *Instance
	tr       *tracer
	goals    chan goal
	events   chan event
	finished chan struct{}
	done     bool // the run ended (an exit event was received)
}

type event struct {
	stop *Stop
	err  error
}

func newExecution(s *Session, inst *Instance) *execution {
	ex := &execution{inst: inst, goals: make(chan goal), events: make(chan event), finished: make(chan struct{})}
	ex.tr = &tracer{s: s, ex: ex, m: inst.Machine}
	return ex
}

// start runs the goroutine towards g, untraced for the first at
// instructions when at > 0.
func (ex *execution) start(s *Session, g goal, at uint64) (*Stop, error) {
	t := ex.tr
	t.g = g
	m := ex.inst.Machine
	if at > 0 {
		m.Attach(fastHook{t})
		t.alarmed = true
		m.SetAlarm(at, func() { m.Attach(fullHook{t}); t.alarmed = true })
		t.alarmed = false
	} else {
		m.Attach(fullHook{t})
	}
	go ex.run()
	return ex.wait()
}

func (ex *execution) run() {
	defer close(ex.finished)
	in := ex.inst
	if in.Helpers != nil {
		in.Helpers.ResetState(in.Machine)
	}
	var res *testrun.Result
	var err error
	if in.Run != nil {
		var r0 uint64
		r0, err = in.Run(in.Machine)
		res = &testrun.Result{Retval: uint32(r0)}
	} else {
		res, err = testrun.Run(in.Machine, in.Type, in.Input)
	}
	in.Machine.Attach(nil)
	if ex.tr.aborted {
		return
	}
	x := &Exit{Err: err, Insns: in.Machine.Insns()}
	if res != nil {
		x.Retval, x.DataOut = res.Retval, res.DataOut
	}
	x.R0 = in.Machine.Regs()[0]
	if in.Helpers != nil {
		x.Printk = in.Helpers.State(in.Machine).Printk
	}
	st := &Stop{Reason: ReasonExited, Count: x.Insns, Exit: x, PC: -1, Prog: ex.tr.prog}
	var re *vm.RunError
	if errors.As(err, &re) {
		st.PC, st.Prog = re.PC, re.Prog
	}
	ex.events <- event{stop: st}
}

func (ex *execution) wait() (*Stop, error) {
	ev := <-ex.events
	if ev.stop != nil && ev.stop.Reason == ReasonExited {
		ex.done = true
	}
	return ev.stop, ev.err
}

func (ex *execution) resume(s *Session, g goal) (*Stop, error) {
	if ex.done {
		return nil, ErrNotRunning
	}
	ex.goals <- g
	return ex.wait()
}

// abort ends the run: the waiting hook answers Abort.
func (ex *execution) abort() {
	if !ex.done {
		ex.tr.aborted = true
		close(ex.goals)
		<-ex.finished
	}
}

// FrameKind says how a frame was entered.
type FrameKind uint8

const (
	FrameEntry    FrameKind = iota // the program's entry
	FrameCall                      // a BPF-to-BPF call
	FrameCallback                  // a callback a helper called (bpf_loop, for_each_map_elem)
	FrameTailCall                  // a program a tail call started
)

func (k FrameKind) String() string {
	return [...]string{"entry", "call", "callback", "tail call"}[k]
}

// tracer is the session's hook in the run goroutine.
type tracer struct {
	s  *Session
	ex *execution
	m  *vm.Machine
	g  goal

	pending *Stop // decided after an instruction: reported before the next
	// recent holds the positions traced since recentFrom (the last
	// recentSize of them), so a reverse step finds the line before
	// without re-executing twice.
	recent     [recentSize]position
	recentFrom uint64
	recentOn   bool
	// What goalRecord and goalScan collect.
	trail     []position
	hits      []*Stop
	refreshed bool
	prog      string
	pc        int
	count     uint64
	depth     int
	alarmed   bool // the first traced step after an alarm is next
	aborted   bool
	fast      bool
}

// recentTrail returns the remembered positions before count (the
// current one), oldest first, and whether they reach back to the start.
func (t *tracer) recentTrail(count uint64) ([]position, bool) {
	if !t.recentOn || count < t.recentFrom {
		return nil, false
	}
	from := t.recentFrom
	if count > recentSize && count-recentSize+1 > from {
		from = count - recentSize + 1
	}
	out := make([]position, 0, count-from)
	for c := from; c < count; c++ {
		out = append(out, t.recent[c%recentSize])
	}
	return out, from == 0
}

// fullHook is the traced hook; fastHook sees only the run's bounds, so
// the machine runs its plain loop (the call stack is the machine's own:
// vm.Machine.CallStack).
type fullHook struct{ *tracer }
type fastHook struct{ *tracer }

func (h fastHook) Enter(*hooks.Run) {}
func (h fastHook) Exit(*hooks.Run)  {}

func (h fullHook) Call(ev *hooks.CallEvent) hooks.Action {
	if ev.Kind == hooks.TailCall && h.g.kind != goalCount {
		if b := h.s.tailCallBreak(); b != nil && h.pending == nil {
			b.Hits++
			if b.hitOK() {
				h.pending = &Stop{Reason: ReasonBreakpoint, Breakpoint: b}
			}
		}
	}
	return hooks.Continue
}
func (h fullHook) Enter(*hooks.Run)                     {}
func (h fullHook) Exit(*hooks.Run)                      {}
func (h fullHook) AfterStep(*hooks.Step) hooks.Action   { return hooks.Continue }
func (h fullHook) Access(ev *hooks.Access) hooks.Action { h.access(ev); return hooks.Continue }
func (h fullHook) BeforeStep(ev *hooks.Step) hooks.Action {
	return h.before(ev)
}

func isHelperCall(in isa.Insn) bool {
	return in.Op == isa.ClassJMP|isa.JmpCall && in.Src == 0
}

// recentSize is how many positions a traced run remembers.
const recentSize = 4096

func (t *tracer) before(ev *hooks.Step) hooks.Action {
	t.prog, t.pc, t.count, t.depth = ev.Prog, ev.PC, ev.Count, ev.Depth
	if !t.recentOn {
		t.recentFrom, t.recentOn = ev.Count, true
	}
	t.recent[ev.Count%recentSize] = position{ev.Count, ev.Prog, ev.PC, ev.Depth}
	st, err := t.check(ev)
	if err == nil && st == nil {
		return hooks.Continue
	}
	if st != nil {
		st.Count, st.Prog, st.PC, st.Depth = ev.Count, ev.Prog, ev.PC, ev.Depth
		st.Line = ev.M.Line(ev.PC)
	}
	t.ex.events <- event{stop: st, err: err}
	g, ok := <-t.ex.goals
	if !ok {
		return hooks.Abort
	}
	t.g = g
	if g.kind == goalContinue && !t.s.needTrace() {
		t.m.Attach(fastHook{t}) // nothing can stop the run: full speed to the end
		t.recentOn = false
	}
	return hooks.Continue
}

// check decides whether the run stops before the instruction of ev.
func (t *tracer) check(ev *hooks.Step) (*Stop, error) {
	g := &t.g
	switch g.kind {
	case goalRecord:
		if ev.Count >= g.from && ev.Count < g.count {
			t.trail = append(t.trail, position{ev.Count, ev.Prog, ev.PC, ev.Depth})
		}
	case goalScan:
		if !t.refreshed { // the watched values as the run starts
			t.s.refreshWatches()
			t.refreshed = true
		}
		if ev.Count < g.count {
			st := t.pending
			t.pending = nil
			if st == nil {
				if b, err := t.s.breakAt(t, ev); b != nil && err == nil {
					st = &Stop{Reason: ReasonBreakpoint, Breakpoint: b}
				}
			}
			if st != nil {
				st.Count, st.Prog, st.PC, st.Depth = ev.Count, ev.Prog, ev.PC, ev.Depth
				t.hits = append(t.hits, st)
			}
		}
	}
	if g.kind == goalCount || g.kind == goalRecord || g.kind == goalScan {
		first := t.alarmed
		t.alarmed = false
		switch {
		case ev.Count == g.count:
			if g.count == 0 {
				return &Stop{Reason: ReasonEntry}, nil
			}
			return &Stop{Reason: ReasonStep}, nil
		case ev.Count > g.count && first:
			return nil, errOvershot
		}
		return nil, nil
	}
	if st := t.pending; st != nil {
		t.pending = nil
		return st, nil
	}
	if b, err := t.s.breakAt(t, ev); b != nil || err != nil {
		st := &Stop{Reason: ReasonBreakpoint, Breakpoint: b}
		if err != nil {
			st.Note = fmt.Sprintf("breakpoint %d: condition %q: %v", b.ID, b.Cond, err)
		}
		return st, nil
	}
	switch g.kind {
	case goalFinish:
		if ev.Depth < g.depth {
			return &Stop{Reason: ReasonStep}, nil
		}
	case goalLine:
		if ev.Depth < g.depth {
			return &Stop{Reason: ReasonStep}, nil
		}
		if g.over && ev.Depth > g.depth {
			return nil, nil
		}
		l := ev.M.Line(ev.PC)
		if l == nil {
			if ev.Depth != g.depth || ev.Prog != g.prog {
				return &Stop{Reason: ReasonStep}, nil // no line info: stop where the frame changed
			}
			if g.line == 0 && ev.Count > g.from {
				return &Stop{Reason: ReasonStep}, nil // no line info at all: one instruction
			}
			return nil, nil
		}
		if ev.Depth != g.depth || ev.Prog != g.prog || l.File != g.file || l.Line != g.line {
			return &Stop{Reason: ReasonStep}, nil
		}
	}
	return nil, nil
}

// access reports an access to the watchpoints.
func (t *tracer) access(ev *hooks.Access) {
	if t.g.kind == goalCount || t.g.kind == goalRecord || t.pending != nil {
		return
	}
	if hit := t.s.watchHit(t, ev); hit != nil {
		t.pending = &Stop{Reason: ReasonWatchpoint, Watch: hit}
	}
}
