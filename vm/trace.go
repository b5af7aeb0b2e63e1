package vm

import (
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
)

// How tracing works. A program has three code slices: the real one, a trap
// copy in which every slot is opTrap, and a recording copy in which every
// op carries the recorded mark. A run with no per-instruction hook
// interprets the real slice and never tests for hooks. A run with a step or
// access hook interprets the trap copy; each trap reports the previous
// instruction's outcome and the next instruction, then dispatches the real
// instruction. A run with only a PC hook interprets the recording copy,
// whose cases store the pc and fall through to the real ones: one store
// per instruction. Hooks that fire at rarer points (helper calls, calls,
// map operations, run entry and exit) are tested where those happen.

// hookSet holds the attached hook, once per interface it implements.
type hookSet struct {
	step   hooks.StepHook
	access hooks.AccessHook
	helper hooks.HelperHook
	call   hooks.CallHook
	run    hooks.RunHook
	mapOp  hooks.MapHook
	output hooks.OutputHook
	pcs    hooks.PCHook
	// batch: the hook is a hooks.BatchHook, which takes instructions and
	// their accesses from PC batches: its StepHook is not called and its
	// AccessHook sees the accesses of helpers only.
	batch  bool
	traced bool   // step hooks, or access hooks of instructions: run the trap code
	gen    uint32 // counts Attach calls, so a run sees hooks attached during it
}

// Attach installs h, replacing any hook attached before; h may implement any
// of the interfaces of package hooks (combine several with hooks.Multi).
// Attach(nil) detaches. During a run it may be called only from a hook or
// an alarm (see SetAlarm), on the run's goroutine: the run goes on under
// the new hooks from the next instruction (a debugger runs untraced to a
// point, then traced). A PC hook must not be attached or detached during
// a run.
//
// Attach refuses, with an error wrapping ErrNotAHook and leaving the hooks
// as they were, a value that would miss events it looks meant for: one
// that implements no hook interface (a T whose methods have *T receivers),
// or has a method named like a hook method with another signature
// (Access(hooks.Access)). A compile-time assertion catches both earlier:
//
//	var _ hooks.AccessHook = (*myHook)(nil)
func (m *Machine) Attach(h any) error {
	if h != nil {
		if err := checkHook(h); err != nil {
			return err
		}
	}
	s := hookSet{gen: m.hooks.gen + 1}
	s.step, _ = h.(hooks.StepHook)
	s.access, _ = h.(hooks.AccessHook)
	s.helper, _ = h.(hooks.HelperHook)
	s.call, _ = h.(hooks.CallHook)
	s.run, _ = h.(hooks.RunHook)
	s.mapOp, _ = h.(hooks.MapHook)
	s.output, _ = h.(hooks.OutputHook)
	s.pcs, _ = h.(hooks.PCHook)
	if _, ok := h.(hooks.BatchHook); ok {
		s.step, s.batch = nil, true
	}
	s.traced = s.step != nil || s.access != nil && !s.batch
	m.hooks = s
	if m.state == running { // what the old hooks planned is not the new ones'
		m.trace.pending, m.trace.plan.active = false, false
	}
	return nil
}

// traceState is the per-run state of tracing and pausing; its events are
// reused, so tracing allocates nothing per instruction.
type traceState struct {
	pending    bool // an instruction ran whose After events are not yet out
	pendPC     int
	pendProg   *Program // the program of pendPC: a tail call may switch
	pendN      uint64   // instructions run before pendPC
	before     [11]uint64
	plan       accessPlan
	beforeDone int // pc whose Before hook already fired (resuming there)
	stepping   bool
	stepped    bool
	pause      hooks.Action // requested by a hook outside the trap

	stepEv   hooks.Step
	evProg   *Program // the program stepEv's Prog names
	accessEv hooks.Access
	helperEv hooks.HelperCall
	callEv   hooks.CallEvent
	runEv    hooks.Run

	// helperWrites are the spans helpers asked to write during the calls
	// in progress, reported when each call returns.
	helperWrites []helperWrite
}

// accessPlan remembers what a memory instruction is about to touch, so its
// Access event can carry both the old and the new value.
type accessPlan struct {
	active bool
	kind   hooks.AccessKind
	addr   uint64
	size   int
	old    uint64
	dst    uint8 // register that receives a loaded value
}

func (t *traceState) reset() {
	t.pending, t.stepped, t.pause = false, false, hooks.Continue
	t.beforeDone = -1
	t.plan.active = false
	t.helperWrites = t.helperWrites[:0]
}

// trapCode returns the program's trap copy, building it once.
func (p *Program) trapCode() []insn {
	p.trapOnce.Do(func() {
		p.traps = make([]insn, len(p.code))
		for i := range p.traps {
			p.traps[i] = insn{op: opTrap}
		}
	})
	return p.traps
}

