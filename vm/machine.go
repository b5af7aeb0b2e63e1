package vm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/cilium/ebpf/btf"
)

// Kernel limits the machine enforces.
const (
	StackSize       = 512 // bytes per frame (MAX_BPF_STACK)
	MaxCallDepth    = 8   // frames (MAX_CALL_FRAMES)
	MaxTailCalls    = 33  // MAX_TAIL_CALL_CNT
	DefaultMaxInsns = 1 << 27
	// DefaultMaxOutput is Config.MaxOutput's default: 64 MiB per run.
	DefaultMaxOutput = 64 << 20
	// CheckInterval bounds the instructions (and units of helper work, see
	// Charge) between two looks at the run's context and budget: a run
	// sees its cancellation or deadline within CheckInterval of them plus
	// the straight-line code of one function (a program cannot go back
	// without a jump, a call or an exit, where the interpreter looks).
	CheckInterval  = checkEvery
	maxLoops       = 1 << 23 // BPF_MAX_LOOPS: may_goto iterations per frame
	maxDenseHelper = 1024    // helper ids below this get a slot in the call table
)

// Region ids fixed in every machine.
const (
	stackRegion = 1
	codeRegion  = 2 // function addresses (ld_imm64 src 4) point here
	firstFree   = 3
)

// Args are the helper arguments r1..r5.
type Args [5]uint64

// HelperFunc implements a kernel helper. It returns the value for r0; an
// error ends the run (wrapped as ErrHelperFailed) unless it is ErrUnwind.
type HelperFunc func(m *Machine, a Args) (uint64, error)

// Helper is a helper's implementation and kernel name.
type Helper struct {
	Name string
	Fn   HelperFunc
}

// HelperSet finds helpers by kernel id.
type HelperSet interface {
	Helper(id int32) (Helper, bool)
}

// Helpers is a HelperSet in a map.
type Helpers map[int32]Helper

// Helper implements HelperSet.
func (h Helpers) Helper(id int32) (Helper, bool) {
	x, ok := h[id]
	return x, ok
}

// Map is what the machine needs of a BPF map to hand out pointers into it:
// package maps implements it.
type Map interface {
	Name() string
	// Memory is the storage value pointers point into; it never moves.
	Memory() []byte
	// ValueStride is the distance between value slots in Memory.
	ValueStride() int
	// ReadOnly reports BPF_F_RDONLY_PROG.
	ReadOnly() bool
	// DescribeSlot names the element in value slot i, "" if free.
	DescribeSlot(i int) string
}

// SegmentedMap is a Map whose value storage grows as elements arrive: equal
// segments that never move, allocated when first needed (package maps'
// hash maps and LPM tries). Its Memory is nil; value offsets run across
// segments, and the machine maps a segment as a region when a helper
// first hands out a pointer into it.
type SegmentedMap interface {
	Map
	// SegmentSize is the size of every segment, a multiple of ValueStride.
	SegmentSize() int
	// Segment returns segment i, or nil if it is not allocated yet.
	Segment(i int) []byte
}

// Config sets up a machine.
type Config struct {
	// Helpers the program may call. A static call of a helper missing here
	// fails New with ErrUnknownHelper.
	Helpers HelperSet
	// Maps are the maps the program's ld_imm64 map references index.
	Maps []Map
	// MaxInsns bounds the instructions one run may execute (default
	// DefaultMaxInsns), on every path: jumps, may_goto, BPF-to-BPF calls,
	// tail calls, callbacks (bpf_loop, bpf_for_each_map_elem), and the
	// work helpers do in loops on the program's behalf, which they charge
	// in instruction units (Machine.Charge). The interpreter enforces it at
	// taken jumps, calls and exits, the only ways back to old code, helpers
	// at each callback and each charge, so a run stops within the
	// straight-line code of one function after MaxInsns.
	MaxInsns uint64
	// MaxOutput bounds the bytes of output one run may produce
	// (trace_printk lines, ring buffer and perf event records; default
	// DefaultMaxOutput). A run past it ends with ErrOutputLimit naming the
	// helper.
	MaxOutput uint64
}

