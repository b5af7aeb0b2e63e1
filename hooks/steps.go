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
	ex      Executed
	access  Access
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
		b.walk(func(_ int, before, after *Step) bool { return yield(before, after) })
	}
}

// walk yields what Steps does, with each instruction's index in the whole
// batch; a Filter's batch yields the selected instructions only.
func (b *PCBatch) walk(yield func(i int, before, after *Step) bool) {
	if b.full != nil {
		b.full.steps(func(i int, before, after *Step) bool {
			return !b.sel(before.PC) || yield(i, before, after)
		})
		return
	}
	b.steps(yield)
}

// dstOf is the register the instruction at pc may write, or -1.
func (b *PCBatch) dstOf(pc uint32) int {
	if int(pc) >= len(b.Insns) {
		return -1
	}
	return writtenReg(b.Insns[pc])
}

// writtenReg is the one register an instruction may write, or -1: stores
// write none (their Old is memory).
func writtenReg(in isa.Insn) int {
	switch in.Class() {
	case isa.ClassST:
		return -1
	case isa.ClassSTX:
		if in.Op&0xe0 != isa.ModeATOMIC || in.Imm == isa.AtomicStoreRel {
			return -1
		}
	}
	if d := int(in.Dst); d <= 10 {
		return d
	}
	return -1
}

func (b *PCBatch) steps(yield func(i int, before, after *Step) bool) {
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
				yield(i, before, nil)
				return
			}
			if !yield(i, before, after) {
				return
			}
			s.regs[0], depth = s.regs[1], a.depth
			continue
		}

		after.Changed = 0
		d := -1
		if int(pc) < len(b.Insns) {
			d = writtenReg(in)
		}
		if d >= 0 {
			if v := written[i]; v != s.regs[0][d] {
				s.regs[1][d] = v
				after.Changed = 1 << d
			}
		}
		if last {
			yield(i, before, nil)
			return
		}
		if !yield(i, before, after) {
			return
		}
		if d >= 0 {
			s.regs[0][d] = s.regs[1][d]
		}
	}
}

// Executed is one instruction of a batch as a traced run reports it: its
// BeforeStep and AfterStep (After is nil when it faulted) and the memory
// access it made (nil if none, or if it faulted).
type Executed struct {
	Before, After *Step
	Access        *Access
}

// Locator is an Inspector that also locates addresses structurally
// (Access.Region); the machine is one.
type Locator interface {
	Locate(addr uint64) Region
}

// Executed yields every instruction of the batch as Steps does, with the
// memory access it made, as an AccessHook would have seen it: loads with
// the value loaded, stores and atomics with the memory before and after.
// The events are reused from one instruction to the next. Regions are
// named (Access.Where, Region) when the batch is handed over, which is
// before any helper or call could move them.
func (b *PCBatch) Executed() iter.Seq[*Executed] {
	return func(yield func(*Executed) bool) {
		s := &b.scratch
		full := b
		if b.full != nil {
			full = b.full
		}
		loc, _ := b.M.(Locator)
		b.walk(func(i int, before, after *Step) bool {
			s.ex.Before, s.ex.After, s.ex.Access = before, after, nil
			if after != nil && i < len(full.Old) && accessOf(&s.access, before, after, full.Old[i]) {
				s.access.M = b.M
				if loc != nil {
					s.access.Region = loc.Locate(s.access.Addr)
				}
				s.ex.Access = &s.access
			}
			return yield(&s.ex)
		})
	}
}

// TouchesMemory reports an instruction that loads or stores memory
// itself (LD_ABS and LD_IND do not count: their access is not reported),
// one Executed gives an Access when it completes.
func TouchesMemory(in isa.Insn) bool {
	mode := in.Op & 0xe0
	switch in.Class() {
	case isa.ClassLDX:
		return mode == isa.ModeMEM || mode == isa.ModeMEMSX
	case isa.ClassST:
		return mode == isa.ModeMEM
	case isa.ClassSTX:
		return mode == isa.ModeMEM || mode == isa.ModeATOMIC
	}
	return false
}

var sizeBytes = [4]int{isa.SizeW >> 3: 4, isa.SizeH >> 3: 2, isa.SizeB >> 3: 1, isa.SizeDW >> 3: 8}

// accessOf fills ev with the access of a completed instruction, from the
// registers before and after it and, for a store or atomic, the memory it
// overwrote; it reports false for an instruction that touches no memory.
func accessOf(ev *Access, before, after *Step, old uint64) bool {
	in := before.Insn
	if !TouchesMemory(in) {
		return false
	}
	size := sizeBytes[(in.Op&0x18)>>3]
	mask := ^uint64(0)
	if size < 8 {
		mask = 1<<(8*size) - 1
	}
	*ev = Access{PC: before.PC, Size: size}
	r := before.Regs
	mode := in.Op & 0xe0
	switch in.Class() {
	case isa.ClassLDX:
		ev.Kind, ev.Addr, ev.Value = Load, r[in.Src&15%11]+uint64(int64(in.Off)), after.Regs[in.Dst&15%11]
	case isa.ClassST:
		ev.Kind, ev.Addr, ev.Value, ev.Old = Store, r[in.Dst&15%11]+uint64(int64(in.Off)), uint64(int64(in.Imm))&mask, old
	case isa.ClassSTX:
		addr, src := r[in.Dst&15%11]+uint64(int64(in.Off)), r[in.Src&15%11]
		switch {
		case mode == isa.ModeMEM || in.Imm == isa.AtomicStoreRel:
			ev.Kind, ev.Addr, ev.Value, ev.Old = Store, addr, src&mask, old
		case in.Imm == isa.AtomicLoadAcq:
			ev.Kind, ev.Addr, ev.Value = Load, r[in.Src&15%11]+uint64(int64(in.Off)), after.Regs[in.Dst&15%11]
		default:
			ev.Kind, ev.Addr, ev.Old = Atomic, addr, old
			ev.Value = atomicResult(uint8(in.Imm), old, src&mask, r[0]&mask) & mask
		}
	}
	return true
}

// atomicResult is the memory an atomic operation leaves (as the kernel's
// BPF_ATOMIC: add, or, and, xor, their fetch forms, xchg and cmpxchg).
func atomicResult(op uint8, old, src, r0 uint64) uint64 {
	switch op &^ isa.AtomicFetch {
	case isa.AtomicAdd:
		return old + src
	case isa.AtomicOr:
		return old | src
	case isa.AtomicAnd:
		return old & src
	case isa.AtomicXor:
		return old ^ src
	case isa.AtomicXchg &^ isa.AtomicFetch:
		return src
	}
	if old == r0 { // cmpxchg
		return src
	}
	return old
}
