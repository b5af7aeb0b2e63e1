package isa

import (
	"fmt"
	"strings"
)

// The disassembler prints the syntax of the Linux verifier log and of
// `bpftool prog dump xlated` (kernel/bpf/disasm.c, print_bpf_insn, with
// bpftool's spelling of ld_imm64 pseudo sources). Each form prints every
// field of its encoding, so the text assembles back to the same bytes.
//
// Encodings that Linux does not accept (unknown opcodes, reserved fields that
// are not zero, an ld_imm64 without a valid second slot) print as
// ".insn 0x<word>", where word is the slot as a little-endian 64-bit number,
// the form of the conformance suite's "-- raw" sections.

// Format returns the text of the instruction at insns[pc], without the
// "pc: (op)" prefix. An ld_imm64 also consumes insns[pc+1].
func Format(insns []Insn, pc int) string {
	if pc < 0 || pc >= len(insns) {
		return ""
	}
	text, _ := format(insns, pc)
	return text
}

// Disassemble returns one line per instruction, "pc: (op) text", as the
// verifier log prints them. The second slot of an ld_imm64 gets no line.
func Disassemble(insns []Insn) string {
	var b strings.Builder
	for pc := 0; pc < len(insns); {
		text, n := format(insns, pc)
		fmt.Fprintf(&b, "%d: (%02x) %s\n", pc, insns[pc].Op, text)
		pc += n
	}
	return b.String()
}

// RawText is the ".insn" form of a single slot.
func RawText(i Insn) string {
	return fmt.Sprintf(".insn %#016x", rawWord(i))
}

// rawWord packs a slot into the 64-bit number whose little-endian bytes are
// its encoding.
func rawWord(i Insn) uint64 {
	return uint64(i.Op) | uint64(i.Src&0xf)<<12 | uint64(i.Dst&0xf)<<8 |
		uint64(uint16(i.Off))<<16 | uint64(uint32(i.Imm))<<32
}

// slotFromWord is the inverse of rawWord.
func slotFromWord(w uint64) Insn {
	return Insn{
		Op:  uint8(w),
		Dst: uint8(w>>8) & 0xf,
		Src: uint8(w>>12) & 0xf,
		Off: int16(uint16(w >> 16)),
		Imm: int32(uint32(w >> 32)),
	}
}

// format returns the text of insns[pc] and the number of slots it used.
func format(insns []Insn, pc int) (string, int) {
	i := insns[pc]
	if i.IsLdImm64() {
		if text, ok := formatLdImm64(insns, pc); ok {
			return text, 2
		}
		return RawText(i), 1
	}
	if text, ok := formatSlot(i); ok {
		return text, 1
	}
	return RawText(i), 1
}

// formatSlot formats a one-slot instruction; ok is false for encodings that
// Linux rejects.
func formatSlot(i Insn) (string, bool) {
	switch i.Class() {
	case ClassALU, ClassALU64:
		return formatALU(i)
	case ClassJMP, ClassJMP32:
		return formatJump(i)
	case ClassLDX:
		return formatLoad(i)
	case ClassST:
		return formatStoreImm(i)
	case ClassSTX:
		return formatStoreReg(i)
	default: // ClassLD
		return formatPacketLoad(i)
	}
}

var aluOpText = map[uint8]string{
	ALUAdd: "+=", ALUSub: "-=", ALUMul: "*=", ALUDiv: "/=", ALUOr: "|=",
	ALUAnd: "&=", ALULsh: "<<=", ALURsh: ">>=", ALUMod: "%=", ALUXor: "^=",
	ALUMov: "=", ALUArsh: "s>>=",
}

// signedALUText holds sdiv and smod, which are div and mod with off = 1.
var signedALUText = map[uint8]string{ALUDiv: "s/=", ALUMod: "s%="}

var movsxText = map[int16]string{8: "(s8)", 16: "(s16)", 32: "(s32)"}

