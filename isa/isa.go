// Package isa describes the eBPF instruction set as RFC 9669 and Linux define it:
// opcode constants, the 8-byte instruction slot, and decoding and encoding of
// little-endian bytecode.
//
// It is the vocabulary shared by the interpreter (package vm), the disassembler
// and assembler (this package), and every exporter that prints instructions.
package isa

import (
	"encoding/binary"
	"fmt"
)

// SlotSize is the size in bytes of one instruction slot. An ld_imm64 takes two.
const SlotSize = 8

// Instruction classes (the low three bits of the opcode).
const (
	ClassLD    = 0x00
	ClassLDX   = 0x01
	ClassST    = 0x02
	ClassSTX   = 0x03
	ClassALU   = 0x04
	ClassJMP   = 0x05
	ClassJMP32 = 0x06
	ClassALU64 = 0x07
)

// Source operand bit for ALU and jump instructions.
const (
	SrcK = 0x00 // use imm
	SrcX = 0x08 // use src register
)

// ALU operations (opcode & 0xf0).
const (
	ALUAdd  = 0x00
	ALUSub  = 0x10
	ALUMul  = 0x20
	ALUDiv  = 0x30
	ALUOr   = 0x40
	ALUAnd  = 0x50
	ALULsh  = 0x60
	ALURsh  = 0x70
	ALUNeg  = 0x80
	ALUMod  = 0x90
	ALUXor  = 0xa0
	ALUMov  = 0xb0
	ALUArsh = 0xc0
	ALUEnd  = 0xd0
)

// Byte-swap direction for ALUEnd in the ALU class (the source bit).
const (
	EndToLE = 0x00
	EndToBE = 0x08
)

// Jump operations (opcode & 0xf0).
const (
	JmpJA    = 0x00
	JmpJEQ   = 0x10
	JmpJGT   = 0x20
	JmpJGE   = 0x30
	JmpJSET  = 0x40
	JmpJNE   = 0x50
	JmpJSGT  = 0x60
	JmpJSGE  = 0x70
	JmpCall  = 0x80
	JmpExit  = 0x90
	JmpJLT   = 0xa0
	JmpJLE   = 0xb0
	JmpJSLT  = 0xc0
	JmpJSLE  = 0xd0
	JmpJCond = 0xe0 // may_goto (src = 0)
)

// Load and store sizes (opcode & 0x18).
const (
	SizeW  = 0x00
	SizeH  = 0x08
	SizeB  = 0x10
	SizeDW = 0x18
)

// Load and store modes (opcode & 0xe0).
const (
	ModeIMM    = 0x00
	ModeABS    = 0x20
	ModeIND    = 0x40
	ModeMEM    = 0x60
	ModeMEMSX  = 0x80
	ModeATOMIC = 0xc0
)

// Atomic operations, carried in the imm field of BPF_STX|BPF_ATOMIC.
const (
	AtomicAdd      = 0x00
	AtomicOr       = 0x40
	AtomicAnd      = 0x50
	AtomicXor      = 0xa0
	AtomicFetch    = 0x01
	AtomicXchg     = 0xe0 | AtomicFetch
	AtomicCmpXchg  = 0xf0 | AtomicFetch
	AtomicLoadAcq  = 0x100
	AtomicStoreRel = 0x110
)

// Pseudo source registers of ld_imm64 and call.
const (
	PseudoMapFD       = 1 // ld_imm64: imm is a map (index or fd)
	PseudoMapValue    = 2 // ld_imm64: imm is a map, next imm an offset into its value
	PseudoBTFID       = 3 // ld_imm64: kernel variable by BTF id
	PseudoFunc        = 4 // ld_imm64: imm is a pc-relative function address
	PseudoMapIdx      = 5
	PseudoMapIdxValue = 6

	PseudoCall      = 1 // call: imm is a pc-relative local function
	PseudoKfuncCall = 2 // call: imm is a kernel function BTF id
)

// Offsets that LD_ABS and LD_IND use to reach the network and link-layer headers.
const (
	SKFNetOff = -0x100000
	SKFLLOff  = -0x200000
)

// Insn is one 8-byte instruction slot as it appears in bytecode.
type Insn struct {
	Op  uint8
	Dst uint8 // 0..15
	Src uint8 // 0..15
	Off int16
	Imm int32
}

// Class returns the instruction class.
func (i Insn) Class() uint8 { return i.Op & 0x07 }

// IsLdImm64 reports whether the slot starts a two-slot ld_imm64.
func (i Insn) IsLdImm64() bool { return i.Op == ClassLD|ModeIMM|SizeDW }

// DecodeSlot decodes one little-endian 8-byte slot.
func DecodeSlot(b []byte) Insn {
	_ = b[7]
	return Insn{
		Op:  b[0],
		Dst: b[1] & 0x0f,
		Src: b[1] >> 4,
		Off: int16(binary.LittleEndian.Uint16(b[2:])),
		Imm: int32(binary.LittleEndian.Uint32(b[4:])),
	}
}

// AppendSlot appends the little-endian encoding of i to b.
func AppendSlot(b []byte, i Insn) []byte {
	b = append(b, i.Op, i.Src<<4|i.Dst&0x0f)
	b = binary.LittleEndian.AppendUint16(b, uint16(i.Off))
	return binary.LittleEndian.AppendUint32(b, uint32(i.Imm))
}

// Decode splits little-endian bytecode into slots. It only checks the length;
// package vm validates the program.
func Decode(code []byte) ([]Insn, error) {
	if len(code)%SlotSize != 0 {
		return nil, fmt.Errorf("bytecode length %d is not a multiple of %d", len(code), SlotSize)
	}
	out := make([]Insn, len(code)/SlotSize)
	for i := range out {
		out[i] = DecodeSlot(code[i*SlotSize:])
	}
	return out, nil
}

// Encode is the inverse of Decode.
func Encode(insns []Insn) []byte {
	b := make([]byte, 0, len(insns)*SlotSize)
	for _, i := range insns {
		b = AppendSlot(b, i)
	}
	return b
}

// Imm64 returns the 64-bit constant of an ld_imm64 starting at insns[pc].
// The caller has checked that pc+1 is in range.
func Imm64(insns []Insn, pc int) uint64 {
	return uint64(uint32(insns[pc].Imm)) | uint64(uint32(insns[pc+1].Imm))<<32
}