// Machine runs one program at a time. It is not safe for concurrent use;
// give each goroutine its own machine. Machines may share a Program and
// package maps' maps, as one program runs on many CPUs in the kernel: map
// operations and BPF atomic instructions are atomic across machines, and
// plain loads and stores into a shared value race as they do in the kernel
// (see package maps).
type Machine struct {
	prog *Program
	cfg  Config

	regs   [256]uint64 // r0..r10; sized so a uint8 index needs no bounds check
	mem    []region
	win    []window // the fast path's view of mem, index for index
	fixed  int      // regions that survive Reset
	frames [MaxCallDepth]frame
	depth  int
	loops  [MaxCallDepth]uint32 // may_goto budget per frame
	fp     uint64               // current frame pointer, for naming stack slots
	pc     int
	n      uint64 // instructions executed in this run
	budget uint64 // the count at which the slow path next looks: limit, or an alarm before it
	limit  uint64 // MaxInsns less the helper work charged (Charge)
	tails  int

	// Per-run bookkeeping outside the interpreter loop: work charged by
	// helpers, the count at which callbacks and charges next look at the
	// context, output bytes, the run's number, what to release when it
	// ends, and the regions mapped while it ran (released by the next).
	work, output             uint64
	nextCheck, nextWorkCheck uint64
	runID                    uint64
	atEnd                    []func(error)
	runRegions, free         []int

	helpers   []HelperFunc // by id, for static calls
	maps      map[Map]mapBinding
	mapByIdx  []mapBinding
	tailProg  *Program // set by TailCall, consumed after the helper returns
	curHelper int32
	skb       SkbData
	nested    int        // callbacks running inside helpers
	site      helperSite // the outermost helper call in progress (see resume)

	fixedMaps int  // maps bound by New: the rest are inner maps a run bound
	segsBound bool // segments of a SegmentedMap were bound since New or Reset: Reset forgets them
	// firstSegments: the values regions of SegmentedMaps, by region id,
	// which fill in when their first segment exists (MapValue, RegionAt).
	firstSegments map[uint64]SegmentedMap

	ctx    context.Context
	state  runState
	hooks  hookSet
	trace  traceState
	pcs    pcBuf
	result uint64
	entry  *Program
	alarm  alarm
}

type frame struct {
	ret   int
	from  int // the call instruction (for a callback: the helper's call)
	prog  *Program
	saved [4]uint64 // r6..r9
}

type mapBinding struct {
	handle, values uint64
	m              Map
	segs           *[]uint64 // SegmentedMap: base address of each mapped segment, 0 if unmapped
}

type runState uint8

const (
	idle runState = iota
	running
	paused
)

// New binds a program to its helpers and maps.
func New(p *Program, cfg Config) (*Machine, error) {
	if cfg.MaxInsns == 0 {
		cfg.MaxInsns = DefaultMaxInsns
	}
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	m := &Machine{prog: p, entry: p, cfg: cfg, mem: make([]region, 1, 16), win: make([]window, 1, 16), maps: map[Map]mapBinding{}}
	m.Map(&Region{Name: "stack", Data: make([]byte, StackSize*MaxCallDepth), Kind: hooks.RegionStack})
	m.Map(&Region{Name: "code", View: codeView{}})
	for _, mp := range cfg.Maps {
		m.mapByIdx = append(m.mapByIdx, m.bindMap(mp))
	}
	if err := m.bindProgram(p); err != nil {
		return nil, err
	}
	m.fixed = len(m.mem)
	m.fixedMaps = len(m.maps)
	return m, nil
}