// addrSpaceCast is the off value of the arena address-space cast mov.
const addrSpaceCast = 1

// regName returns "rN" for 64-bit operations and "wN" for 32-bit ones.
func regName(class uint8, r uint8) string {
	if class == ClassALU || class == ClassJMP32 {
		return fmt.Sprintf("w%d", r)
	}
	return fmt.Sprintf("r%d", r)
}

func formatALU(i Insn) (string, bool) {
	op, class := i.Op&0xf0, i.Class()
	dst := regName(class, i.Dst)
	switch op {
	case ALUEnd:
		return formatEndian(i)
	case ALUNeg:
		if i.Op&SrcX != 0 || i.Src != 0 || i.Off != 0 || i.Imm != 0 {
			return "", false
		}
		return fmt.Sprintf("%s = -%s", dst, dst), true
	}
	opText, ok := aluOpText[op]
	if !ok {
		return "", false
	}
	switch {
	case i.Off == 0:
	case (op == ALUDiv || op == ALUMod) && i.Off == 1:
		opText = signedALUText[op]
	case op == ALUMov && i.Op&SrcX != 0:
		return formatMovX(i)
	default:
		return "", false
	}
	if i.Op&SrcX == 0 {
		if i.Src != 0 {
			return "", false
		}
		return fmt.Sprintf("%s %s %d", dst, opText, i.Imm), true
	}
	if i.Imm != 0 {
		return "", false
	}
	return fmt.Sprintf("%s %s %s", dst, opText, regName(class, i.Src)), true
}

// formatMovX formats the register movs with a non-zero offset: sign
// extension (movsx) and the arena address-space cast.
func formatMovX(i Insn) (string, bool) {
	class := i.Class()
	if class == ClassALU64 && i.Off == addrSpaceCast {
		return fmt.Sprintf("r%d = addr_space_cast(r%d, %d, %d)",
			i.Dst, i.Src, uint32(i.Imm)>>16, uint16(i.Imm)), true
	}
	cast, ok := movsxText[i.Off]
	if !ok || i.Imm != 0 || (class == ClassALU && i.Off == 32) {
		return "", false
	}
	return fmt.Sprintf("%s = %s%s", regName(class, i.Dst), cast, regName(class, i.Src)), true
}

// formatEndian formats be/le (ALU class, direction in the source bit) and
// bswap (ALU64 class, source bit clear).
func formatEndian(i Insn) (string, bool) {
	if i.Src != 0 || i.Off != 0 || (i.Imm != 16 && i.Imm != 32 && i.Imm != 64) {
		return "", false
	}
	name := "le"
	switch {
	case i.Class() == ClassALU64 && i.Op&SrcX != 0:
		return "", false
	case i.Class() == ClassALU64:
		name = "bswap"
	case i.Op&SrcX == EndToBE:
		name = "be"
	}
	return fmt.Sprintf("r%d = %s%d r%d", i.Dst, name, i.Imm, i.Dst), true
}

var jumpOpText = map[uint8]string{
	JmpJEQ: "==", JmpJGT: ">", JmpJGE: ">=", JmpJSET: "&", JmpJNE: "!=",
	JmpJSGT: "s>", JmpJSGE: "s>=", JmpJLT: "<", JmpJLE: "<=",
	JmpJSLT: "s<", JmpJSLE: "s<=",
}

// Opcodes of the jumps that are not conditional.
const (
	opJA      = ClassJMP | JmpJA
	opGotol   = ClassJMP32 | JmpJA
	opCall    = ClassJMP | JmpCall
	opCallx   = ClassJMP | JmpCall | SrcX
	opExit    = ClassJMP | JmpExit
	opMayGoto = ClassJMP | JmpJCond
)

