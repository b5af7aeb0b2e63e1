package hooks

import (
	"iter"
	"math/bits"

	"github.com/bpfscope/bpfscope/isa"
)

// stepScratch is what Steps needs besides the batch, kept with the batch so
// that rebuilding registers allocates nothing once it has grown.
type stepScratch struct {
	written []uint64      // per instruction: the value it left in its destination
	changed []uint16      // per instruction: the register it changed, and memAccess
	after   []snapAfter   // per snapshot, in reverse: the state after it
	regs    [2][11]uint64 // before and after of the instruction at the cursor
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
		for c := b.walk(false); c.Next(); {
			if before, after := c.Steps(); !yield(before, after) {
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
		for c := b.walk(true); c.Next(); {
			if c.Steps(); !yield(&c.Executed) {
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
func (b *PCBatch) Walk() *Cursor { return b.walk(true) }

// Cursor walks the instructions of a batch (see Walk).
//
// The backward pass that starts a walk notes per instruction the value it
// wrote and the register it changed, so that Next, for an instruction
// that writes one register (all but those with a Snapshot), stores that
// value in Regs and nothing else: it keeps one register file, the one
// after the instruction, and rebuilds the one before only when asked
// (Steps, atomics). Snapshots, a fault, the end and a Filter's selection
// take a slower path.
type Cursor struct {
	PC      int
	Depth   int         // the call depth it started at
	Count   uint64      // the run's instructions before it
	Changed uint16      // the registers it changed
	Regs    *[11]uint64 // the registers after it (before it, if it faulted)
	Faulted bool        // it did not complete: the run ended with its fault
	Access  *Access     // the memory it accessed, nil if none or it faulted

	// Before and After, what Steps returns, are built by Steps.
	Executed

	// What Next's fast path reads, first.
	i       int // index of the next instruction
	stop    int // index from which Next takes the slow path (step)
	pcs     []uint32
	changed []uint16 // per instruction: see stepScratch
	written []uint64
	first   uint64

	b        *PCBatch // the batch walked: a Filter's whole batch
	sel      Match    // a Filter's selection, or nil
	accesses bool     // fill Access
	loc      Locator
	spans    SpanLocator // loc as a SpanLocator, or nil
	span     locSpan     // its last answer

	old      []uint64
	dst      []int8
	mem      []memOp
	before   *Step
	after    *Step
	n        int
	lastOK   int // index of a faulted last instruction, or n
	next     int // index of snapshot k
	k, j     int
	snap     int // the snapshot of the instruction at the cursor, or -1
	bi       int // the instruction whose registers before Steps built last, if not a snapshot's
	depth    int // the call depth after it
	finished bool
}

// locSpan is a SpanLocator's answer, which holds for the walk: the
// region at lo, and Describe's names in [lo, hi) as where and the offset
// from base ("" where: ask Describe).
type locSpan struct {
	lo, hi uint64
	region Region
	where  string
	base   uint64
}

// memAccess marks, in stepScratch.changed, an instruction that accesses
// memory.
const memAccess = 1 << 15

// writtenReg is the one register an instruction may write, or -1: stores
// write none (their Old is memory), nor do jumps (calls and exits have
// snapshots).
func writtenReg(in isa.Insn) int {
	switch in.Class() {
	case isa.ClassST:
		return -1
	case isa.ClassSTX:
		if in.Op&0xe0 != isa.ModeATOMIC || in.Imm == isa.AtomicStoreRel {
			return -1
		}
	case isa.ClassJMP, isa.ClassJMP32:
		if op := in.Op & 0xf0; op != isa.JmpCall && op != isa.JmpExit {
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
	info  []uint16 // the register it writes (11 to 15: none), and memAccess
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
		t.dst, t.mem, t.info = t.dst[:0], t.mem[:0], t.info[:0]
		for _, in := range insns {
			m, d := decodeMem(in), writtenReg(in)
			t.dst = append(t.dst, int8(d))
			t.mem = append(t.mem, m)
			// An instruction that writes no register writes, in undo,
			// one of the spare slots 11 to 15, not the same as the one
			// before it: a store and a load of the same word in a row
			// would wait for each other.
			info := uint16(11 + len(t.info)%5)
			if d >= 0 {
				info = uint16(d)
			}
			if m.kind != memNone {
				info |= memAccess
			}
			t.info = append(t.info, info)
		}
	}
}

// walk rebuilds the registers before the batch's first instruction (the
// backward pass) and returns a cursor before it.
func (b *PCBatch) walk(accesses bool) *Cursor {
	full := b
	if b.full != nil {
		full = b.full
	}
	s := &full.scratch
	c := &b.scratch.cursor
	*c = Cursor{b: full, accesses: accesses, finished: true}
	if b.full != nil {
		c.sel = b.sel
	}
	n := len(full.PC)
	if n == 0 || len(full.Old) < n {
		return c
	}
	if cap(s.written) < n {
		s.written = make([]uint64, n)
		s.changed = make([]uint16, n)
	}
	written, changed := s.written[:n], s.changed[:n]
	s.after = s.after[:0]
	pcs, old, snaps := full.PC[:n], full.Old[:n], full.Snaps
	s.table.of(full.Insns)
	dst, info := s.table.dst, s.table.info

	// Backward: undo each instruction, from End to the state before the
	// first, noting what each one wrote and whether that changed its
	// register (it did if the value differs from the one before, Old).
	var regs [16]uint64 // 11 to 15: where instructions that write none write
	copy(regs[:], full.End[:])
	depth := full.EndDepth
	k := len(snaps) - 1
	accMask := uint16(0) // keeps memAccess where accesses are rebuilt
	if accesses {
		accMask = memAccess
	}
	hi := n
	for ; k >= 0; k-- {
		next := snaps[k].Index
		if next < 0 || next >= hi { // not in the batch
			continue
		}
		undo(&regs, pcs[next+1:hi], old[next+1:hi], written[next+1:hi], changed[next+1:hi], info, accMask)
		s.after = append(s.after, snapAfter{[11]uint64(regs[:11]), depth})
		copy(regs[:], snaps[k].Regs[:])
		depth = snaps[k].Depth
		hi = next
	}
	undo(&regs, pcs[:hi], old[:hi], written[:hi], changed[:hi], info, accMask)

	s.regs[0], s.regs[1] = [11]uint64(regs[:11]), [11]uint64(regs[:11])
	c.before, c.after = &s.steps[0], &s.steps[1]
	*c.before = Step{Regs: &s.regs[0], Prog: full.Prog, M: full.M}
	*c.after = Step{Regs: &s.regs[1], Prog: full.Prog, M: full.M}
	c.pcs, c.old, c.written, c.changed, c.dst, c.mem = pcs, old, written, changed, dst, s.table.mem
	c.n, c.lastOK, c.next, c.j = n, n, n, len(s.after)-1
	if full.Faulted {
		c.lastOK = n - 1
	}
	if len(snaps) > 0 {
		c.next = snaps[0].Index
	}
	c.snap, c.bi, c.depth, c.first, c.finished = -1, -2, depth, full.First, false
	c.Depth = depth // the fast path leaves it
	c.Regs, c.Before, c.After = &s.regs[1], c.before, c.after
	if accesses {
		c.loc, _ = full.M.(Locator)
		c.spans, _ = full.M.(SpanLocator)
		s.access.M = full.M
	}
	c.setStop()
	return c
}

// undo walks back over instructions that write at most one register,
// from the state after the last (regs) to the state before the first,
// noting per instruction the value it wrote and what changed.
func undo(regs *[16]uint64, pcs []uint32, old, written []uint64, changed []uint16, info []uint16, accMask uint16) {
	old, written, changed = old[:len(pcs)], written[:len(pcs)], changed[:len(pcs)]
	for i := len(pcs) - 1; i >= 0; i-- {
		in := uint16(11)
		if pc := pcs[i]; int(pc) < len(info) {
			in = info[pc]
		}
		d := in & 15
		v, o := regs[d], old[i]
		written[i], regs[d] = v, o
		ch := in & accMask
		if v != o {
			ch |= 1 << d & 0x7ff
		}
		changed[i] = ch
	}
}

// setStop sets the index from which Next takes the slow path: the next
// snapshot or fault, or at once for a Filter's cursor.
func (c *Cursor) setStop() {
	c.stop = min(c.next, c.lastOK)
	if c.sel != nil {
		c.stop = 0
	}
}

// Next moves to the next instruction; it reports false past the last.
// An instruction that writes at most one register and does not fault
// takes the fast path: its register's new value, if it changed, goes
// into Regs.
func (c *Cursor) Next() bool {
	i := c.i
	if i >= c.stop {
		return c.slow()
	}
	c.i = i + 1
	pc, ch := c.pcs[i], c.changed[i]
	c.PC, c.Count, c.Changed = int(pc), c.first+uint64(i), ch&0x7ff
	if r := uint(bits.TrailingZeros16(ch)); r < 11 {
		c.Regs[r] = c.written[i]
	}
	if ch&memAccess != 0 {
		c.access(int(pc), i)
	} else if c.Access != nil {
		c.Access = nil
	}
	return true
}

func (c *Cursor) slow() bool {
	if c.sel == nil {
		return c.step()
	}
	for c.step() {
		if c.sel(c.PC) {
			return true
		}
	}
	return false
}

// step is Next's general path: it replays one instruction, whatever it
// is (a snapshot's, a fault, the one after a snapshot, which starts at
// the new depth).
func (c *Cursor) step() bool {
	if c.finished {
		return false
	}
	i := c.i
	if i >= c.n {
		c.finished = true
		return false
	}
	b := c.b
	regs := c.Regs
	pc := c.pcs[i]
	c.i = i + 1
	c.PC, c.Depth, c.Count = int(pc), c.depth, c.first+uint64(i)
	if c.Access != nil {
		c.Access = nil
	}
	c.snap = -1
	var changed uint16
	if i == c.next { // the whole file, from the snapshot after it
		snaps := b.Snaps
		c.snap = c.k
		if c.k++; c.k < len(snaps) {
			c.next = snaps[c.k].Index
		} else {
			c.next = c.n
		}
		if c.j < 0 { // cannot happen: one after state per snapshot
			c.finished = true
			return false
		}
		a := &b.scratch.after[c.j]
		c.j--
		for r := range regs {
			if regs[r] != a.regs[r] {
				changed |= 1 << r
			}
		}
		*regs = a.regs
		c.depth = a.depth
	} else if changed = c.changed[i] & 0x7ff; changed != 0 {
		regs[bits.TrailingZeros16(changed)%11] = c.written[i]
	}
	c.Changed = changed
	if i == c.lastOK { // it faulted: no after, and nothing after it
		c.beforeRegs(regs)
		c.Faulted, c.Changed = true, 0
		c.finished = true
		return true
	}
	if c.accesses && int(pc) < len(c.mem) && c.mem[pc].kind != memNone {
		c.access(int(pc), i)
	}
	c.setStop()
	if c.snap >= 0 { // the next instruction starts at the new depth
		c.stop = 0
	}
	return true
}

// beforeRegs rebuilds into r the registers before the instruction at the
// cursor: its snapshot's, or Regs with the old value of the register it
// wrote.
func (c *Cursor) beforeRegs(r *[11]uint64) {
	if c.snap >= 0 {
		*r = c.b.Snaps[c.snap].Regs
		return
	}
	if r != c.Regs {
		*r = *c.Regs
	}
	if pc, i := c.PC, c.i-1; pc < len(c.dst) && i >= 0 && i < len(c.old) {
		if d := c.dst[pc]; d >= 0 && d <= 10 {
			r[d] = c.old[i]
		}
	}
}

// access rebuilds the memory access of instruction i, at pc, from the
// registers after it and what it overwrote (a load whose base register is
// its destination finds the base in Old). Only the fields that change are
// stored: pointer stores cost a write barrier.
func (c *Cursor) access(pc, i int) {
	b := c.b
	a := &b.scratch.access
	m := &c.mem[pc]
	ra := c.Regs
	switch m.kind {
	case memLoad:
		base := ra[m.addr]
		if m.addr == m.val && int8(m.addr) == c.dst[pc] {
			base = c.old[i]
		}
		a.PC, a.Kind, a.Addr, a.Size = pc, Load, base+uint64(m.off), int(m.size)
		a.Value, a.Old, a.Helper = ra[m.val], 0, 0
	case memImm:
		a.PC, a.Kind, a.Addr, a.Size = pc, Store, ra[m.addr]+uint64(m.off), int(m.size)
		a.Value, a.Old, a.Helper = m.value, c.old[i], 0
	case memStore:
		a.PC, a.Kind, a.Addr, a.Size = pc, Store, ra[m.addr]+uint64(m.off), int(m.size)
		a.Value, a.Old, a.Helper = ra[m.val]&m.mask, c.old[i], 0
	default:
		rb := &b.scratch.regs[0]
		c.beforeRegs(rb)
		if !accessOf(a, b.Insns[pc], pc, rb, ra, c.old[i]) {
			return
		}
	}
	if a.Bytes != nil {
		a.Bytes = nil
	}
	if m.kind == memOther { // accessOf cleared it; walk set it for the others
		a.M = b.M
	}
	if sp := &c.span; a.Addr-sp.lo < sp.hi-sp.lo { // lo <= Addr < hi
		// Memory stands still while the batch is walked: the span
		// found for an earlier access holds.
		// (The name is stored rather than compared: a comparison of
		// equal strings is a call, a store's write barrier a test.)
		a.Region = Region{Kind: sp.region.Kind, Name: sp.region.Name, Offset: sp.region.Offset + int64(a.Addr-sp.lo)}
	} else if c.spans != nil {
		r, where, base, lo, hi := c.spans.LocateSpan(a.Addr)
		r.Offset -= int64(a.Addr - lo) // the region at lo
		*sp = locSpan{lo: lo, hi: hi, region: r, where: where, base: base}
		a.Region.Kind, a.Region.Offset = r.Kind, r.Offset+int64(a.Addr-lo)
		if a.Region.Name != r.Name {
			a.Region.Name = r.Name
		}
	} else if c.loc != nil {
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
	// The registers before: those of the instruction before, when Steps
	// built them, with the one register it wrote; else rebuilt whole.
	i, rb := c.i-1, before.Regs
	if c.bi == i-1 && i > 0 && !c.Faulted && c.snap < 0 {
		if ch := c.changed[i-1] & 0x7ff; ch != 0 {
			rb[bits.TrailingZeros16(ch)%11] = c.written[i-1]
		}
	} else {
		c.beforeRegs(rb)
	}
	c.bi = i
	if c.snap >= 0 { // c.changed has nothing for it
		c.bi = -2
	}
	before.PC, before.Insn, before.Imm64, before.Count, before.Depth = c.PC, in, imm, c.Count, c.Depth
	after.PC, after.Insn, after.Imm64, after.Count, after.Depth = c.PC, in, imm, c.Count, c.depth
	after.Changed = c.Changed
	if c.Faulted {
		after = nil
	}
	// Pointers are stored only when they change: the cursor lives on the
	// heap, where each pointer store costs a write barrier check.
	if e := &c.Executed; e.Before != before || e.After != after || e.Access != c.Access {
		*e = Executed{Before: before, After: after, Access: c.Access}
	}
	return before, after
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

// SpanLocator is a Locator that also says how far its answers hold, so
// that a cursor over a batch's accesses asks once per span of addresses
// rather than per access (memory stands still while a batch is walked):
// LocateSpan returns Locate(addr) and the addresses [lo, hi), addr among
// them, at which Locate gives the same region with the offset moved
// alike; there Describe gives where followed by the signed offset from
// base ("pkt" and +14: "pkt+14"; "fp" and -16), unless where is "".
// Cursor.Where gives an access's Describe in those parts.
type SpanLocator interface {
	Locator
	LocateSpan(addr uint64) (r Region, where string, base, lo, hi uint64)
}

// Where returns, when the machine is a SpanLocator, what Access.Where
// says of the access at the cursor in two parts: where ("pkt", "fp")
// and the offset written after it with its sign ("+14", "-16"). ok is
// false when it cannot: use Access.Where.
func (c *Cursor) Where() (where string, off int64, ok bool) {
	sp := &c.span
	if a := c.Access; a != nil && sp.where != "" && a.Addr-sp.lo < sp.hi-sp.lo {
		return sp.where, int64(a.Addr - sp.base), true
	}
	return "", 0, false
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
