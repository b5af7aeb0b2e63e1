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
	access  Access
	table   progTable
	cursor  Cursor
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
		for c := b.walk(false, false); c.Next(); {
			if !yield(c.Before, c.After) {
				return
			}
		}
	}
}

// Executed yields every instruction of the batch as Steps does, with the
// memory access it made, as an AccessHook would have seen it: loads with
// the value loaded, stores and atomics with the memory before and after.
// The events are reused from one instruction to the next. Regions are
// named (Access.Where, Region) when the batch is handed over, which is
// before any helper or call could move them. Walk does the same without
// a function call per instruction.
func (b *PCBatch) Executed() iter.Seq[*Executed] {
	return func(yield func(*Executed) bool) {
		for c := b.walk(true, false); c.Next(); {
			if !yield(&c.Executed) {
				return
			}
		}
	}
}

// Walk returns a cursor over the batch's instructions, for exporters
// that write every instruction: each Next moves it to the next one and
// sets its PC, Depth, Count, Changed, Regs and Access, leaving the Step
// events to be built on demand (Steps).
//
//	for c := batch.Walk(); c.Next(); {
//		use(c.PC, c.Changed, c.Regs, c.Access)
//	}
//
// The cursor belongs to the batch and is valid until the hook returns.
func (b *PCBatch) Walk() *Cursor { return b.walk(true, true) }

// Cursor walks the instructions of a batch (see Walk).
type Cursor struct {
	PC      int
	Depth   int         // the call depth it started at
	Count   uint64      // the run's instructions before it
	Changed uint16      // the registers it changed
	Regs    *[11]uint64 // the registers after it (before it, if it faulted)
	Faulted bool        // it did not complete: the run ended with its fault
	Access  *Access     // the memory it accessed, nil if none or it faulted

	// Before and After, what Steps returns, are built by Next only for
	// the iterators (Steps, Executed).
	Executed
	lazy bool

	b        *PCBatch // the batch walked: a Filter's whole batch
	sel      Match    // a Filter's selection, or nil
	accesses bool     // fill Access
	loc      Locator

	pcs      []uint32
	old      []uint64
	written  []uint64
	dst      []int8
	mem      []memOp
	before   *Step
	after    *Step
	i        int // index of the next instruction
	n        int
	lastOK   int // index of a faulted last instruction, or n
	next     int // index of snapshot k
	k, j     int
	d        int8 // register the current instruction wrote (or wholeFile), committed by Next
	depth    int
	count    uint64
	finished bool
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

// progTable is what a walk needs per pc of a program, decoded once: the
// register the instruction writes (-1: none, or more than one) and
// whether it accesses memory.
type progTable struct {
	insns []isa.Insn
	dst   []int8
	mem   []memOp
}

// memOp is how the instruction at a pc accesses memory, decoded once so
// that the cursor rebuilds the common accesses without accessOf.
type memOp struct {
	kind  uint8 // memNone, or how to rebuild the access
	size  uint8
	addr  uint8 // the register holding the base address, before
	val   uint8 // the register loaded (after) or stored (before)
	off   int64
	value uint64 // the constant ST stores
	mask  uint64
}

const (
	memNone  = iota
	memLoad  // LDX: the value is the register after
	memImm   // ST: the value is the constant
	memStore // STX MEM: the value is the source register before
	memOther // atomics: accessOf
)

func decodeMem(in isa.Insn) memOp {
	if !TouchesMemory(in) {
		return memOp{}
	}
	size := sizeBytes[(in.Op&0x18)>>3]
	m := memOp{size: uint8(size), off: int64(in.Off), mask: ^uint64(0), addr: in.Dst & 15 % 11, val: in.Src & 15 % 11}
	if size < 8 {
		m.mask = 1<<(8*size) - 1
	}
	switch {
	case in.Class() == isa.ClassLDX:
		m.kind, m.addr, m.val = memLoad, in.Src&15%11, in.Dst&15%11
	case in.Class() == isa.ClassST:
		m.kind, m.value = memImm, uint64(int64(in.Imm))&m.mask
	case in.Op&0xe0 == isa.ModeMEM:
		m.kind = memStore
	default:
		m.kind = memOther
	}
	return m
}

func (t *progTable) of(insns []isa.Insn) {
	if len(insns) != len(t.insns) || len(insns) > 0 && &insns[0] != &t.insns[0] {
		t.insns = insns
		t.dst, t.mem = t.dst[:0], t.mem[:0]
		for _, in := range insns {
			t.dst = append(t.dst, int8(writtenReg(in)))
			t.mem = append(t.mem, decodeMem(in))
		}
	}
}

// walk rebuilds the registers before the batch's first instruction (the
// backward pass) and returns a cursor before it.
func (b *PCBatch) walk(accesses, lazy bool) *Cursor {
	full := b
	if b.full != nil {
		full = b.full
	}
	s := &full.scratch
	c := &b.scratch.cursor
	*c = Cursor{b: full, accesses: accesses, lazy: lazy, finished: true}
	if b.full != nil {
		c.sel = b.sel
	}
	n := len(full.PC)
	if n == 0 || len(full.Old) < n {
		return c
	}
	if cap(s.written) < n {
		s.written = make([]uint64, n)
	}
	written := s.written[:n]
	s.after = s.after[:0]
	pcs, old, snaps := full.PC[:n], full.Old[:n], full.Snaps
	s.table.of(full.Insns)
	dst := s.table.dst

	// Backward: undo each instruction, from End to the state before the
	// first, noting what each one wrote.
	regs, depth := full.End, full.EndDepth
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
		if pc := pcs[i]; int(pc) < len(dst) {
			if d := dst[pc]; d >= 0 && d <= 10 {
				written[i] = regs[d]
				regs[d] = old[i]
			}
		}
	}

	s.regs[0], s.regs[1] = regs, regs
	c.before, c.after = &s.steps[0], &s.steps[1]
	*c.before = Step{Regs: &s.regs[0], Prog: full.Prog, M: full.M}
	*c.after = Step{Regs: &s.regs[1], Prog: full.Prog, M: full.M}
	c.pcs, c.old, c.written, c.dst, c.mem = pcs, old, written, dst, s.table.mem
	c.n, c.lastOK, c.next, c.j = n, n, n, len(s.after)-1
	if full.Faulted {
		c.lastOK = n - 1
	}
	if len(snaps) > 0 {
		c.next = snaps[0].Index
	}
	c.d, c.depth, c.count, c.finished = -1, depth, full.First, false
	c.Regs, c.Before, c.After = &s.regs[1], c.before, c.after
	if accesses {
		c.loc, _ = full.M.(Locator)
	}
	return c
}

