package vm

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