// bindProgram checks that every helper and map the program names exists.
func (m *Machine) bindProgram(p *Program) error {
	for pc, in := range p.code {
		switch in.op {
		case opCallHelper:
			id := int32(in.imm)
			if id < 0 {
				return &LoadError{PC: pc, Op: p.Insns[pc].Op, Err: ErrUnknownHelper, Msg: fmt.Sprint(id)}
			}
			if int(id) < len(m.helpers) && m.helpers[id] != nil {
				continue
			}
			h, ok := Helper{}, false
			if m.cfg.Helpers != nil {
				h, ok = m.cfg.Helpers.Helper(id)
			}
			if !ok || h.Fn == nil {
				return &LoadError{PC: pc, Op: p.Insns[pc].Op, Err: ErrUnknownHelper, Msg: fmt.Sprintf("helper %d", id)}
			}
			if id >= maxDenseHelper { // rare ids are looked up per call instead
				continue
			}
			for int(id) >= len(m.helpers) {
				m.helpers = append(m.helpers, nil)
			}
			m.helpers[id] = h.Fn
		case opLdMapFD, opLdMapValue:
			if idx := uint32(in.imm); int(idx) >= len(m.mapByIdx) {
				return &LoadError{PC: pc, Op: p.Insns[pc].Op, Err: ErrUnknownMap, Msg: fmt.Sprintf("map index %d, %d maps bound", idx, len(m.mapByIdx))}
			}
		}
	}
	return nil
}

func (m *Machine) bindMap(mp Map) mapBinding {
	if b, ok := m.maps[mp]; ok {
		return b
	}
	name := mp.Name()
	b := mapBinding{m: mp}
	b.handle = m.mapRegion(&Region{Name: "map " + name, View: mapHandleView{mp}, Describe: func(uint32) string { return "map " + name }}, false)
	// A SegmentedMap's values region is empty until its first segment
	// exists (ld_imm64 of its value faults there, naming the map); later
	// segments get regions of their own as they are needed.
	b.values = m.mapValues(mp, mp.Memory(), 0)
	if sm, ok := mp.(SegmentedMap); ok {
		b.segs = new([]uint64)
		if m.firstSegments == nil {
			m.firstSegments = map[uint64]SegmentedMap{}
		}
		m.firstSegments[b.values>>regionShift] = sm
	}
	m.maps[mp] = b
	return b
}

// mapValues maps data, which holds mp's values from offset base on.
func (m *Machine) mapValues(mp Map, data []byte, base uint32) uint64 {
	name := mp.Name()
	stride := uint32(mp.ValueStride())
	kind := hooks.RegionMapValue
	if strings.HasPrefix(name, ".") { // .data, .rodata, .bss as the loader names them
		kind = hooks.RegionGlobal
	}
	if _, ok := mp.(HelperOnly); ok {
		data = nil
	}
	values := m.mapRegion(&Region{
		Name:     "map " + name,
		Kind:     kind,
		Data:     data,
		ReadOnly: mp.ReadOnly(),
		Stride:   stride,
		Describe: func(off uint32) string {
			off += base
			if stride == 0 {
				return "map " + name + "+" + strconv.FormatUint(uint64(off), 10)
			}
			elem := mp.DescribeSlot(int(off / stride))
			if elem == "" {
				elem = name + "[slot " + strconv.FormatUint(uint64(off/stride), 10) + "]"
			}
			if rel := off % stride; rel != 0 {
				return "map " + elem + "+" + strconv.FormatUint(uint64(rel), 10)
			}
			return "map " + elem
		},
	}, false)
	if f, ok := mp.(fieldNamer); ok {
		m.mem[values>>regionShift].desc.Field = func(off uint32, size int) string { return f.FieldName(off+base, size) }
	}
	return values
}

var _ hooks.Namer = (*Machine)(nil)

// fieldNamer is a Map that names the bytes of its values for traces
// (package maps does, from BTF).
type fieldNamer interface {
	FieldName(off uint32, size int) string
}

// typedMap is a Map that knows the BTF of its keys and values.
type typedMap interface {
	Types() (key, value btf.Type)
}

// MapTypes implements hooks.Namer: the BTF of the keys and values of the
// bound map named name, nil where unknown.
func (m *Machine) MapTypes(name string) (key, value btf.Type) {
	for _, b := range m.mapByIdx {
		if b.m.Name() == name {
			if t, ok := b.m.(typedMap); ok {
				return t.Types()
			}
			return nil, nil
		}
	}
	for mp := range m.maps {
		if mp.Name() == name {
			if t, ok := mp.(typedMap); ok {
				return t.Types()
			}
			return nil, nil
		}
	}
	return nil, nil
}

// MapHandle returns the address programs use to name mp (what ld_imm64
// src 1 loads), binding the map if it is new (an inner map).
func (m *Machine) MapHandle(mp Map) uint64 { return m.bindMap(mp).handle }

