package vm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/cilium/ebpf/asm"
)

// insn is the decoded form the interpreter runs: 16 bytes, with every
// variant folded into op and jump targets made absolute.
type insn struct {
	op  op
	dst uint8
	src uint8
	off int32 // memory offset, or absolute target pc for jumps and local calls
	imm int64 // sign-extended immediate, the ld_imm64 constant, or the atomic operation
}

// Program is a decoded, validated eBPF program. It is immutable once built
// and may be shared by many machines.
type Program struct {
	Name  string
	Insns []isa.Insn // raw slots, as loaded

	// Lines holds the source position of each pc (nil where unknown), and
	// Funcs the functions sorted by start pc; both are optional and come
	// from BTF when the program was loaded from an ELF object.
	Lines []*isa.Line
	Funcs []Func

	// Maps names the maps the program refers to by index (ld_imm64 with
	// src 1 or 2 carries the index in imm). The machine binds them.
	Maps []string

	code     []insn
	helpers  []int32 // helper ids called statically, deduplicated
	trapOnce sync.Once
	traps    []insn // the trap copy of code, for traced runs
	recOnce  sync.Once
	recs     []insn // the recording copy of code, for PC hooks
}

// Func is a BPF function (the entry point or a subprogram).
type Func struct {
	Name  string
	Start int // first pc
}

// Len returns the number of instruction slots.
func (p *Program) Len() int { return len(p.code) }

// HelperIDs lists the helpers the program calls statically.
func (p *Program) HelperIDs() []int32 { return p.helpers }

// FuncAt returns the function containing pc, or "".
func (p *Program) FuncAt(pc int) string {
	name := ""
	for _, f := range p.Funcs {
		if f.Start > pc {
			break
		}
		name = f.Name
	}
	return name
}

// Line returns the source position of pc, or nil.
func (p *Program) Line(pc int) *isa.Line {
	if pc >= 0 && pc < len(p.Lines) {
		return p.Lines[pc]
	}
	return nil
}

// Load decodes and validates little-endian bytecode.
func Load(name string, code []byte) (*Program, error) {
	if len(code)%isa.SlotSize != 0 {
		return nil, &LoadError{PC: -1, Err: ErrBytecodeLength, Msg: fmt.Sprintf("%d bytes", len(code))}
	}
	insns, err := isa.Decode(code)
	if err != nil {
		return nil, &LoadError{PC: -1, Err: ErrBytecodeLength, Msg: err.Error()}
	}
	return NewProgram(name, insns)
}

// FromInstructions builds a program from cilium/ebpf instructions, resolving
// jump and call labels (symbols) as cilium/ebpf does. Map references must be
// indexes already; see package loader for ELF objects.
func FromInstructions(name string, insns asm.Instructions) (*Program, error) {
	insns = slices.Clone(insns) // Marshal resolves labels in place
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		return nil, err
	}
	// cilium/ebpf v0.22.0 can drop the atomic operation from imm when
	// marshalling; take it from the opcode instead.
	code := buf.Bytes()
	for it := insns.Iterate(); it.Next(); {
		if aop := it.Ins.OpCode.AtomicOp(); aop != asm.InvalidAtomic {
			binary.LittleEndian.PutUint32(code[int(it.Offset)*isa.SlotSize+4:], uint32(aop)>>8)
		}
	}
	return Load(name, code)
}

// NewProgram validates raw slots and decodes them for the interpreter.
func NewProgram(name string, insns []isa.Insn) (*Program, error) {
	if len(insns) == 0 {
		return nil, &LoadError{PC: -1, Err: ErrEmptyProgram}
	}
	p := &Program{Name: name, Insns: insns, code: make([]insn, len(insns))}
	seen := map[int32]bool{}
	for pc := 0; pc < len(insns); pc++ {
		in, err := decode(insns, pc)
		if err != nil {
			return nil, &LoadError{PC: pc, Op: insns[pc].Op, Err: err.err, Msg: err.msg}
		}
		p.code[pc] = in
		if in.op == opLdImm64 || in.op == opLdMapFD || in.op == opLdMapValue || in.op == opLdFunc {
			p.code[pc+1] = insn{op: opSecondSlot}
			pc++
		}
		if in.op == opCallHelper && !seen[int32(in.imm)] {
			seen[int32(in.imm)] = true
			p.helpers = append(p.helpers, int32(in.imm))
		}
	}
	if err := p.checkFlow(); err != nil {
		return nil, err
	}
	p.Funcs = []Func{{Name: name, Start: 0}}
	for _, in := range p.code {
		if in.op == opCallLocal || in.op == opLdFunc {
			p.addFunc(int(in.off), fmt.Sprintf("func_%d", in.off))
		}
	}
	return p, nil
}