// recCode returns the program's recording copy, building it once: every
// instruction's op carries the recorded mark (see interp.go).
func (p *Program) recCode() []insn {
	p.recOnce.Do(func() {
		p.recs = make([]insn, len(p.code))
		for i, in := range p.code {
			if in.op != opSecondSlot {
				in.op += recorded
			}
			p.recs[i] = in
		}
	})
	return p.recs
}

// codeOf picks the code slice a run of p interprets: the trap copy when
// step or access hooks listen, the recording copy for a PC hook alone, or
// the plain code.
func (m *Machine) codeOf(p *Program) []insn {
	switch {
	case m.hooks.traced || m.trace.stepping:
		return p.trapCode()
	case m.hooks.pcs != nil:
		return p.recCode()
	}
	return p.code
}

// pcBatch is how many pcs a PC hook receives at most at a time.
const pcBatch = 4096

// pcBuf collects what a PC hook receives: per executed instruction its pc
// and the value its destination register held before it ran, plus the
// whole register file before instructions that may write more (see
// hooks.PCBatch).
type pcBuf struct {
	buf     []uint32
	old     []uint64
	snaps   []hooks.Snapshot
	n       int
	faulted bool // the last instruction faulted
	ev      hooks.PCBatch
	first   uint64   // run count of buf[0]
	prog    *Program // the program the collected pcs belong to
}

// record appends the instruction at pc: its pc and the value its
// destination register holds before it runs. The interpreter flushes
// before the buffer can fill (see room), so the length check only guards
// against a bug.
func (m *Machine) record(pc int, ins *insn) {
	b := &m.pcs
	if n := b.n; n < len(b.buf) && n < len(b.old) {
		b.buf[n] = uint32(pc)
		b.old[n] = m.regs[ins.dst]
		b.n = n + 1
	}
}

// snapshot keeps the register file before the instruction recorded last.
func (b *pcBuf) snapshot(regs *[256]uint64, depth int) {
	if b.n > 0 {
		b.snaps = append(b.snaps, hooks.Snapshot{Index: b.n - 1, Depth: depth, Regs: [11]uint64(regs[:11])})
	}
}

// recordOld replaces the value recorded last, for a store: the memory it
// is about to overwrite (see hooks.PCBatch.Old).
func (m *Machine) recordOld(v uint64) {
	b := &m.pcs
	if n := b.n - 1; n >= 0 && n < len(b.old) {
		b.old[n] = v
	}
}

// recordMemory records, for the store or atomic instruction recorded last,
// the memory it is about to change, when the fast path of run did not.
func (m *Machine) recordMemory(in *insn) {
	if size := storeSize[in.op]; size != 0 {
		v, _ := m.peek(m.regs[in.dst]+uint64(int64(in.off)), int(size))
		m.recordOld(v)
	}
}

// callsOut marks the instructions whose events hooks see as they happen
// (calls, exits and helpers' events): a PC batch is handed over before
// them, so that those events follow every instruction before theirs.
var callsOut = func() (c [numOps]bool) {
	for _, op := range []op{opCallHelper, opCallX, opCallLocal, opExit} {
		c[op] = true
	}
	return c
}()

// callsOut reports an instruction with events of its own: an exit has
// them only inside a call (the run's end flushes the batch anyway).
func (m *Machine) callsOut(o op) bool {
	return callsOut[o] && (o != opExit || m.depth > 0)
}

// flushBefore hands over the batch but for its last instruction, which
// is about to call out (see callsOut) and begins the next batch.
func (m *Machine) flushBefore() {
	b := &m.pcs
	if b.n < 2 || m.hooks.pcs == nil {
		return
	}
	pc, old := b.buf[b.n-1], b.old[b.n-1]
	b.n--
	m.flushPCs()
	b.buf[0], b.old[0], b.n = pc, old, 1
}

// writesMany marks the instructions that may write registers other than
// their destination (or none of theirs): calls, exits, atomics, LD_ABS.
var writesMany = func() (w [numOps]bool) {
	for _, op := range []op{opCallHelper, opCallX, opCallLocal, opExit, opAtomicW, opAtomicDW,
		opLdAbsB, opLdAbsH, opLdAbsW, opLdIndB, opLdIndH, opLdIndW} {
		w[op] = true
	}
	return w
}()

// room is how many instructions may still run before the batch must be
// flushed, keeping space for a straight run through all codeLen slots
// (the interpreter looks at the batch only at taken jumps and calls).
func (b *pcBuf) room(codeLen int) uint64 {
	if r := len(b.buf) - codeLen - b.n; r > 0 {
		return uint64(r)
	}
	return 0
}