func formatJump(i Insn) (string, bool) {
	switch i.Op {
	case opJA:
		return fmt.Sprintf("goto pc%+d", i.Off), i.Dst == 0 && i.Src == 0 && i.Imm == 0
	case opGotol:
		return fmt.Sprintf("gotol pc%+d", i.Imm), i.Dst == 0 && i.Src == 0 && i.Off == 0
	case opMayGoto:
		return fmt.Sprintf("may_goto pc%+d", i.Off), i.Dst == 0 && i.Src == 0 && i.Imm == 0
	case opExit:
		return "exit", i.Dst == 0 && i.Src == 0 && i.Off == 0 && i.Imm == 0
	case opCall:
		return formatCall(i)
	case opCallx:
		return fmt.Sprintf("callx r%d", i.Dst), i.Src == 0 && i.Off == 0 && i.Imm == 0
	}
	opText, ok := jumpOpText[i.Op&0xf0]
	if !ok {
		return "", false
	}
	dst := regName(i.Class(), i.Dst)
	if i.Op&SrcX != 0 {
		return fmt.Sprintf("if %s %s %s goto pc%+d", dst, opText, regName(i.Class(), i.Src), i.Off), i.Imm == 0
	}
	return fmt.Sprintf("if %s %s %#x goto pc%+d", dst, opText, uint32(i.Imm), i.Off), i.Src == 0
}

// kfuncName is what the verifier log prints for a kfunc call when it has no
// BTF to name it.
const kfuncName = "kernel-function"

func formatCall(i Insn) (string, bool) {
	if i.Dst != 0 || i.Off != 0 {
		return "", false
	}
	switch i.Src {
	case 0:
		return fmt.Sprintf("call %s#%d", HelperName(i.Imm), i.Imm), true
	case PseudoCall:
		return fmt.Sprintf("call pc%+d", i.Imm), true
	case PseudoKfuncCall:
		return fmt.Sprintf("call %s#%d", kfuncName, i.Imm), true
	}
	return "", false
}

var sizeText = map[uint8]string{SizeB: "u8", SizeH: "u16", SizeW: "u32", SizeDW: "u64"}

var signedSizeText = map[uint8]string{SizeB: "s8", SizeH: "s16", SizeW: "s32"}

// memRef formats "(r1 +4)", the address of a load or store.
func memRef(r uint8, off int16) string {
	return fmt.Sprintf("(r%d %+d)", r, off)
}

func formatLoad(i Insn) (string, bool) {
	size := i.Op & 0x18
	var ty string
	switch i.Op & 0xe0 {
	case ModeMEM:
		ty = sizeText[size]
	case ModeMEMSX:
		ty = signedSizeText[size]
	}
	if ty == "" || i.Imm != 0 {
		return "", false
	}
	return fmt.Sprintf("r%d = *(%s *)%s", i.Dst, ty, memRef(i.Src, i.Off)), true
}

func formatStoreImm(i Insn) (string, bool) {
	if i.Op&0xe0 != ModeMEM || i.Src != 0 {
		return "", false
	}
	return fmt.Sprintf("*(%s *)%s = %d", sizeText[i.Op&0x18], memRef(i.Dst, i.Off), i.Imm), true
}

func formatStoreReg(i Insn) (string, bool) {
	ty := sizeText[i.Op&0x18]
	switch i.Op & 0xe0 {
	case ModeMEM:
		if i.Imm != 0 {
			return "", false
		}
		return fmt.Sprintf("*(%s *)%s = r%d", ty, memRef(i.Dst, i.Off), i.Src), true
	case ModeATOMIC:
		return formatAtomic(i)
	}
	return "", false
}

var atomicOpName = map[int32]string{AtomicAdd: "add", AtomicOr: "or", AtomicAnd: "and", AtomicXor: "xor"}

var atomicOpText = map[int32]string{AtomicAdd: "+=", AtomicOr: "|=", AtomicAnd: "&=", AtomicXor: "^="}