// addFunc records a function start unless one is already known there.
func (p *Program) addFunc(start int, name string) {
	i := 0
	for i < len(p.Funcs) && p.Funcs[i].Start < start {
		i++
	}
	if i < len(p.Funcs) && p.Funcs[i].Start == start {
		return
	}
	p.Funcs = append(p.Funcs, Func{})
	copy(p.Funcs[i+1:], p.Funcs[i:])
	p.Funcs[i] = Func{Name: name, Start: start}
}

// SetFuncName names the function starting at pc (used by loaders with BTF).
func (p *Program) SetFuncName(start int, name string) {
	for i := range p.Funcs {
		if p.Funcs[i].Start == start {
			p.Funcs[i].Name = name
			return
		}
	}
	p.addFunc(start, name)
}

// checkFlow verifies jump targets and that execution cannot run past the
// last slot.
func (p *Program) checkFlow() error {
	n := len(p.code)
	for pc, in := range p.code {
		if !isJump(in.op) && in.op != opCallLocal && in.op != opLdFunc {
			continue
		}
		t := int(in.off)
		if t < 0 || t >= n {
			return &LoadError{PC: pc, Op: p.Insns[pc].Op, Err: ErrJumpOutOfRange, Msg: fmt.Sprintf("target %d, program has %d slots", t, n)}
		}
		if p.code[t].op == opSecondSlot {
			return &LoadError{PC: pc, Op: p.Insns[pc].Op, Err: ErrJumpIntoLdImm64, Msg: fmt.Sprintf("target %d", t)}
		}
	}
	last := n - 1
	if p.code[last].op == opSecondSlot {
		last--
	}
	switch p.code[last].op {
	case opExit, opJA, opJA32:
		return nil
	}
	return &LoadError{PC: last, Op: p.Insns[last].Op, Err: ErrFallThrough}
}

func isJump(o op) bool { return o >= opJA && o <= opMayGoto }

type decodeErr struct {
	err error
	msg string
}

func bad(err error, format string, args ...any) *decodeErr {
	return &decodeErr{err: err, msg: fmt.Sprintf(format, args...)}
}

// aluOps maps (ALU operation >> 4) to the 64-bit K-form op; the X form is
// the next op, and the 32-bit table is parallel.
var alu64Ops = [16]op{
	isa.ALUAdd >> 4: opAdd64K, isa.ALUSub >> 4: opSub64K, isa.ALUMul >> 4: opMul64K,
	isa.ALUDiv >> 4: opDiv64K, isa.ALUOr >> 4: opOr64K, isa.ALUAnd >> 4: opAnd64K,
	isa.ALULsh >> 4: opLsh64K, isa.ALURsh >> 4: opRsh64K, isa.ALUMod >> 4: opMod64K,
	isa.ALUXor >> 4: opXor64K, isa.ALUMov >> 4: opMov64K, isa.ALUArsh >> 4: opArsh64K,
}

var alu32Ops = [16]op{
	isa.ALUAdd >> 4: opAdd32K, isa.ALUSub >> 4: opSub32K, isa.ALUMul >> 4: opMul32K,
	isa.ALUDiv >> 4: opDiv32K, isa.ALUOr >> 4: opOr32K, isa.ALUAnd >> 4: opAnd32K,
	isa.ALULsh >> 4: opLsh32K, isa.ALURsh >> 4: opRsh32K, isa.ALUMod >> 4: opMod32K,
	isa.ALUXor >> 4: opXor32K, isa.ALUMov >> 4: opMov32K, isa.ALUArsh >> 4: opArsh32K,
}

