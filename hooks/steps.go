package hooks

import (
	"iter"

	"github.com/bpfscope/bpfscope/isa"
)

// stepScratch is what Steps needs besides the batch, kept with the batch so
// that rebuilding registers allocates nothing once it has grown.
type stepScratch struct {
	written []uint64      // per instruction: the value it left in its destination
	after   []snapAfter   // per snapshot, in reverse: the state after it
	regs    [2][11]uint64 // before and after of the instruction yielded
	steps   [2]Step
}

type snapAfter struct {
	regs  [11]uint64
	depth int
}

// Steps yields every instruction of the batch in the order it ran, as
// BeforeStep and AfterStep would have seen it: before has the registers
// before the instruction, after those after it and the Changed mask.
// after is nil for an instruction that faulted (Faulted). Both events and
// their registers are reused from one instruction to the next and are
// valid only until the loop body returns.
//
// The registers are rebuilt, not recorded: walking back from End, each
// instruction gives its destination register its Old value, or the whole
// file its Snapshot; walking forward then replays the values found. A
// batch built by hand without Old yields nothing.
func (b *PCBatch) Steps() iter.Seq2[*Step, *Step] {
	return func(yield func(before, after *Step) bool) {
		if b.full != nil {
			for before, after := range b.full.Steps() {
				if b.sel(before.PC) && !yield(before, after) {
					return
				}
			}
			return
		}
		b.steps(yield)
	}
}

// dstOf is the register the instruction at pc may write, or -1.
func (b *PCBatch) dstOf(pc uint32) int {
	if int(pc) >= len(b.Insns) {
		return -1
	}
	if d := int(b.Insns[pc].Dst); d <= 10 {
		return d
	}
	return -1
}

func (b *PCBatch) steps(yield func(before, after *Step) bool) {
	n := len(b.PC)
	if n == 0 || len(b.Old) < n {
		return
	}
	s := &b.scratch
	if cap(s.written) < n {
		s.written = make([]uint64, n)
	}
	written := s.written[:n]
	s.after = s.after[:0]
	pcs, old, snaps := b.PC[:n], b.Old[:n], b.Snaps

	// Backward: undo each instruction, from End to the state before the
	// first, noting what each one wrote.
	regs, depth := b.End, b.EndDepth
	k := len(snaps) - 1
	next := -1 // index of snapshot k
	if k >= 0 {
		next = snaps[k].Index
	}
	for i := n - 1; i >= 0; i-- {
		if i == next {
			s.after = append(s.after, snapAfter{regs, depth})
			regs, depth = snaps[k].Regs, snaps[k].Depth
			if k--; k >= 0 {
				next = snaps[k].Index
			}
			continue
		}
		if d := b.dstOf(pcs[i]); d >= 0 {
			written[i] = regs[d]
			regs[d] = old[i]
		}
	}

	// Forward: replay, keeping before and after one instruction apart.
	s.regs[0], s.regs[1] = regs, regs
	before, after := &s.steps[0], &s.steps[1]
	*before = Step{Regs: &s.regs[0], Prog: b.Prog, M: b.M}
	*after = Step{Regs: &s.regs[1], Prog: b.Prog, M: b.M}
	k, j := 0, len(s.after)-1
	next = n
	if len(snaps) > 0 {
		next = snaps[0].Index
	}
	count := b.First
	for i, pc := range pcs {
		var in isa.Insn
		var imm uint64
		if int(pc) < len(b.Insns) {
			in = b.Insns[pc]
			if in.IsLdImm64() && int(pc)+1 < len(b.Insns) {
				imm = isa.Imm64(b.Insns, int(pc))
			}
		}
		before.PC, before.Insn, before.Imm64, before.Count, before.Depth = int(pc), in, imm, count, depth
		after.PC, after.Insn, after.Imm64, after.Count, after.Depth = int(pc), in, imm, count, depth
		count++
		last := i == n-1 && b.Faulted

		if i == next {
			if k++; k < len(snaps) {
				next = snaps[k].Index
			}
			if j < 0 { // cannot happen: one after state per snapshot
				return
			}
			a := &s.after[j]
			j--
			s.regs[1], after.Depth = a.regs, a.depth
			var changed uint16
			for r := range s.regs[0] {
				if s.regs[0][r] != s.regs[1][r] {
					changed |= 1 << r
				}
			}
			after.Changed = changed
			if last {
				yield(before, nil)
				return
			}
			if !yield(before, after) {
				return
			}
			s.regs[0], depth = s.regs[1], a.depth
			continue
		}

		after.Changed = 0
		d := int(in.Dst)
		if d > 10 || int(pc) >= len(b.Insns) {
			d = -1
		} else if v := written[i]; v != s.regs[0][d] {
			s.regs[1][d] = v
			after.Changed = 1 << d
		}
		if last {
			yield(before, nil)
			return
		}
		if !yield(before, after) {
			return
		}
		if d >= 0 {
			s.regs[0][d] = s.regs[1][d]
		}
	}
}
