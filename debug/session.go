// Package debug is a debugger for eBPF programs run by bpfscope: a session
// runs a program on one input and stops where its user asks — at
// breakpoints (a pc, a source line, a function, a helper call, a tail call,
// the exit; with conditions and hit counts), at watchpoints (a packet byte
// range, a ctx field, a map value, a global, a stack slot or a local;
// helpers' writes count), after a step (a source line, an instruction, over
// calls, out of a function) — and goes backwards as well as forwards.
//
// The program runs on its own goroutine under a step hook; a stop is the
// hook waiting for the session's next command, so stops work anywhere,
// inside bpf_loop callbacks and after tail calls too. Runs are
// deterministic, so going backwards is going forwards again: a position is
// the number of instructions executed, and reaching an earlier position
// re-executes a fresh copy of the run from its start, untraced (at the
// interpreter's full speed) up to shortly before the position and traced
// from there (vm.Machine.SetAlarm). Nothing is recorded per instruction.
// A Continue with no breakpoint or watchpoint set detaches the step hook
// and runs untraced to the end.
//
// The package has no terminal code: debug/term is the gdb-like front end
// and debug/dap the Debug Adapter Protocol server.
package debug

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bpfscope/bpfscope/debuginfo"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// Instance is one fresh copy of everything a run touches: a machine bound
// to fresh maps, its helpers, and the input.
type Instance struct {
	Machine *vm.Machine
	Coll    *loader.Collection // maps and programs by name; nil for raw bytecode
	Helpers *helpers.Set       // for the run's printk output; may be nil
	Type    ebpf.ProgramType
	Input   testrun.Options // Data and Ctx
	// Run, if set, runs the machine instead of a BPF_PROG_TEST_RUN of
	// Input (a trace file's recorded run maps its own context).
	Run func(*vm.Machine) (uint64, error)
}

// Target is what a session debugs. New must build a fresh Instance each
// time it is called, identical to the last (same maps, same input, a new
// deterministic helpers.Env): going backwards re-executes on one.
type Target struct {
	Name string          // shown in messages: "xdp_firewall.o: xdp_firewall"
	Info *debuginfo.Info // the object's DWARF; nil or empty debugs at BTF-line level
	New  func() (*Instance, error)
	// SourceDirs are searched, by base name, for C sources whose recorded
	// path does not exist here.
	SourceDirs []string
}

// Reason says why a run stopped.
type Reason uint8

const (
	ReasonEntry      Reason = iota // before the first instruction
	ReasonStep                     // a step, next, finish or reverse movement ended
	ReasonBreakpoint               // a breakpoint hit
	ReasonWatchpoint               // a watched location was read or changed
	ReasonExited                   // the program returned or faulted
)

func (r Reason) String() string {
	return [...]string{"entry", "step", "breakpoint", "watchpoint", "exited"}[r]
}

// Stop describes where a run is paused (or how it ended).
type Stop struct {
	Reason Reason
	// Count is the position: instructions executed before the one at PC.
	Count uint64
	Prog  string
	PC    int
	Depth int
	Line  *isa.Line
	// Breakpoint is the breakpoint that hit (ReasonBreakpoint).
	Breakpoint *Breakpoint
	// Watch is what a watchpoint saw (ReasonWatchpoint).
	Watch *WatchHit
	// Exit is the end of the run (ReasonExited).
	Exit *Exit
	// Note explains a movement that went less far than asked: "no earlier
	// breakpoint hit: stopped at the start of the run".
	Note string
}

// Exit is how a run ended.
type Exit struct {
	R0      uint64
	Retval  uint32
	Err     error // a fault, with pc and address (vm.RunError)
	Insns   uint64
	DataOut []byte
	Printk  []string
}