// MapValue returns the address of byte off of mp's value storage.
func (m *Machine) MapValue(mp Map, off int) uint64 {
	b := m.bindMap(mp)
	if b.segs == nil {
		return b.values + uint64(off)
	}
	sm := mp.(SegmentedMap)
	size := sm.SegmentSize()
	i := off / size
	if i == 0 { // the first segment fills the values region bound with the map
		m.fillFirstSegment(b.values>>regionShift, sm)
		return b.values + uint64(off)
	}
	for i >= len(*b.segs) {
		*b.segs = append(*b.segs, 0)
	}
	if (*b.segs)[i] == 0 {
		(*b.segs)[i] = m.mapValues(mp, sm.Segment(i), uint32(i*size))
		m.segsBound = true
	}
	return (*b.segs)[i] + uint64(off%size)
}

// fillFirstSegment gives region id, the values region bound with sm, its
// first segment once sm has allocated it: the region is empty until then.
func (m *Machine) fillFirstSegment(id uint64, sm SegmentedMap) {
	if g := &m.mem[id]; len(g.data) == 0 {
		if seg := sm.Segment(0); seg != nil {
			g.desc.Data = seg
			*g = makeRegion(g.desc)
			m.win[id] = g.window()
		}
	}
}

// MapAt returns the map whose handle is addr.
func (m *Machine) MapAt(addr uint64) (Map, bool) {
	r, off, ok := m.RegionAt(addr)
	if !ok || off != 0 {
		return nil, false
	}
	// The handle's region holds its map: helpers look maps up on every
	// call, so this is no search.
	h, isHandle := r.View.(mapHandleView)
	return h.m, isHandle
}

// Program returns the program running (or that will run).
func (m *Machine) Program() *Program { return m.prog }

// HelperOnly marks a Map whose Memory programs may reach only through
// helpers: the machine gives its values no direct address (ld_imm64 of a
// map value faults there). A ring buffer is one: its record headers are
// bpfscope's bookkeeping, and a reserved record is mapped on its own, as
// exactly the bytes reserved.
type HelperOnly interface {
	HelperOnly()
}

// Reset drops the regions mapped since New, so a new run can map its
// context and packet. A paused run is abandoned: what it held is released
// as when a run fails (see OnRunEnd).
func (m *Machine) Reset() {
	m.endRun(nil)
	m.mem = m.mem[:m.fixed]
	m.win = m.win[:m.fixed]
	m.free = slices.DeleteFunc(m.free, func(id int) bool { return id >= m.fixed })
	m.runRegions = m.runRegions[:0]
	if len(m.maps) > m.fixedMaps || m.segsBound { // inner maps and segments bound during a run
		m.segsBound = false
		for mp, b := range m.maps {
			if b.handle>>regionShift >= uint64(m.fixed) {
				delete(m.firstSegments, b.values>>regionShift) // its region is gone
				delete(m.maps, mp)
				continue
			}
			if b.segs != nil {
				for i, base := range *b.segs {
					if base>>regionShift >= uint64(m.fixed) {
						(*b.segs)[i] = 0
					}
				}
			}
		}
	}
	m.state = idle
	m.prog = m.entry
}

// OnRunEnd registers fn to run once when the current run ends, however it
// ends: exit, fault, limit, cancellation, or a paused run abandoned by
// Reset or the next Run. err is the run's error (nil for those two).
// Helpers use it to release what a run holds and the kernel's verifier
// would have made the program release: ring buffer reservations, spin
// locks, references. The kernel has no equivalent, as it never stops a
// verified program halfway. Functions run in reverse order of
// registration. Outside a run, OnRunEnd does nothing.
func (m *Machine) OnRunEnd(fn func(err error)) {
	if m.state != idle {
		m.atEnd = append(m.atEnd, fn)
	}
}

// RunID numbers the runs of m (Run increments it), so helpers can tell a
// new run from the one they last saw.
func (m *Machine) RunID() uint64 { return m.runID }

// endRun calls the OnRunEnd functions of the run ending with err.
func (m *Machine) endRun(err error) {
	for len(m.atEnd) > 0 {
		fn := m.atEnd[len(m.atEnd)-1]
		m.atEnd = m.atEnd[:len(m.atEnd)-1]
		fn(err)
	}
}

