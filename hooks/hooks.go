// Package hooks defines what a running eBPF program reports and how an
// observer listens: one small interface per kind of event, in the manner of
// http.Handler. A hook implements any subset of them; the interpreter asks
// which (by type assertion) when the hook is attached and never again.
//
// Events are passed by pointer and owned by the interpreter: they, and the
// register file they point to, are valid only during the call. A hook that
// keeps an event must copy it (see the Clone methods).
package hooks

import (
	"github.com/bpfscope/bpfscope/isa"
	"github.com/cilium/ebpf/btf"
)

// Action is a hook's answer to an event.
type Action uint8

const (
	// Continue lets the run go on.
	Continue Action = iota
	// Stop pauses the run before the next instruction, as a breakpoint does;
	// the machine can then be resumed or single-stepped.
	Stop
	// Abort ends the run with an error (vm.ErrAborted).
	Abort
)

func (a Action) String() string {
	switch a {
	case Continue:
		return "continue"
	case Stop:
		return "stop"
	case Abort:
		return "abort"
	}
	return "action(?)"
}

// Inspector answers questions about the running machine that events leave
// out to stay cheap: region names, source lines, helper names.
type Inspector interface {
	// Describe names the memory at addr: "fp-16", "pkt+14",
	// "ctx xdp_md.data", "map counters[3]+8", ".rodata+4".
	Describe(addr uint64) string
	// Line returns the source position of the instruction at pc, or nil.
	Line(pc int) *isa.Line
	// HelperName returns the kernel name of helper id ("bpf_map_lookup_elem").
	HelperName(id int32) string
}

// Namer is an Inspector that also names memory by what the program's debug
// info and input say lies there, and knows the C types of map keys and
// values. Exporters find it by type assertion on an event's Inspector; it is
// never asked during an untraced run.
type Namer interface {
	// Name names the size bytes at addr: a global ("cfg.max_frame_len"),
	// a member of a map value ("flows[{saddr=10.0.0.2}].packets"), a
	// packet header field ("ipv4.src"); "" when nothing beyond Describe
	// is known.
	Name(addr uint64, size int) string
	// MapTypes returns the BTF of the named map's keys and values, nil
	// where unknown (print them with package btfvalue).
	MapTypes(mapName string) (key, value btf.Type)
}

// SpanNamer is a Namer that also says how far a name holds: NameSpan
// returns Name(addr, size) and the addresses [lo, hi), addr among them,
// at which Name gives the same answer for the same size as long as
// memory does not change, as during one PCs call (the payload after a
// packet's headers is one span). A trace naming many accesses of one
// batch asks once per span.
type SpanNamer interface {
	NameSpan(addr uint64, size int) (name string, lo, hi uint64)
}

// Step describes one instruction, before or after it runs.
type Step struct {
	PC    int
	Insn  isa.Insn    // the first slot
	Imm64 uint64      // the full constant of an ld_imm64
	Regs  *[11]uint64 // the live register file; read-only for hooks
	// Changed has bit i set when register ri differs from its value before
	// the instruction (After only).
	Changed uint16
	// Depth is the BPF-to-BPF call depth, 0 in the entry function; in
	// AfterStep, the depth after the instruction (a call's is one deeper).
	Depth int
	Count uint64 // instructions executed before this one in this run, in both events
	Prog  string // program name
	M     Inspector
}

// StepHook sees every executed instruction, synchronously: it is called
// before and after each one and may stop the run there. That costs an
// order of magnitude over an untraced run; PCHook sees the same states for
// little more than an untraced run, but in batches, after the fact: what
// does not need to stop the machine (the exporters) should be a BatchHook.
type StepHook interface {
	BeforeStep(*Step) Action
	AfterStep(*Step) Action
}