// jmpOps maps (jump operation >> 4) to the 64-bit K-form conditional; X,
// and the 32-bit forms (+22) follow.
var jmpOps = [16]op{
	isa.JmpJEQ >> 4: opJEq64K, isa.JmpJGT >> 4: opJGt64K, isa.JmpJGE >> 4: opJGe64K,
	isa.JmpJSET >> 4: opJSet64K, isa.JmpJNE >> 4: opJNe64K, isa.JmpJSGT >> 4: opJSGt64K,
	isa.JmpJSGE >> 4: opJSGe64K, isa.JmpJLT >> 4: opJLt64K, isa.JmpJLE >> 4: opJLe64K,
	isa.JmpJSLT >> 4: opJSLt64K, isa.JmpJSLE >> 4: opJSLe64K,
}

const jmp32Delta = opJEq32K - opJEq64K

func checkReg(r uint8, write bool) *decodeErr {
	if r > 10 {
		return bad(ErrBadRegister, "r%d", r)
	}
	if write && r == 10 {
		return bad(ErrBadRegister, "r10 is read-only")
	}
	return nil
}

// decode turns the slot at pc into an insn, checking the fields the kernel
// verifier checks before it looks at types.
func decode(insns []isa.Insn, pc int) (insn, *decodeErr) {
	raw := insns[pc]
	in := insn{dst: raw.Dst, src: raw.Src, off: int32(raw.Off), imm: int64(raw.Imm)}
	switch raw.Class() {
	case isa.ClassALU, isa.ClassALU64:
		return decodeALU(raw, in)
	case isa.ClassJMP, isa.ClassJMP32:
		return decodeJump(insns, pc, raw, in)
	case isa.ClassLD:
		return decodeLD(insns, pc, raw, in)
	case isa.ClassLDX:
		return decodeLDX(raw, in)
	case isa.ClassST:
		if raw.Op&0xe0 != isa.ModeMEM {
			return in, bad(ErrUnknownOpcode, "")
		}
		if raw.Src != 0 {
			return in, bad(ErrReservedField, "src")
		}
		if e := checkReg(raw.Dst, false); e != nil {
			return in, e
		}
		in.op = [4]op{opStW, opStH, opStB, opStDW}[raw.Op>>3&3]
		return in, nil
	default: // isa.ClassSTX
		return decodeSTX(raw, in)
	}
}

func decodeALU(raw isa.Insn, in insn) (insn, *decodeErr) {
	is64 := raw.Class() == isa.ClassALU64
	code := raw.Op & 0xf0
	x := raw.Op&isa.SrcX != 0
	if e := checkReg(raw.Dst, true); e != nil {
		return in, e
	}
	switch code {
	case isa.ALUNeg:
		if x || raw.Src != 0 || raw.Off != 0 || raw.Imm != 0 {
			return in, bad(ErrReservedField, "neg")
		}
		in.op = opNeg32
		if is64 {
			in.op = opNeg64
		}
		return in, nil
	case isa.ALUEnd:
		if raw.Src != 0 || raw.Off != 0 {
			return in, bad(ErrReservedField, "byte swap")
		}
		if is64 && x {
			return in, bad(ErrUnknownOpcode, "")
		}
		var w int
		switch raw.Imm {
		case 16:
			w = 0
		case 32:
			w = 1
		case 64:
			w = 2
		default:
			return in, bad(ErrReservedField, "byte swap width %d", raw.Imm)
		}
		switch {
		case is64 || x: // bswap, or to big endian: reverse
			in.op = [3]op{opBE16, opBE32, opBE64}[w]
		default:
			in.op = [3]op{opLE16, opLE32, opLE64}[w]
		}
		return in, nil
	}
	base := alu32Ops[code>>4]
	if is64 {
		base = alu64Ops[code>>4]
	}
	if base == 0 {
		return in, bad(ErrUnknownOpcode, "")
	}
	if x {
		if raw.Imm != 0 {
			return in, bad(ErrReservedField, "imm")
		}
		if e := checkReg(raw.Src, false); e != nil {
			return in, e
		}
	} else if raw.Src != 0 {
		return in, bad(ErrReservedField, "src")
	}
	in.op = base
	switch {
	case raw.Off == 0:
	case raw.Off == 1 && (code == isa.ALUDiv || code == isa.ALUMod):
		// Signed division: the ops follow their unsigned twins.
		in.op = base + 2
	case code == isa.ALUMov && x && (raw.Off == 8 || raw.Off == 16 || (raw.Off == 32 && is64)):
		if is64 {
			in.op = map[int16]op{8: opMovSX8to64, 16: opMovSX16to64, 32: opMovSX32to64}[raw.Off]
		} else {
			in.op = map[int16]op{8: opMovSX8to32, 16: opMovSX16to32}[raw.Off]
		}
		in.off = 0
		return in, nil
	default:
		return in, bad(ErrReservedField, "off %d", raw.Off)
	}
	in.off = 0
	if x {
		in.op++
	}
	if !is64 {
		in.imm = int64(uint32(raw.Imm)) // 32-bit ops see imm as its low 32 bits
	}
	return in, nil
}