// Next moves to the next instruction; it reports false past the last.
func (c *Cursor) Next() bool {
	if c.sel == nil {
		return c.step()
	}
	return c.nextSelected()
}

func (c *Cursor) nextSelected() bool {
	for c.step() {
		if c.sel(c.PC) {
			return true
		}
	}
	return false
}

// step is Next's forward pass: it replays one instruction.
func (c *Cursor) step() bool {
	if c.finished {
		return false
	}
	b := c.b
	s := &b.scratch
	rb, ra := &s.regs[0], &s.regs[1]
	// Commit the instruction before: its after is this one's before.
	if d := c.d; d == wholeFile {
		*rb = *ra
	} else if d >= 0 {
		rb[d] = ra[d]
	}
	// The fields are read into locals once: the compiler reloads a field
	// after any store through rb or ra.
	i := c.i
	if i >= c.n {
		c.d, c.finished = -1, true
		return false
	}
	pc, dst := c.pcs[i], c.dst
	d := int8(-1)
	if int(pc) < len(dst) {
		d = dst[pc]
	}
	count := c.count
	c.i, c.count = i+1, count+1
	// Pointers are stored only when they change: the cursor lives on the
	// heap, where each pointer store costs a write barrier check.
	c.PC, c.Depth, c.Count = int(pc), c.depth, count
	if c.Access != nil {
		c.Access = nil
	}

	var changed uint16
	next := int8(-1) // the register to commit at the next step
	if i == c.next { // the whole file, from the snapshot after it
		snaps := b.Snaps
		if c.k++; c.k < len(snaps) {
			c.next = snaps[c.k].Index
		}
		if c.j < 0 { // cannot happen: one after state per snapshot
			c.d, c.finished = -1, true
			return false
		}
		a := &s.after[c.j]
		c.j--
		*ra = a.regs
		for r := range rb {
			if rb[r] != ra[r] {
				changed |= 1 << r
			}
		}
		c.depth, next = a.depth, wholeFile
	} else if d >= 0 && d <= 10 {
		if v := c.written[i]; v != rb[d] {
			ra[d] = v
			changed = 1 << d
		}
		next = d
	}
	c.Changed, c.d = changed, next
	if i == c.lastOK { // it faulted: no after, and nothing after it
		c.Faulted, c.Regs, c.Changed = true, rb, 0
		c.finished = true
		if !c.lazy {
			c.Steps()
		}
		return true
	} else if c.accesses && int(pc) < len(c.mem) && c.mem[pc].kind != memNone {
		c.access(&c.mem[pc], int(pc), i, rb, ra)
	}
	if !c.lazy { // what Steps does, storing no pointer that did not change
		var in isa.Insn
		var imm uint64
		if int(pc) < len(b.Insns) {
			in = b.Insns[pc]
			if in.IsLdImm64() && int(pc)+1 < len(b.Insns) {
				imm = isa.Imm64(b.Insns, int(pc))
			}
		}
		before, after := c.before, c.after
		before.PC, before.Insn, before.Imm64, before.Count, before.Depth = c.PC, in, imm, c.Count, c.Depth
		after.PC, after.Insn, after.Imm64, after.Count, after.Depth = c.PC, in, imm, c.Count, c.depth
		after.Changed = c.Changed
		if c.Executed.Access != c.Access {
			c.Executed.Access = c.Access
		}
	}
	return true
}