// Session is one debugging session. It is not safe for concurrent use.
type Session struct {
	t     Target
	progs map[string]*debuginfo.Prog

	bps     []*Breakpoint
	watches []*Watchpoint
	nextID  int

	ex    *execution
	spare *Instance // an instance to look programs up in before a run
	stop  *Stop
	// total is the length of the run once known (an execution reached the
	// end), for reverse movements from the exit.
	total uint64
}

// ErrNotRunning is returned by movements when no run is in progress.
var ErrNotRunning = errors.New("the program is not being run")

// New opens a session on t; nothing runs until Start.
func New(t Target) (*Session, error) {
	if t.New == nil {
		return nil, errors.New("debug: target has no New")
	}
	if t.Info == nil {
		t.Info = &debuginfo.Info{}
	}
	return &Session{t: t, progs: map[string]*debuginfo.Prog{}}, nil
}

// Target returns the session's target.
func (s *Session) Target() Target { return s.t }

// Start begins a new run, stopped before its first instruction.
// Breakpoints' hit counts start again from zero.
func (s *Session) Start() (*Stop, error) {
	s.kill()
	for _, b := range s.bps {
		b.Hits = 0
	}
	s.total = 0
	return s.launch(goal{kind: goalCount, count: 0}, 0)
}

// Stopped returns the latest stop, nil before Start.
func (s *Session) Stopped() *Stop { return s.stop }

// Running reports whether a run is paused (not ended, not yet started).
func (s *Session) Running() bool {
	return s.ex != nil && !s.ex.done
}

// Close ends the session's run, if any.
func (s *Session) Close() { s.kill() }

func (s *Session) kill() {
	if s.ex != nil {
		s.ex.abort()
		s.ex = nil
	}
}

// Continue runs to the next breakpoint or watchpoint, or the end.
func (s *Session) Continue() (*Stop, error) {
	return s.move(goal{kind: goalContinue})
}

// StepInstruction executes one instruction (stepping into calls).
func (s *Session) StepInstruction() (*Stop, error) {
	st := s.stop
	if st == nil || !s.Running() {
		return nil, ErrNotRunning
	}
	return s.move(goal{kind: goalCount, count: st.Count + 1})
}

// Step runs to the first instruction of another source line, entering
// BPF-to-BPF calls and callbacks.
func (s *Session) Step() (*Stop, error) {
	return s.lineStep(false)
}

// Next runs to the first instruction of another source line of the same
// frame, stepping over calls and callbacks.
func (s *Session) Next() (*Stop, error) {
	return s.lineStep(true)
}

func (s *Session) lineStep(over bool) (*Stop, error) {
	st := s.stop
	if st == nil || !s.Running() {
		return nil, ErrNotRunning
	}
	g := goal{kind: goalLine, over: over, depth: st.Depth, prog: st.Prog, from: st.Count}
	g.file, g.line = lineKey(st.Line)
	return s.move(g)
}

// Finish runs until the current function returns to its caller (for the
// entry function: to the end of the run).
func (s *Session) Finish() (*Stop, error) {
	st := s.stop
	if st == nil || !s.Running() {
		return nil, ErrNotRunning
	}
	return s.move(goal{kind: goalFinish, depth: st.Depth})
}

// RunTo moves to position count (instructions executed), forwards or
// backwards.
func (s *Session) RunTo(count uint64) (*Stop, error) {
	if s.stop == nil {
		return nil, ErrNotRunning
	}
	if s.ex != nil && !s.ex.done && count == s.stop.Count {
		return s.stop, nil
	}
	if s.ex != nil && !s.ex.done && count > s.stop.Count {
		return s.move(goal{kind: goalCount, count: count})
	}
	return s.relaunch(count)
}

// move sends the current run on towards g.
func (s *Session) move(g goal) (*Stop, error) {
	if s.stop == nil || s.ex == nil || s.ex.done {
		return nil, ErrNotRunning
	}
	return s.record(s.ex.resume(s, g))
}

func (s *Session) record(st *Stop, err error) (*Stop, error) {
	if err != nil {
		return nil, err
	}
	s.stop = st
	if st.Reason == ReasonExited {
		s.total = st.Count
	}
	return st, nil
}