// Charge counts units of work (in instructions) that a helper does on the
// program's behalf against the run's budget, and looks at the run's
// context at least every CheckInterval units, so a loop of cheap calls
// to an expensive helper obeys both as instructions do. A non-nil error
// (ErrBudget, ErrCanceled) must end the helper: return it.
//
// Outside a run (a helper called directly, as tests do) it does nothing.
func (m *Machine) Charge(units uint64) error {
	if m.state == idle {
		return nil
	}
	m.work += units
	m.limit -= min(units, m.limit)
	m.setBudget()
	if m.n >= m.limit {
		return m.fault(ErrBudget, 0, 0, fmt.Sprintf("%d instructions and %d units of helper work (%s)", m.n, m.work, budgetHint))
	}
	if m.work >= m.nextWorkCheck {
		m.nextWorkCheck = m.work + checkEvery
		if m.ctx.Err() != nil {
			return m.canceled(m.ctx)
		}
	}
	return nil
}

// canceled is the error of a run whose context is done.
func (m *Machine) canceled(ctx context.Context) *RunError {
	e := m.fault(ErrCanceled, 0, 0, "")
	e.Cause = context.Cause(ctx)
	e.Msg = e.Cause.Error()
	return e
}

// ChargeOutput counts n bytes of output the current helper produces
// against Config.MaxOutput; past it, it returns ErrOutputLimit, which must
// end the helper.
func (m *Machine) ChargeOutput(n int) error {
	if m.state == idle {
		return nil
	}
	if m.output += uint64(n); m.output > m.cfg.MaxOutput {
		return m.fault(ErrOutputLimit, 0, 0, fmt.Sprintf("%s: the run produced more than %d bytes of output (raise vm.Config.MaxOutput, or the command's --max-output)", m.HelperName(m.curHelper), m.cfg.MaxOutput))
	}
	return nil
}

// releaseRunRegions unmaps the regions helpers mapped during the last
// run, so that runs of one machine do not pile them up.
func (m *Machine) releaseRunRegions() {
	for _, id := range m.runRegions {
		m.Unmap(uint64(id) << regionShift)
	}
	m.runRegions = m.runRegions[:0]
}