// flushPCs hands the collected pcs to the PC hook and makes room for the
// current program. When the program changes (a tail call, or a return into
// another program), it is called after m.prog changed: the batch still
// names the program its pcs came from. The registers are the state after
// the batch's last instruction.
func (m *Machine) flushPCs() {
	if m.hooks.pcs == nil {
		return
	}
	b := &m.pcs
	if b.n > 0 {
		ev := &b.ev // assigned field by field: it keeps the hook's scratch
		ev.Prog, ev.First, ev.PC, ev.Old, ev.Snaps = b.prog.Name, b.first, b.buf[:b.n], b.old[:b.n], b.snaps
		ev.End, ev.EndDepth, ev.Faulted = [11]uint64(m.regs[:11]), m.depth, b.faulted
		ev.Insns, ev.Lines, ev.M = b.prog.Insns, b.prog.Lines, m
		m.hooks.pcs.PCs(ev)
		b.first += uint64(b.n)
		b.n = 0
	}
	b.snaps, b.faulted = b.snaps[:0], false
	b.prog = m.prog
	if want := len(m.prog.code) + pcBatch; len(b.buf) < want {
		b.buf = make([]uint32, want)
		b.old = make([]uint64, want)
	}
}

// trap runs the hooks due before the instruction at m.pc. A non-Continue
// answer pauses or aborts the run before that instruction executes.
func (m *Machine) trap() hooks.Action {
	t := &m.trace
	if t.pending {
		if a := m.flushAfter(); a != hooks.Continue {
			return a
		}
	}
	if a := t.pause; a != hooks.Continue {
		t.pause = hooks.Continue
		return a
	}
	if t.stepping {
		if t.stepped {
			return hooks.Stop
		}
		t.stepped = true
	}
	pc := m.pc
	in := &m.prog.code[pc]
	if m.hooks.step != nil && t.beforeDone != pc {
		ev := m.stepEvent(m.prog, pc)
		ev.Changed = 0
		if a := m.hooks.step.BeforeStep(ev); a != hooks.Continue {
			t.beforeDone = pc
			return a
		}
	}
	t.beforeDone = -1
	if m.hooks.pcs != nil { // after BeforeStep: a paused instruction has not run
		if m.callsOut(in.op) {
			m.flushPCs()
		}
		m.record(pc, in)
		m.recordMemory(in)
		if writesMany[in.op] {
			m.pcs.snapshot(&m.regs, m.depth)
		}
	}
	t.pending, t.pendPC, t.pendProg, t.pendN = true, pc, m.prog, m.n-1
	t.before = [11]uint64(m.regs[:11])
	if m.hooks.access != nil && !m.hooks.batch {
		m.planAccess(in)
	}
	return hooks.Continue
}

// stepEvent fills the reused Step event for the instruction at pc. Only
// the per-instruction fields are written: this runs twice per traced
// instruction.
func (m *Machine) stepEvent(p *Program, pc int) *hooks.Step {
	ev := &m.trace.stepEv
	raw := p.Insns[pc]
	ev.PC, ev.Insn, ev.Imm64 = pc, raw, 0
	ev.Depth, ev.Count = m.depth, m.n-1
	if m.trace.evProg != p || ev.M == nil {
		m.trace.evProg = p
		ev.Prog, ev.Regs, ev.M = p.Name, (*[11]uint64)(m.regs[:11]), m
	}
	if raw.IsLdImm64() {
		ev.Imm64 = isa.Imm64(p.Insns, pc)
	}
	return ev
}

// flushAfter delivers the After events of the pending instruction.
func (m *Machine) flushAfter() hooks.Action {
	t := &m.trace
	if !t.pending {
		return hooks.Continue
	}
	t.pending = false
	act := hooks.Continue
	if t.plan.active && m.hooks.access != nil {
		t.plan.active = false
		ev := &t.accessEv
		p := &t.plan
		*ev = hooks.Access{PC: t.pendPC, Kind: p.kind, Addr: p.addr, Size: p.size, Old: p.old, Region: m.Locate(p.addr), M: m}
		if p.kind == hooks.Load {
			ev.Value = m.regs[p.dst]
		} else {
			ev.Value, _ = m.peek(p.addr, p.size)
		}
		act = m.hooks.access.Access(ev)
	}
	if m.hooks.step != nil {
		ev := m.stepEvent(t.pendProg, t.pendPC)
		ev.Count = t.pendN
		var changed uint16
		for i := range 11 {
			if m.regs[i] != t.before[i] {
				changed |= 1 << i
			}
		}
		ev.Changed = changed
		if a := m.hooks.step.AfterStep(ev); a != hooks.Continue && act == hooks.Continue {
			act = a
		}
	}
	return act
}

type helperWrite struct {
	addr uint64
	n    int
	old  uint64 // the memory before, for writes of 1, 2, 4 or 8 bytes
}

