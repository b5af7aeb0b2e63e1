package conformance

import (
	"strings"

	"github.com/bpfscope/bpfscope/isa"
)

// Groups is a set of conformance groups (RFC 9669 section 2.4).
type Groups uint32

// The conformance groups. A runner enables GroupsDefault unless told
// otherwise: callx and packet are off by default.
const (
	GroupBase32 Groups = 1 << iota
	GroupBase64
	GroupAtomic32
	GroupAtomic64
	GroupDivMul32
	GroupDivMul64
	GroupPacket
	GroupCallx

	GroupsDefault = GroupBase32 | GroupBase64 | GroupAtomic32 | GroupAtomic64 | GroupDivMul32 | GroupDivMul64
	GroupsAll     = GroupsDefault | GroupPacket | GroupCallx
)

var groupNames = []string{"base32", "base64", "atomic32", "atomic64", "divmul32", "divmul64", "packet", "callx"}

// String lists the groups as the reference runner does: "base32,base64",
// or "none".
func (g Groups) String() string {
	var names []string
	for i, name := range groupNames {
		if g&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// requirement is what one instruction needs.
type requirement struct {
	version int
	groups  Groups
}

// Requirements returns the lowest CPU version (1..4) and the conformance
// groups a program needs. It follows the classification with which the
// reference runner (bpf_conformance) decides whether to skip a test:
// v2 adds the JMP-class jlt/jle/jslt/jsle; v3 the JMP32 class, atomics and
// calls to local functions and kfuncs; v4 ja32, sdiv/smod, movsx, the
// sign-extending loads and bswap. Slots it does not recognise add nothing.
// The second slot of an ld_imm64 is not examined.
func Requirements(prog []isa.Insn) (version int, groups Groups) {
	version = 1
	for pc := 0; pc < len(prog); pc++ {
		if r, ok := classify(prog[pc]); ok {
			version = max(version, r.version)
			groups |= r.groups
		}
		if prog[pc].IsLdImm64() {
			pc++
		}
	}
	return version, groups
}

// byOpcode holds the instructions that the reference classifies by opcode
// alone. Three entries keep quirks of its table: sub64 with a register
// source (0x1f), jsgt with a register (0x6d) and neg64 (0x87) count as
// base32, and bswap (0xd7) is base32 at every width.
var byOpcode = map[uint8]requirement{
	0x00: {1, GroupBase64}, // second slot of ld_imm64
	0x20: {1, GroupPacket}, 0x28: {1, GroupPacket}, 0x30: {1, GroupPacket},
	0x40: {1, GroupPacket}, 0x48: {1, GroupPacket}, 0x50: {1, GroupPacket},
	0x61: {1, GroupBase32}, 0x69: {1, GroupBase32}, 0x71: {1, GroupBase32},
	0x62: {1, GroupBase32}, 0x6a: {1, GroupBase32}, 0x72: {1, GroupBase32},
	0x63: {1, GroupBase32}, 0x6b: {1, GroupBase32}, 0x73: {1, GroupBase32},
	0x79: {1, GroupBase64}, 0x7a: {1, GroupBase64}, 0x7b: {1, GroupBase64},
	0x81: {4, GroupBase32}, 0x89: {4, GroupBase32}, 0x91: {4, GroupBase32},
	0x06: {4, GroupBase32},                         // ja32
	0x05: {1, GroupBase32}, 0x95: {1, GroupBase32}, // ja, exit
	0x8d: {1, GroupCallx},
	0x1f: {1, GroupBase32}, 0x6d: {1, GroupBase32}, 0x87: {1, GroupBase32},
	0xd7: {4, GroupBase32},
}

func classify(i isa.Insn) (requirement, bool) {
	if r, ok := byOpcode[i.Op]; ok {
		return r, true
	}
	switch {
	case i.IsLdImm64():
		return requirement{1, GroupBase64}, i.Src <= isa.PseudoMapIdxValue
	case i.Op == isa.ClassSTX|isa.ModeATOMIC|isa.SizeW:
		return classifyAtomic(i, GroupAtomic32)
	case i.Op == isa.ClassSTX|isa.ModeATOMIC|isa.SizeDW:
		return classifyAtomic(i, GroupAtomic64)
	case i.Op == isa.ClassJMP|isa.JmpCall:
		return classifyCall(i)
	}
	switch i.Class() {
	case isa.ClassALU, isa.ClassALU64:
		return classifyALU(i)
	case isa.ClassJMP, isa.ClassJMP32:
		return classifyJump(i)
	}
	return requirement{}, false
}

func classifyAtomic(i isa.Insn, g Groups) (requirement, bool) {
	switch i.Imm {
	case isa.AtomicAdd, isa.AtomicOr, isa.AtomicAnd, isa.AtomicXor,
		isa.AtomicAdd | isa.AtomicFetch, isa.AtomicOr | isa.AtomicFetch,
		isa.AtomicAnd | isa.AtomicFetch, isa.AtomicXor | isa.AtomicFetch,
		isa.AtomicXchg, isa.AtomicCmpXchg:
		return requirement{3, g}, true
	}
	return requirement{}, false
}

func classifyCall(i isa.Insn) (requirement, bool) {
	switch i.Src {
	case 0:
		return requirement{1, GroupBase32}, true
	case isa.PseudoCall, isa.PseudoKfuncCall:
		return requirement{3, GroupBase32}, true
	}
	return requirement{}, false
}

func classifyALU(i isa.Insn) (requirement, bool) {
	base, divmul := GroupBase32, GroupDivMul32
	if i.Class() == isa.ClassALU64 {
		base, divmul = GroupBase64, GroupDivMul64
	}
	regSrc := i.Op&isa.SrcX != 0
	switch i.Op & 0xf0 {
	case isa.ALUAdd, isa.ALUSub, isa.ALUOr, isa.ALUAnd, isa.ALULsh, isa.ALURsh, isa.ALUXor, isa.ALUArsh:
		return requirement{1, base}, true
	case isa.ALUNeg:
		return requirement{1, base}, !regSrc
	case isa.ALUMul:
		return requirement{1, divmul}, true
	case isa.ALUDiv, isa.ALUMod:
		switch i.Off {
		case 0:
			return requirement{1, divmul}, true
		case 1: // sdiv, smod
			return requirement{4, divmul}, true
		}
		return requirement{}, false
	case isa.ALUMov:
		return classifyMov(i, base)
	case isa.ALUEnd:
		return classifyEndian(i)
	}
	return requirement{}, false
}

// classifyMov: the reference does not look at the offset of a mov with an
// immediate.
func classifyMov(i isa.Insn, base Groups) (requirement, bool) {
	switch {
	case i.Op&isa.SrcX == 0 || i.Off == 0:
		return requirement{1, base}, true
	case i.Off == 8 || i.Off == 16 || (i.Off == 32 && i.Class() == isa.ClassALU64):
		return requirement{4, base}, true
	}
	return requirement{}, false
}

// classifyEndian handles le and be; bswap (0xd7) is in byOpcode.
func classifyEndian(i isa.Insn) (requirement, bool) {
	if i.Class() != isa.ClassALU {
		return requirement{}, false
	}
	switch i.Imm {
	case 16, 32:
		return requirement{1, GroupBase32}, true
	case 64:
		return requirement{1, GroupBase64}, true
	}
	return requirement{}, false
}

func classifyJump(i isa.Insn) (requirement, bool) {
	switch i.Op & 0xf0 {
	case isa.JmpJEQ, isa.JmpJGT, isa.JmpJGE, isa.JmpJSET, isa.JmpJNE, isa.JmpJSGT, isa.JmpJSGE:
		if i.Class() == isa.ClassJMP32 {
			return requirement{3, GroupBase32}, true
		}
		return requirement{1, GroupBase64}, true
	case isa.JmpJLT, isa.JmpJLE, isa.JmpJSLT, isa.JmpJSLE:
		if i.Class() == isa.ClassJMP32 {
			return requirement{3, GroupBase32}, true
		}
		return requirement{2, GroupBase64}, true
	}
	return requirement{}, false
}