// launch starts a fresh execution towards g. Up to at instructions may
// run untraced first (0: traced from the start).
func (s *Session) launch(g goal, at uint64) (*Stop, error) {
	s.kill()
	inst, err := s.t.New()
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	s.ex = newExecution(s, inst)
	return s.record(s.ex.start(s, g, at))
}

// relaunch re-executes the run up to position count.
func (s *Session) relaunch(count uint64) (*Stop, error) {
	// Trace the last stretch before the position: enough for the alarm's
	// slack, and for the next reverse step to find its line in what the
	// tracer remembers.
	at := uint64(0)
	if back := max(s.slack(), recentSize/2); count > back {
		at = count - back
	}
	st, err := s.launch(goal{kind: goalCount, count: count}, at)
	if errors.Is(err, errOvershot) { // callbacks ran past the alarm: all traced
		st, err = s.launch(goal{kind: goalCount, count: count}, 0)
	}
	return st, err
}

// slack is how far past its count an alarm may ring: a straight run through
// the longest program of the target.
func (s *Session) slack() uint64 {
	n := 64
	if s.ex != nil && s.ex.inst.Coll != nil {
		for _, p := range s.ex.inst.Coll.Programs {
			n = max(n, p.Prog.Len())
		}
	} else if s.ex != nil {
		n = max(n, s.ex.inst.Machine.Program().Len())
	}
	return uint64(n) + 1
}

// debugProg returns the DWARF binding of a program of the current run.
func (s *Session) debugProg(name string) *debuginfo.Prog {
	if p, ok := s.progs[name]; ok {
		return p
	}
	p := s.program(name)
	if p == nil {
		return nil
	}
	dp := s.t.Info.Program(p)
	s.progs[name] = dp
	return dp
}

// program finds a program of the current run by name.
func (s *Session) program(name string) *vm.Program {
	if s.ex == nil {
		return nil
	}
	if s.ex.inst.Coll != nil {
		for _, p := range s.ex.inst.Coll.Programs {
			if p.Prog.Name == name || p.Name == name {
				return p.Prog
			}
		}
	}
	if p := s.ex.inst.Machine.Program(); p.Name == name {
		return p
	}
	return nil
}

// lineKey is what identifies a source line for stepping.
func lineKey(l *isa.Line) (string, int) {
	if l == nil {
		return "", 0
	}
	return l.File, l.Line
}

// Type returns the program type of the target's entry program.
func (s *Session) Type() ebpf.ProgramType {
	if inst := s.probe(); inst != nil {
		return inst.Type
	}
	return ebpf.UnspecifiedProgram
}

// Verdict names a return value the way the program type does.
func Verdict(typ ebpf.ProgramType, r uint32) string {
	var names []string
	switch typ {
	case ebpf.XDP:
		names = []string{"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"}
	case ebpf.SchedCLS, ebpf.SchedACT:
		if int32(r) == -1 {
			return "TC_ACT_UNSPEC (-1)"
		}
		names = []string{"TC_ACT_OK", "TC_ACT_RECLASSIFY", "TC_ACT_SHOT", "TC_ACT_PIPE", "TC_ACT_STOLEN",
			"TC_ACT_QUEUED", "TC_ACT_REPEAT", "TC_ACT_REDIRECT", "TC_ACT_TRAP"}
	}
	if int(r) < len(names) {
		return fmt.Sprintf("%s (%d)", names[r], r)
	}
	return strconv.FormatInt(int64(int32(r)), 10)
}

// SourcePath finds a C source file: in the target's source directories
// (by base name), else at its recorded path.
func (s *Session) SourcePath(file string) string {
	for _, d := range s.t.SourceDirs {
		p := filepath.Join(d, filepath.Base(file))
		if _, err := os.Stat(p); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
			return p
		}
	}
	return file
}