func formatAtomic(i Insn) (string, bool) {
	size := i.Op & 0x18
	ty, addr := sizeText[size], memRef(i.Dst, i.Off)
	switch i.Imm {
	case AtomicLoadAcq:
		return fmt.Sprintf("r%d = load_acquire((%s *)%s)", i.Dst, ty, memRef(i.Src, i.Off)), true
	case AtomicStoreRel:
		return fmt.Sprintf("store_release((%s *)%s, r%d)", ty, addr, i.Src), true
	}
	// The read-modify-write operations exist for 32 and 64 bits only.
	var width string
	switch size {
	case SizeW:
	case SizeDW:
		width = "64"
	default:
		return "", false
	}
	if text, ok := atomicOpText[i.Imm]; ok {
		return fmt.Sprintf("lock *(%s *)%s %s r%d", ty, addr, text, i.Src), true
	}
	if name, ok := atomicOpName[i.Imm&^AtomicFetch]; ok && i.Imm&AtomicFetch != 0 {
		return fmt.Sprintf("r%d = atomic%s_fetch_%s((%s *)%s, r%d)", i.Src, width, name, ty, addr, i.Src), true
	}
	switch i.Imm {
	case AtomicXchg:
		return fmt.Sprintf("r%d = atomic%s_xchg((%s *)%s, r%d)", i.Src, width, ty, addr, i.Src), true
	case AtomicCmpXchg:
		return fmt.Sprintf("r0 = atomic%s_cmpxchg((%s *)%s, r0, r%d)", width, ty, addr, i.Src), true
	}
	return "", false
}

// formatPacketLoad formats the legacy LD_ABS and LD_IND packet loads.
func formatPacketLoad(i Insn) (string, bool) {
	size := i.Op & 0x18
	if size == SizeDW || i.Dst != 0 || i.Off != 0 {
		return "", false
	}
	ty := sizeText[size]
	switch i.Op & 0xe0 {
	case ModeABS:
		return fmt.Sprintf("r0 = *(%s *)skb[%d]", ty, i.Imm), i.Src == 0
	case ModeIND:
		return fmt.Sprintf("r0 = *(%s *)skb[r%d + %d]", ty, i.Src, i.Imm), true
	}
	return "", false
}

// formatLdImm64 formats a two-slot ld_imm64 the way bpftool does: a plain
// constant in hex, map references as map[id:N], subprogram addresses as
// subprog[+N]. The map-index and BTF-id sources, which bpftool prints as
// bare numbers, get spellings of the same shape so that they stay distinct.
func formatLdImm64(insns []Insn, pc int) (string, bool) {
	if pc+1 >= len(insns) {
		return "", false
	}
	i, next := insns[pc], insns[pc+1]
	if i.Off != 0 || next.Op != 0 || next.Dst != 0 || next.Src != 0 || next.Off != 0 {
		return "", false
	}
	lo, hi := uint32(i.Imm), uint32(next.Imm)
	var value string
	switch i.Src {
	case 0:
		value = fmt.Sprintf("%#x", Imm64(insns, pc))
	case PseudoMapFD:
		value = fmt.Sprintf("map[id:%d]", lo)
	case PseudoMapValue:
		value = fmt.Sprintf("map[id:%d][0]+%d", lo, hi)
	case PseudoBTFID:
		value = fmt.Sprintf("btf_id[%d]", lo)
	case PseudoFunc:
		value = fmt.Sprintf("subprog[%+d]", i.Imm)
	case PseudoMapIdx:
		value = fmt.Sprintf("map[idx:%d]", lo)
	case PseudoMapIdxValue:
		value = fmt.Sprintf("map[idx:%d][0]+%d", lo, hi)
	default:
		return "", false
	}
	// Only the map-value forms carry the second immediate.
	if hi != 0 && i.Src != PseudoMapValue && i.Src != PseudoMapIdxValue && i.Src != 0 {
		return "", false
	}
	return fmt.Sprintf("r%d = %s", i.Dst, value), true
}