// access rebuilds the memory access of instruction i, at pc, from the
// registers before (rb) and after it (ra) and what it overwrote. Only the
// fields that change are stored: pointer stores cost a write barrier.
func (c *Cursor) access(m *memOp, pc, i int, rb, ra *[11]uint64) {
	b := c.b
	a := &b.scratch.access
	switch m.kind {
	case memLoad:
		a.PC, a.Kind, a.Addr, a.Size = pc, Load, rb[m.addr]+uint64(m.off), int(m.size)
		a.Value, a.Old, a.Helper = ra[m.val], 0, 0
	case memImm:
		a.PC, a.Kind, a.Addr, a.Size = pc, Store, rb[m.addr]+uint64(m.off), int(m.size)
		a.Value, a.Old, a.Helper = m.value, c.old[i], 0
	case memStore:
		a.PC, a.Kind, a.Addr, a.Size = pc, Store, rb[m.addr]+uint64(m.off), int(m.size)
		a.Value, a.Old, a.Helper = rb[m.val]&m.mask, c.old[i], 0
	default:
		if !accessOf(a, b.Insns[pc], pc, rb, ra, c.old[i]) {
			return
		}
	}
	if a.Bytes != nil {
		a.Bytes = nil
	}
	if a.M != b.M {
		a.M = b.M
	}
	if c.loc != nil {
		r := c.loc.Locate(a.Addr)
		a.Region.Kind, a.Region.Offset = r.Kind, r.Offset
		if a.Region.Name != r.Name {
			a.Region.Name = r.Name
		}
	} else if a.Region != (Region{}) {
		a.Region = Region{}
	}
	c.Access = a
}

// Steps builds the BeforeStep and AfterStep events of the instruction at
// the cursor (after is nil if it faulted); they are reused by the next.
func (c *Cursor) Steps() (before, after *Step) {
	b := c.b
	var in isa.Insn
	var imm uint64
	if c.PC < len(b.Insns) {
		in = b.Insns[c.PC]
		if in.IsLdImm64() && c.PC+1 < len(b.Insns) {
			imm = isa.Imm64(b.Insns, c.PC)
		}
	}
	before, after = c.before, c.after
	before.PC, before.Insn, before.Imm64, before.Count, before.Depth = c.PC, in, imm, c.Count, c.Depth
	after.PC, after.Insn, after.Imm64, after.Count, after.Depth = c.PC, in, imm, c.Count, c.depth
	after.Changed = c.Changed
	if c.Faulted {
		after = nil
	}
	c.Executed = Executed{Before: before, After: after, Access: c.Access}
	return before, after
}

// wholeFile marks a cursor's instruction whose after is a whole register
// file (a snapshot's), committed when the cursor moves on.
const wholeFile = 11

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
func accessOf(ev *Access, in isa.Insn, pc int, r, after *[11]uint64, old uint64) bool {
	if !TouchesMemory(in) {
		return false
	}
	size := sizeBytes[(in.Op&0x18)>>3]
	mask := ^uint64(0)
	if size < 8 {
		mask = 1<<(8*size) - 1
	}
	*ev = Access{PC: pc, Size: size}
	mode := in.Op & 0xe0
	switch in.Class() {
	case isa.ClassLDX:
		ev.Kind, ev.Addr, ev.Value = Load, r[in.Src&15%11]+uint64(int64(in.Off)), after[in.Dst&15%11]
	case isa.ClassST:
		ev.Kind, ev.Addr, ev.Value, ev.Old = Store, r[in.Dst&15%11]+uint64(int64(in.Off)), uint64(int64(in.Imm))&mask, old
	case isa.ClassSTX:
		addr, src := r[in.Dst&15%11]+uint64(int64(in.Off)), r[in.Src&15%11]
		switch {
		case mode == isa.ModeMEM || in.Imm == isa.AtomicStoreRel:
			ev.Kind, ev.Addr, ev.Value, ev.Old = Store, addr, src&mask, old
		case in.Imm == isa.AtomicLoadAcq:
			ev.Kind, ev.Addr, ev.Value = Load, r[in.Src&15%11]+uint64(int64(in.Off)), after[in.Dst&15%11]
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