// PCBatch is a batch of executed instructions of one program: their pcs, in
// the order they ran, and what it takes to rebuild their register files
// and memory accesses (see Steps and Executed). First is the run's count
// of instructions before PC[0]. The batch and its slices are reused once
// the hook returns. A Filter passes a batch of the selected pcs only,
// without the register fields; its Steps and Executed still rebuild them,
// from the whole batch.
//
// A batch ends before every instruction that calls out (helper and
// BPF-to-BPF calls, exits): that instruction begins the next batch, and
// the events of its call (HelperCall, CallEvent, MapOp, Output, helpers'
// Accesses) reach the hook between the two batches.
type PCBatch struct {
	Prog  string
	First uint64
	PC    []uint32

	// The registers, as deltas: instruction i writes at most its
	// destination register, which held Old[i] before it ran, unless
	// Snaps has an entry for i (calls, exits, atomics and LD_ABS may
	// write more). A store writes no register: its Old[i] is the memory
	// it overwrote (an atomic's too). End is the register file after the
	// last instruction, at call depth EndDepth. Faulted says the last
	// instruction did not complete: the run ended with its fault.
	Old      []uint64
	Snaps    []Snapshot
	End      [11]uint64
	EndDepth int
	Faulted  bool

	Insns []isa.Insn  // the program's instructions, indexed by pc
	Lines []*isa.Line // their source lines, nil where unknown (see Line)
	M     Inspector

	scratch stepScratch
	full    *PCBatch // a Filter's batch: the batch it selects from
	sel     Match
}

// Line returns the source position of the instruction at pc, or nil. Ask
// the batch rather than M: after a tail call the machine runs another
// program than the batch's.
func (b *PCBatch) Line(pc int) *isa.Line {
	if pc >= 0 && pc < len(b.Lines) {
		return b.Lines[pc]
	}
	return nil
}

// Snapshot is the register file and call depth before an instruction that
// may write more than its destination register.
type Snapshot struct {
	Index int // the instruction's position in the batch
	Depth int
	Regs  [11]uint64
}

// PCHook sees every executed instruction at the least cost a hook can
// have: in batches of up to a few thousand, the last batch when the run
// ends, pauses or switches programs, and one before each call or exit.
// The interpreter records a pc and one value per instruction (the
// register it writes, or the memory a store overwrites) and nothing else;
// the hook reads pcs directly, every instruction's registers before and
// after through PCBatch.Steps, and its memory access too through
// PCBatch.Executed or Walk. It cannot pause a run (use StepHook for
// breakpoints).
type PCHook interface {
	PCs(*PCBatch)
}

// BatchHook is a PCHook that takes every instruction, with its registers
// and memory access, from its batches (PCBatch.Executed), as the
// exporters do. It may also be a StepHook and an AccessHook, to accept
// events replayed from Records: a machine never calls its StepHook, and
// passes its Access only the accesses helpers make (Helper != 0), so that
// it runs at the cost of a PC hook. Combinators keep that promise.
type BatchHook interface {
	PCHook
	// BatchesOnly marks the hook; it is never called.
	BatchesOnly()
}

// AccessKind says what a memory access did.
type AccessKind uint8

const (
	Load AccessKind = iota
	Store
	Atomic
)

func (k AccessKind) String() string {
	switch k {
	case Load:
		return "load"
	case Store:
		return "store"
	case Atomic:
		return "atomic"
	}
	return "access(?)"
}

// RegionKind says what kind of memory an address lies in.
type RegionKind uint8

const (
	// RegionOther is memory of no kind below: unmapped addresses, NULL,
	// regions a caller mapped without a kind.
	RegionOther RegionKind = iota
	// RegionCtx is the context structure and the kernel objects it leads
	// to (xdp_md, __sk_buff, bpf_sock, flow_keys, ...).
	RegionCtx
	// RegionPacket is packet data and the metadata before it.
	RegionPacket
	// RegionStack is the program's stack.
	RegionStack
	// RegionMapValue is the value storage of a map.
	RegionMapValue
	// RegionGlobal is a global data section (.data, .rodata, .bss).
	RegionGlobal
	// RegionHelperBuffer is memory a helper mapped for the program, such
	// as the key a callback receives.
	RegionHelperBuffer
)

func (k RegionKind) String() string {
	switch k {
	case RegionOther:
		return "other"
	case RegionCtx:
		return "ctx"
	case RegionPacket:
		return "packet"
	case RegionStack:
		return "stack"
	case RegionMapValue:
		return "map value"
	case RegionGlobal:
		return "global"
	case RegionHelperBuffer:
		return "helper buffer"
	}
	return "region(?)"
}

// Region locates an address for hooks that group or filter accesses
// without parsing Where's text.
type Region struct {
	Kind RegionKind
	// Name is the region's name: the context structure ("xdp_md"), "pkt",
	// "stack", the map or data section ("counters", ".rodata").
	Name string
	// Offset is where the address lies in the region: from the packet's
	// data (negative in the metadata), from the frame pointer of the
	// running function (negative in its frame), from the start of a map's
	// value storage (Offset / value size is the slot), or from the start
	// of anything else.
	Offset int64
}

