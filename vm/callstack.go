package vm

// enter pushes the frame of a BPF-to-BPF call made at pc from that returns
// to ret (-1: to the helper that called back): it saves r6..r9 and gives
// the callee a fresh 512-byte stack frame and may_goto budget. The caller
// checks MaxCallDepth first and sets the frame's prog to m.prog: run only
// reuses a frame that holds it already, as storing a pointer would make
// run call the garbage collector's write barrier. enter and leave are
// inlined into the interpreter loop (TestRunIsCallFree): they must stay
// small and call-free.
func (m *Machine) enter(from, ret int) {
	f := &m.frames[m.depth]
	f.ret, f.from = ret, from
	r := &m.regs
	f.saved = [4]uint64{r[6], r[7], r[8], r[9]} // not a copy: one 8-byte load per register
	m.depth++
	m.loops[m.depth] = maxLoops
	m.fp -= StackSize // what setFP computes, without its constant in a register of run
	r[10] = m.fp
}

// leave pops frame f, the innermost, and returns the pc to go back to. The
// caller sets m.prog to f.prog if a tail call changed it.
func (m *Machine) leave(f *frame) int {
	r := &m.regs
	r[6], r[7], r[8], r[9] = f.saved[0], f.saved[1], f.saved[2], f.saved[3]
	m.depth--
	m.fp += StackSize
	r[10] = m.fp
	return f.ret
}

// CallFrame is one BPF function activation of a run in progress.
type CallFrame struct {
	// Prog is the program the function's code is in now.
	Prog *Program
	// CallPC is the call instruction in the caller's program (for a
	// callback: the call of the helper that called it), -1 for the entry.
	CallPC int
	// Callback says a helper called the function (bpf_loop,
	// bpf_for_each_map_elem, ...).
	Callback bool
	// TailCall says a tail call replaced the program at this level.
	TailCall bool
}

// CallStack returns the functions active in the current run, outermost
// first; the last is the one running (at PC). Hooks and debuggers call it
// between instructions; the interpreter keeps the frames anyway, so it
// costs a run nothing.
func (m *Machine) CallStack() []CallFrame {
	out := make([]CallFrame, m.depth+1)
	for d := 0; d <= m.depth; d++ {
		f := CallFrame{CallPC: -1}
		entry := m.entry
		if d > 0 {
			caller := &m.frames[d-1]
			entry, f.CallPC, f.Callback = caller.prog, caller.from, caller.ret < 0
		}
		f.Prog = m.prog
		if d < m.depth {
			f.Prog = m.frames[d].prog
		}
		f.TailCall = f.Prog != entry
		out[d] = f
	}
	return out
}