// Run executes the program from its first instruction with r1..r5 set from
// args and returns r0. A hook's Stop pauses the run: Run returns ErrPaused
// and Resume or Step continue it.
func (m *Machine) Run(ctx context.Context, args ...uint64) (uint64, error) {
	if len(args) > 5 {
		return 0, fmt.Errorf("vm: %d arguments, at most 5", len(args))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	m.endRun(nil) // a paused run abandoned
	m.releaseRunRegions()
	m.prog = m.entry
	clear(m.regs[:11])
	copy(m.regs[1:6], args)
	m.depth, m.n, m.tails, m.pc, m.nested = 0, 0, 0, 0, 0
	m.state = idle
	if ctx.Err() != nil { // a done context runs nothing
		return 0, m.canceled(ctx)
	}
	m.runID++
	clear(m.mem[stackRegion].data)
	m.loops[0] = maxLoops
	m.limit = m.cfg.MaxInsns
	m.work, m.output, m.nextCheck, m.nextWorkCheck = 0, 0, checkEvery, checkEvery
	m.setBudget()
	m.setFP()
	m.regs[10] = m.fp
	m.state = running
	m.trace.reset()
	m.pcs.n, m.pcs.first, m.pcs.snaps = 0, 0, m.pcs.snaps[:0]
	m.flushPCs() // sizes the buffer for this program
	if m.hooks.run != nil {
		ev := &m.trace.runEv
		*ev = hooks.Run{Prog: m.prog.Name, M: m}
		copy(ev.Args[:], m.regs[1:6])
		m.hooks.run.Enter(ev)
	}
	return m.resume(ctx)
}

// ErrPaused is returned by Run, Resume and Step when a hook stopped the run.
var ErrPaused = fmt.Errorf("run paused")

// Paused reports whether a run is paused at PC.
func (m *Machine) Paused() bool { return m.state == paused }

// Resume continues a paused run. With a context already done it runs
// nothing and the run stays paused.
func (m *Machine) Resume(ctx context.Context) (uint64, error) {
	if m.state != paused {
		return 0, ErrNotPaused
	}
	if ctx != nil && ctx.Err() != nil {
		return 0, m.canceled(ctx)
	}
	return m.resume(ctx)
}

// Step executes one instruction of a paused run and pauses again. With a
// context already done it runs nothing and the run stays paused.
func (m *Machine) Step(ctx context.Context) (uint64, error) {
	if m.state != paused {
		return 0, ErrNotPaused
	}
	if ctx != nil && ctx.Err() != nil {
		return 0, m.canceled(ctx)
	}
	m.trace.stepping, m.trace.stepped = true, false
	defer func() { m.trace.stepping = false }()
	return m.resume(ctx)
}

// PC returns the pc of the next instruction of a paused run.
func (m *Machine) PC() int { return m.pc }

// Regs returns a copy of r0..r10.
func (m *Machine) Regs() [11]uint64 { return [11]uint64(m.regs[:11]) }

// SetReg sets register r (0..9) of a paused run.
func (m *Machine) SetReg(r int, v uint64) {
	if r >= 0 && r < 10 {
		m.regs[r] = v
	}
}

// Insns returns the number of instructions executed in the current run.
func (m *Machine) Insns() uint64 { return m.n }

// Depth returns the current BPF-to-BPF call depth.
func (m *Machine) Depth() int { return m.depth }

// Context returns the context.Context of the current run, for helpers.
func (m *Machine) Context() context.Context { return m.ctx }

// HelperID returns the id of the helper being called, for helpers that
// serve several ids.
func (m *Machine) HelperID() int32 { return m.curHelper }

// TailCall makes the running program continue as p once the current helper
// returns, as bpf_tail_call does. It fails after MaxTailCalls tail calls.
func (m *Machine) TailCall(p *Program) error {
	if m.tails >= MaxTailCalls {
		return fmt.Errorf("%w (%d)", ErrTailCallLimit, MaxTailCalls)
	}
	if err := m.bindProgram(p); err != nil {
		return err
	}
	m.tails++
	m.tailProg = p
	return nil
}

func (m *Machine) setFP() {
	m.fp = uint64(stackRegion)<<regionShift + uint64(StackSize*(MaxCallDepth-m.depth))
}

// Line implements hooks.Inspector.
func (m *Machine) Line(pc int) *isa.Line { return m.prog.Line(pc) }

// HelperName implements hooks.Inspector.
func (m *Machine) HelperName(id int32) string {
	if m.cfg.Helpers != nil {
		if h, ok := m.cfg.Helpers.Helper(id); ok && h.Name != "" {
			return h.Name
		}
	}
	return fmt.Sprintf("helper#%d", id)
}

// fault builds a RunError for the instruction being executed.
func (m *Machine) fault(err error, addr uint64, n uint32, msg string) *RunError {
	e := &RunError{Err: err, PC: m.pc, Prog: m.prog.Name, Addr: addr, Size: int(n), Depth: m.depth, Insns: m.n, Msg: msg}
	if n > 0 {
		e.Region = m.Describe(addr)
	}
	e.Regs = [11]uint64(m.regs[:11])
	return e
}

// codeView makes function addresses (ld_imm64 src 4) unreadable.
type codeView struct{}

func (codeView) Load(uint32, int) (uint64, error) { return 0, fmt.Errorf("code is not readable") }
func (codeView) Store(uint32, int, uint64) error  { return fmt.Errorf("code is not writable") }

// mapHandleView stands for struct bpf_map, which programs only pass to
// helpers; it names the map its region is the handle of.
type mapHandleView struct{ m Map }

func (mapHandleView) Load(uint32, int) (uint64, error) {
	return 0, fmt.Errorf("map pointer is not readable")
}
func (mapHandleView) Store(uint32, int, uint64) error {
	return fmt.Errorf("map pointer is not writable")
}

// funcAddr is the address a program sees for the function starting at pc.
func funcAddr(pc int) uint64 { return uint64(codeRegion)<<regionShift | uint64(pc)*isa.SlotSize }