// helperAccess reports a helper's read at once and remembers a write.
func (m *Machine) helperAccess(addr uint64, b []byte, write bool) {
	if write {
		w := helperWrite{addr: addr, n: len(b)}
		if scalarSize(len(b)) {
			w.old = getN(b)
		}
		m.trace.helperWrites = append(m.trace.helperWrites, w)
		return
	}
	m.helperEventAccess(hooks.Load, addr, b, 0)
}

// reportHelperWrites reports the writes of the current helper call, which
// began when helperWrites had from entries, with the bytes now in memory.
func (m *Machine) reportHelperWrites(from int) {
	ws := m.trace.helperWrites
	if from > len(ws) {
		from = len(ws)
	}
	for _, w := range ws[from:] {
		if b := m.span(w.addr, uint32(w.n), false); b != nil {
			m.helperEventAccess(hooks.Store, w.addr, b, w.old)
		}
	}
	m.trace.helperWrites = ws[:from]
}

func (m *Machine) helperEventAccess(kind hooks.AccessKind, addr uint64, b []byte, old uint64) {
	ev := &m.trace.accessEv
	*ev = hooks.Access{PC: m.pc, Kind: kind, Addr: addr, Size: len(b), Helper: m.curHelper, Region: m.Locate(addr), M: m}
	if scalarSize(len(b)) {
		ev.Value, ev.Old = getN(b), old
	} else {
		ev.Bytes = b
	}
	m.request(m.hooks.access.Access(ev))
}

// scalarSize reports a size an access value can hold.
func scalarSize(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }

// planAccess records the address and old value of a memory instruction.
func (m *Machine) planAccess(in *insn) {
	p := &m.trace.plan
	p.active = true
	switch {
	case loadSize[in.op] != 0:
		p.kind, p.size, p.dst, p.old = hooks.Load, int(loadSize[in.op]), in.dst, 0
		p.addr = m.regs[in.src] + uint64(int64(in.off))
		return
	case in.op == opAtomicW || in.op == opAtomicDW:
		p.kind = hooks.Atomic
	case storeSize[in.op] != 0:
		p.kind = hooks.Store
	default:
		p.active = false
		return
	}
	p.size = int(storeSize[in.op])
	p.addr = m.regs[in.dst] + uint64(int64(in.off))
	p.old, _ = m.peek(p.addr, p.size)
}

// peek reads memory for a trace without faulting.
func (m *Machine) peek(addr uint64, size int) (uint64, bool) {
	if b := m.span(addr, uint32(size), false); b != nil {
		return getN(b), true
	}
	if g := m.viewAt(addr); g != nil {
		v, err := g.desc.View.Load(uint32(addr), size)
		return v, err == nil
	}
	return 0, false
}

// paused turns a hook's answer into a paused or aborted machine.
func (m *Machine) paused(a hooks.Action) error {
	m.trace.pause = hooks.Continue
	if a == hooks.Abort {
		return m.fault(ErrAborted, 0, 0, "")
	}
	m.state = paused
	m.flushPCs() // the registers may be changed before the run resumes
	return nil
}

func (m *Machine) request(a hooks.Action) {
	if a > m.trace.pause {
		m.trace.pause = a
	}
}

func (m *Machine) helperEvent(id int32, a Args, ret uint64, err error) {
	ev := &m.trace.helperEv
	*ev = hooks.HelperCall{PC: m.pc, ID: id, Name: m.HelperName(id), Args: a, Ret: ret, Err: err, Depth: m.depth}
	m.request(m.hooks.helper.Helper(ev))
}

func (m *Machine) callEvent(kind hooks.CallKind, target int, fn string) {
	ev := &m.trace.callEv
	*ev = hooks.CallEvent{Kind: kind, PC: m.pc, Target: target, Func: fn, Depth: m.depth, R0: m.regs[0], Prog: m.prog.Name}
	m.request(m.hooks.call.Call(ev))
}

// ReportMapOp lets map helpers report an operation to the attached hooks;
// helpers check Listening first so nobody builds events no hook reads.
func (m *Machine) ReportMapOp(ev *hooks.MapOp) {
	if m.hooks.mapOp == nil {
		return
	}
	ev.PC = m.pc
	m.request(m.hooks.mapOp.MapOp(ev))
}

// Listening reports which optional event kinds have a hook, so helpers can
// avoid building events nobody reads.
func (m *Machine) Listening() (mapOps, output bool) {
	return m.hooks.mapOp != nil, m.hooks.output != nil
}

// ReportOutput lets helpers deliver program output (trace_printk text,
// ring buffer and perf records) to the attached hooks.
func (m *Machine) ReportOutput(ev *hooks.Output) {
	if m.hooks.output == nil {
		return
	}
	ev.PC = m.pc
	m.hooks.output.Output(ev)
}