func decodeJump(insns []isa.Insn, pc int, raw isa.Insn, in insn) (insn, *decodeErr) {
	is32 := raw.Class() == isa.ClassJMP32
	code := raw.Op & 0xf0
	x := raw.Op&isa.SrcX != 0
	in.off = int32(pc) + int32(raw.Off) + 1
	switch code {
	case isa.JmpJA:
		if x || raw.Src != 0 || raw.Dst != 0 {
			return in, bad(ErrReservedField, "ja")
		}
		if is32 {
			if raw.Off != 0 {
				return in, bad(ErrReservedField, "gotol off")
			}
			in.op = opJA32
			in.off = int32(pc) + raw.Imm + 1
			return in, nil
		}
		if raw.Imm != 0 {
			return in, bad(ErrReservedField, "ja imm")
		}
		in.op = opJA
		return in, nil
	case isa.JmpCall:
		if is32 {
			return in, bad(ErrUnknownOpcode, "")
		}
		if x { // callx: the register holds the target
			if raw.Off != 0 || raw.Src != 0 || raw.Imm != 0 {
				return in, bad(ErrReservedField, "callx")
			}
			if e := checkReg(raw.Dst, false); e != nil {
				return in, e
			}
			in.op = opCallX
			return in, nil
		}
		if raw.Off != 0 || raw.Dst != 0 {
			return in, bad(ErrReservedField, "call")
		}
		switch raw.Src {
		case 0:
			in.op = opCallHelper
		case isa.PseudoCall:
			in.op = opCallLocal
			in.off = int32(pc) + raw.Imm + 1
		case isa.PseudoKfuncCall:
			return in, bad(ErrUnsupported, "kfunc call %d", raw.Imm)
		default:
			return in, bad(ErrReservedField, "call src %d", raw.Src)
		}
		return in, nil
	case isa.JmpExit:
		if is32 || x || raw.Src != 0 || raw.Dst != 0 || raw.Off != 0 || raw.Imm != 0 {
			return in, bad(ErrReservedField, "exit")
		}
		in.op = opExit
		return in, nil
	case isa.JmpJCond:
		if is32 || x || raw.Src != 0 || raw.Dst != 0 || raw.Imm != 0 {
			return in, bad(ErrReservedField, "may_goto")
		}
		in.op = opMayGoto
		return in, nil
	}
	base := jmpOps[code>>4]
	if base == 0 {
		return in, bad(ErrUnknownOpcode, "")
	}
	if e := checkReg(raw.Dst, false); e != nil {
		return in, e
	}
	if x {
		if raw.Imm != 0 {
			return in, bad(ErrReservedField, "imm")
		}
		if e := checkReg(raw.Src, false); e != nil {
			return in, e
		}
		base++
	} else if raw.Src != 0 {
		return in, bad(ErrReservedField, "src")
	}
	if is32 {
		base += jmp32Delta
		in.imm = int64(uint32(raw.Imm))
	}
	in.op = base
	return in, nil
}