// Access describes one memory access by an instruction or a helper.
type Access struct {
	PC     int
	Kind   AccessKind
	Addr   uint64
	Size   int    // bytes
	Value  uint64 // value loaded, or stored / left in memory by an atomic
	Old    uint64 // memory before a store or atomic
	Helper int32  // the helper that made the access, 0 for the program itself
	// Region is the memory accessed, structured; Where is the same as text.
	// Accesses replayed from a trace file carry no Region (RegionOther).
	Region Region
	// Bytes holds the data of a helper access wider than 8 bytes.
	Bytes []byte
	M     Inspector
}

// Where names the accessed memory.
func (a *Access) Where() string { return a.M.Describe(a.Addr) }

// AccessHook sees every memory access, after it happened.
type AccessHook interface {
	Access(*Access) Action
}

// HelperCall describes one call of a kernel helper, after it returned.
type HelperCall struct {
	PC    int
	ID    int32
	Name  string
	Args  [5]uint64
	Ret   uint64
	Err   error // non-nil if the helper failed the run
	Depth int
}

// Arguments returns the arguments the helper takes: as many of Args as the
// kernel's helper of that id has when Name is its name (isa.HelperArity),
// else, for a helper of the caller's own, Args without trailing zeros.
// The registers past them hold whatever the program left there.
func (h *HelperCall) Arguments() []uint64 {
	if h.Name == isa.HelperName(h.ID) {
		return h.Args[:isa.HelperArity(h.ID)]
	}
	n := len(h.Args)
	for n > 0 && h.Args[n-1] == 0 {
		n--
	}
	return h.Args[:n]
}

// HelperHook sees every helper call.
type HelperHook interface {
	Helper(*HelperCall) Action
}

// CallKind distinguishes control transfers between functions and programs.
type CallKind uint8

const (
	Call     CallKind = iota // BPF-to-BPF call
	Return                   // return from a BPF-to-BPF call
	TailCall                 // bpf_tail_call replaced the running program
)

func (k CallKind) String() string {
	switch k {
	case Call:
		return "call"
	case Return:
		return "return"
	case TailCall:
		return "tail_call"
	}
	return "callkind(?)"
}

// CallEvent describes a BPF-to-BPF call or return, or a tail call.
type CallEvent struct {
	Kind   CallKind
	PC     int // the call or exit instruction
	Target int // first instruction of the callee, or where a return resumes
	Func   string
	Depth  int    // depth after the transfer
	R0     uint64 // value returned (Return)
	Prog   string // the program now running (TailCall)
}

// CallHook sees calls between BPF functions and programs.
type CallHook interface {
	Call(*CallEvent) Action
}

// Run describes a program run as a whole.
type Run struct {
	Prog  string
	Args  [5]uint64 // r1..r5 at entry
	R0    uint64    // Exit: the result
	Err   error     // Exit: why the run failed, if it did
	Insns uint64    // Exit: instructions executed
	// M is the running machine, for names (nil in replayed events): a
	// batch hook may see helpers' events before any batch of the run.
	M Inspector
}

// RunHook sees program entry and exit.
type RunHook interface {
	Enter(*Run)
	Exit(*Run)
}

// MapOpKind is the operation a program applied to a map.
type MapOpKind uint8

const (
	MapLookup MapOpKind = iota
	MapUpdate
	MapDelete
	MapPush
	MapPop
	MapPeek
)

func (k MapOpKind) String() string {
	return [...]string{"lookup", "update", "delete", "push", "pop", "peek"}[k]
}

// MapOp describes one map operation made through a helper.
type MapOp struct {
	PC    int
	Map   string
	Op    MapOpKind
	Key   []byte
	Value []byte // value found, written or popped
	Flags uint64
	Hit   bool  // lookup found the key
	Errno int32 // 0, or the positive errno the helper returned as -errno
}

// MapHook sees map operations.
type MapHook interface {
	MapOp(*MapOp) Action
}

// Output is text or a record the program sent to user space:
// bpf_trace_printk lines, ring buffer and perf event records.
type Output struct {
	PC   int
	Kind string // "trace_printk", "ringbuf", "perf_event"
	Map  string // the ring or perf map, if any
	Data []byte // the payload the program wrote
	// RawSample, for a perf event record, is the PERF_SAMPLE_RAW data a
	// perf reader gets: Data padded with zeros so that it and its u32
	// size end on an 8-byte boundary (maps.Record.RawSample).
	RawSample []byte
}

// OutputHook sees program output.
type OutputHook interface {
	Output(*Output)
}
