package cbpf

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

var aluNames = map[uint16]string{
	aluADD: "add", aluSUB: "sub", aluMUL: "mul", aluDIV: "div", aluOR: "or", aluAND: "and",
	aluLSH: "lsh", aluRSH: "rsh", aluMOD: "mod", aluXOR: "xor",
}

var jmpNames = map[uint16]string{jmpJEQ: "jeq", jmpJGT: "jgt", jmpJGE: "jge", jmpJSET: "jset"}

// Disasm formats the instruction at index pc in tcpdump -d's syntax (jump
// targets absolute), with ancillary loads in bpf_asm's (ld #proto).
func Disasm(in bpf.RawInstruction, pc int) string {
	k := in.K
	sz := map[uint16]string{szW: "ld", szH: "ldh", szB: "ldb"}[in.Op&0x18]
	switch cls := in.Op & 0x07; cls {
	case clsLD, clsLDX:
		reg := "ld"
		if cls == clsLDX {
			reg = "ldx"
		}
		switch in.Op & 0xe0 {
		case modeIMM:
			return fmt.Sprintf("%s #%#x", reg, k)
		case modeLEN:
			return reg + " #pktlen"
		case modeMEM:
			return fmt.Sprintf("%s M[%d]", reg, k)
		case modeMSH:
			return fmt.Sprintf("ldxb 4*([%d]&0xf)", k)
		case modeABS:
			if n, ok := ancillary(in); ok {
				return "ld #" + ancillaryNames[n]
			}
			return fmt.Sprintf("%s [%s]", sz, offset(k))
		case modeIND:
			return fmt.Sprintf("%s [x + %s]", sz, offset(k))
		}
	case clsST:
		return fmt.Sprintf("st M[%d]", k)
	case clsSTX:
		return fmt.Sprintf("stx M[%d]", k)
	case clsALU:
		op := in.Op & 0xf0
		if op == aluNEG {
			return "neg"
		}
		if name, ok := aluNames[op]; ok {
			if in.Op&srcX != 0 {
				return name + " x"
			}
			return fmt.Sprintf("%s #%#x", name, k)
		}
	case clsJMP:
		op := in.Op & 0xf0
		if op == jmpJA {
			return fmt.Sprintf("ja %d", pc+1+int(k))
		}
		if name, ok := jmpNames[op]; ok {
			src := fmt.Sprintf("#%#x", k)
			if in.Op&srcX != 0 {
				src = "x"
			}
			return fmt.Sprintf("%s %s jt %d jf %d", name, src, pc+1+int(in.Jt), pc+1+int(in.Jf))
		}
	case clsRET:
		if in.Op&0x18 == retA {
			return "ret a"
		}
		return fmt.Sprintf("ret #%d", k)
	case clsMISC:
		if in.Op&0xf8 == miscTXA {
			return "txa"
		}
		if in.Op&0xf8 == miscTAX {
			return "tax"
		}
	}
	return fmt.Sprintf(".word %#04x, %d, %d, %#x", in.Op, in.Jt, in.Jf, k)
}

// offset prints a packet offset, naming the kernel's negative bases.
func offset(k uint32) string {
	switch o := int32(k); {
	case o >= 0:
		return fmt.Sprint(o)
	case o >= skfNetOff:
		return fmt.Sprintf("net+%d", o-skfNetOff)
	case o >= skfLLOff:
		return fmt.Sprintf("ll+%d", o-skfLLOff)
	default:
		return fmt.Sprint(o)
	}
}

// String lists f as tcpdump -d does: "(000) ldh [12]", one line each.
func (f Filter) String() string {
	var b strings.Builder
	for i, in := range f {
		fmt.Fprintf(&b, "(%03d) %s\n", i, Disasm(in, i))
	}
	return b.String()
}