func decodeLD(insns []isa.Insn, pc int, raw isa.Insn, in insn) (insn, *decodeErr) {
	mode, size := raw.Op&0xe0, raw.Op&0x18
	switch mode {
	case isa.ModeIMM:
		if size != isa.SizeDW {
			return in, bad(ErrUnknownOpcode, "")
		}
		if pc+1 >= len(insns) {
			return in, bad(ErrTruncated, "")
		}
		if e := checkReg(raw.Dst, true); e != nil {
			return in, e
		}
		next := insns[pc+1]
		if next.Op != 0 || next.Dst != 0 || next.Src != 0 || next.Off != 0 || raw.Off != 0 {
			return in, bad(ErrReservedField, "ld_imm64")
		}
		in.imm = int64(isa.Imm64(insns, pc))
		switch raw.Src {
		case 0:
			in.op = opLdImm64
		case isa.PseudoMapFD, isa.PseudoMapIdx:
			in.op = opLdMapFD
			in.imm = int64(uint32(raw.Imm))
		case isa.PseudoMapValue, isa.PseudoMapIdxValue:
			in.op = opLdMapValue
		case isa.PseudoFunc:
			in.op = opLdFunc
			in.off = int32(pc) + raw.Imm + 1
		default:
			return in, bad(ErrUnsupported, "ld_imm64 src %d", raw.Src)
		}
		return in, nil
	case isa.ModeABS, isa.ModeIND:
		if size == isa.SizeDW {
			return in, bad(ErrUnknownOpcode, "")
		}
		if raw.Dst != 0 || raw.Off != 0 || (mode == isa.ModeABS && raw.Src != 0) {
			return in, bad(ErrReservedField, "ld_abs/ld_ind")
		}
		if e := checkReg(raw.Src, false); e != nil {
			return in, e
		}
		s := map[uint8]int{isa.SizeB: 0, isa.SizeH: 1, isa.SizeW: 2}[size]
		if mode == isa.ModeABS {
			in.op = opLdAbsB + op(s)
		} else {
			in.op = opLdIndB + op(s)
		}
		return in, nil
	}
	return in, bad(ErrUnknownOpcode, "")
}

func decodeLDX(raw isa.Insn, in insn) (insn, *decodeErr) {
	if raw.Imm != 0 {
		return in, bad(ErrReservedField, "imm")
	}
	if e := checkReg(raw.Dst, true); e != nil {
		return in, e
	}
	if e := checkReg(raw.Src, false); e != nil {
		return in, e
	}
	sz := raw.Op >> 3 & 3 // W, H, B, DW
	switch raw.Op & 0xe0 {
	case isa.ModeMEM:
		in.op = [4]op{opLdxW, opLdxH, opLdxB, opLdxDW}[sz]
	case isa.ModeMEMSX:
		if sz == 3 {
			return in, bad(ErrUnknownOpcode, "")
		}
		in.op = [3]op{opLdxSW, opLdxSH, opLdxSB}[sz]
	default:
		return in, bad(ErrUnknownOpcode, "")
	}
	return in, nil
}

func decodeSTX(raw isa.Insn, in insn) (insn, *decodeErr) {
	if e := checkReg(raw.Dst, false); e != nil {
		return in, e
	}
	if e := checkReg(raw.Src, false); e != nil {
		return in, e
	}
	sz := raw.Op >> 3 & 3 // W, H, B, DW
	switch raw.Op & 0xe0 {
	case isa.ModeMEM:
		if raw.Imm != 0 {
			return in, bad(ErrReservedField, "imm")
		}
		in.op = [4]op{opStxW, opStxH, opStxB, opStxDW}[sz]
		return in, nil
	case isa.ModeATOMIC:
	default:
		return in, bad(ErrUnknownOpcode, "")
	}
	switch raw.Imm {
	case isa.AtomicLoadAcq:
		if e := checkReg(raw.Dst, true); e != nil {
			return in, e
		}
		in.op = [4]op{opLoadAcqW, opLoadAcqH, opLoadAcqB, opLoadAcqDW}[sz]
		return in, nil
	case isa.AtomicStoreRel:
		in.op = [4]op{opStoreRelW, opStoreRelH, opStoreRelB, opStoreRelDW}[sz]
		return in, nil
	case isa.AtomicAdd, isa.AtomicOr, isa.AtomicAnd, isa.AtomicXor,
		isa.AtomicAdd | isa.AtomicFetch, isa.AtomicOr | isa.AtomicFetch,
		isa.AtomicAnd | isa.AtomicFetch, isa.AtomicXor | isa.AtomicFetch,
		isa.AtomicXchg, isa.AtomicCmpXchg:
	default:
		return in, bad(ErrUnknownOpcode, "atomic imm %#x", raw.Imm)
	}
	switch sz {
	case 0:
		in.op = opAtomicW
	case 3:
		in.op = opAtomicDW
	default:
		return in, bad(ErrUnknownOpcode, "atomic size")
	}
	if raw.Imm&isa.AtomicFetch != 0 && raw.Src == 10 {
		return in, bad(ErrBadRegister, "r10 is read-only")
	}
	return in, nil
}
