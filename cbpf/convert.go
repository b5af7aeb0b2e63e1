package cbpf

import (
	"fmt"
	"math"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
	"golang.org/x/net/bpf"
)

// Mode says where a classic filter runs, which decides how it is checked
// and what its absolute loads read.
type Mode int

const (
	// Socket is a socket filter (SO_ATTACH_FILTER, a packet capture):
	// absolute and indirect loads read the packet, SKF_AD_* offsets
	// ancillary data of the socket buffer.
	Socket Mode = iota
	// Seccomp is a seccomp filter: absolute word loads read struct
	// seccomp_data.
	Seccomp
)

func (m Mode) String() string {
	if m == Seccomp {
		return "seccomp"
	}
	return "socket"
}

// Registers of the converted program, as bpf_convert_filter assigns them.
const (
	regA   = 0  // BPF_REG_A: the accumulator and the return value
	regArg = 1  // BPF_REG_ARG1..3: arguments of the calls it emits
	regTmp = 2  // BPF_REG_TMP
	regCtx = 6  // BPF_REG_CTX: the socket buffer or seccomp_data
	regX   = 7  // BPF_REG_X
	regFP  = 10 // scratch cell M[k] is the word at fp-(4k+4)
)

// Helpers the conversion calls that are kernel functions, not BPF helpers
// (the kernel emits calls to them directly). bpfscope gives them ids above
// every real helper's.
const (
	HelperPayOffset  int32 = 0x7fff0001 // bpf_skb_get_pay_offset: SKF_AD_PAY_OFFSET
	HelperNlattr     int32 = 0x7fff0002 // bpf_skb_get_nlattr: SKF_AD_NLATTR
	HelperNlattrNest int32 = 0x7fff0003 // bpf_skb_get_nlattr_nest: SKF_AD_NLATTR_NEST
	HelperDevType    int32 = 0x7fff0004 // skb->dev->type: SKF_AD_HATYPE
	helperPrandom    int32 = 7          // bpf_get_prandom_u32: SKF_AD_RANDOM (bpf_user_rnd_u32)
	helperCPU        int32 = 8          // bpf_get_smp_processor_id: SKF_AD_CPU (bpf_get_raw_cpu_id)
)

// Offsets of struct __sk_buff fields (include/uapi/linux/bpf.h) that
// ancillary loads read.
const (
	skbLen, skbPktType, skbMark, skbQueueMapping, skbProtocol     = 0, 4, 8, 12, 16
	skbVlanPresent, skbVlanTCI, skbVlanProto, skbIfindex, skbHash = 20, 24, 28, 40, 68
)

// ListingFile is the file name the converted program's lines give: the
// filter's listing, as Filter.String writes it.
const ListingFile = "filter.cbpf"

// Program is a checked classic filter and the eBPF program it became.
type Program struct {
	Filter Filter
	Mode   Mode
	// EBPF is the converted program. Its Lines name, for every
	// instruction, the classic instruction it came from as a line of the
	// filter's listing (Filter.String: file ListingFile, line = classic
	// index + 1, text "(003) jeq ..."; nil for the prologue), so traces,
	// coverage and profiles speak of classic instructions.
	EBPF *vm.Program
	// Origin maps each eBPF pc to its classic index (-1: the prologue).
	Origin []int
}

// Load checks f as the kernel does for mode (Check or CheckSeccomp) and
// converts it (see Convert).
func Load(name string, f Filter, mode Mode) (*Program, error) {
	check := f.Check
	if mode == Seccomp {
		check = f.CheckSeccomp
	}
	if err := check(); err != nil {
		return nil, err
	}
	return Convert(name, f, mode)
}

// Convert translates a checked filter to eBPF as bpf_convert_filter does:
// A in r0, X in r7, the context in r6, the scratch cells on the stack,
// ALU instructions mapped as they are, conditional jumps with a negative
// constant compared through a zero-extended register, jumps whose true
// branch is the next instruction inverted, division or modulo by X guarded
// so that X == 0 returns 0 from the filter, RET as mov r0 + exit.
//
// Where the kernel reads its own structures, the converted program reads
// struct __sk_buff, whose fields hold the same values: an ancillary load of
// the protocol is `r0 = *(u32 *)(r6 + 16)` (__sk_buff.protocol) instead of
// the kernel's load at offsetof(struct sk_buff, protocol). A packet load
// becomes one eBPF LD_ABS or LD_IND, the instruction through which the
// kernel's own expansion (a bounds-checked direct load falling back to
// bpf_skb_load_helper_N) computes the same value and ends the filter with
// 0 when the bytes are not there; the prologue therefore does not cache
// skb->data and the headlen in r8 and r9. SKF_AD_HATYPE calls a function
// (HelperDevType, answering the device's type) where the kernel loads
// skb->dev->type.
func Convert(name string, f Filter, mode Mode) (*Program, error) {
	if len(f) == 0 || len(f) > MaxInsns {
		return nil, bad(f, -1, "%d instructions, need 1 to BPF_MAXINSNS (%d)", len(f), MaxInsns)
	}
	c := converter{f: f, mode: mode}
	// Prologue: classic BPF starts with A = X = 0.
	c.emit(-1, alu32(isa.ALUXor|isa.SrcX, regA, regA, 0))
	c.emit(-1, alu32(isa.ALUXor|isa.SrcX, regX, regX, 0))
	c.emit(-1, mov64(regCtx, regArg))
	c.addrs = make([]int, len(f)+1)
	for i, in := range f {
		c.addrs[i] = len(c.out)
		if err := c.convert(i, in); err != nil {
			return nil, err
		}
	}
	c.addrs[len(f)] = len(c.out)
	insns := make([]isa.Insn, len(c.out))
	origin := make([]int, len(c.out))
	lines := make([]*isa.Line, len(c.out))
	texts := make([]*isa.Line, len(f))
	for i, in := range f {
		texts[i] = &isa.Line{Func: name, File: ListingFile, Line: i + 1, Text: fmt.Sprintf("(%03d) %s", i, Disasm(in, i))}
	}
	for pc, e := range c.out {
		if e.target >= len(f) {
			return nil, bad(f, e.from, "jump to instruction %d leaves the filter of %d instructions", e.target, len(f))
		}
		if e.target >= 0 {
			off := c.addrs[e.target] - pc - 1
			if off < math.MinInt16 || off > math.MaxInt16 {
				return nil, bad(f, e.from, "jump of %d eBPF instructions does not fit a 16-bit offset", off)
			}
			e.ins.Off = int16(off)
		}
		insns[pc], origin[pc] = e.ins, e.from
		if e.from >= 0 {
			lines[pc] = texts[e.from]
		}
	}
	p, err := vm.NewProgram(name, insns)
	if err != nil {
		return nil, fmt.Errorf("converted classic filter: %w", err)
	}
	p.Lines = lines
	return &Program{Filter: f, Mode: mode, EBPF: p, Origin: origin}, nil
}

type emitted struct {
	ins    isa.Insn
	from   int // classic index, -1 for the prologue
	target int // classic index the jump goes to, -1 if none
}

type converter struct {
	f     Filter
	mode  Mode
	out   []emitted
	addrs []int // first eBPF pc of each classic instruction
}

func (c *converter) emit(from int, in isa.Insn) {
	c.out = append(c.out, emitted{ins: in, from: from, target: -1})
}

func (c *converter) jump(from int, in isa.Insn, target int) {
	c.out = append(c.out, emitted{ins: in, from: from, target: target})
}

func alu32(op uint8, dst, src uint8, imm int32) isa.Insn {
	return isa.Insn{Op: isa.ClassALU | op, Dst: dst, Src: src, Imm: imm}
}

func mov64(dst, src uint8) isa.Insn {
	return isa.Insn{Op: isa.ClassALU64 | isa.ALUMov | isa.SrcX, Dst: dst, Src: src}
}

func ldxw(dst, src uint8, off int16) isa.Insn {
	return isa.Insn{Op: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: dst, Src: src, Off: off}
}

func call(id int32) isa.Insn { return isa.Insn{Op: isa.ClassJMP | isa.JmpCall, Imm: id} }

func exit() isa.Insn { return isa.Insn{Op: isa.ClassJMP | isa.JmpExit} }

func be16(dst uint8) isa.Insn {
	return isa.Insn{Op: isa.ClassALU | isa.ALUEnd | isa.EndToBE, Dst: dst, Imm: 16}
}

// scratch is the stack offset of M[k].
func scratch(k uint32) int16 { return -int16(k*4 + 4) }

func (c *converter) convert(i int, in bpf.RawInstruction) error {
	k := in.K
	switch cls := in.Op & 0x07; {
	case cls == clsALU:
		if in.Op == clsALU|aluDIV|srcX || in.Op == clsALU|aluMOD|srcX {
			// Division by X == 0 ends a classic filter with 0.
			c.emit(i, alu32(isa.ALUMov|isa.SrcX, regX, regX, 0))
			c.emit(i, isa.Insn{Op: isa.ClassJMP | isa.JmpJNE | isa.SrcK, Dst: regX, Off: 2})
			c.emit(i, alu32(isa.ALUXor|isa.SrcX, regA, regA, 0))
			c.emit(i, exit())
		}
		alu := isa.Insn{Op: uint8(in.Op), Dst: regA, Imm: int32(k)}
		if in.Op&srcX != 0 && in.Op&0xf0 != aluNEG {
			alu.Src = regX // the kernel sets src for K forms too; eBPF wants it zero
		}
		c.emit(i, alu)

	case in.Op == clsLD|modeABS|szW || in.Op == clsLD|modeABS|szH || in.Op == clsLD|modeABS|szB ||
		in.Op == clsLD|modeIND|szW || in.Op == clsLD|modeIND|szH || in.Op == clsLD|modeIND|szB:
		if c.mode == Seccomp {
			if in.Op != clsLD|modeABS|szW {
				return bad(c.f, i, "not allowed in a seccomp filter")
			}
			c.emit(i, ldxw(regA, regCtx, int16(k))) // A = *(u32 *)(seccomp_data + k)
			return nil
		}
		if n, ok := ancillary(in); ok {
			c.ancillary(i, n)
			return nil
		}
		ld := isa.Insn{Op: uint8(in.Op), Imm: int32(k)} // r0 = the bytes; IND adds X
		if in.Op&0xe0 == modeIND {
			ld.Src = regX
		}
		c.emit(i, ld)

	case in.Op == clsLDX|szB|modeMSH: // X = 4 * (pkt[k] & 0xf), A kept
		if c.mode == Seccomp {
			return bad(c.f, i, "not allowed in a seccomp filter")
		}
		c.emit(i, mov64(regX, regA))
		c.emit(i, isa.Insn{Op: isa.ClassLD | isa.ModeABS | isa.SizeB, Imm: int32(k)})
		c.emit(i, alu32(isa.ALUAnd|isa.SrcK, regA, 0, 0xf))
		c.emit(i, alu32(isa.ALULsh|isa.SrcK, regA, 0, 2))
		c.emit(i, mov64(regTmp, regX))
		c.emit(i, mov64(regX, regA))
		c.emit(i, mov64(regA, regTmp))

	case cls == clsJMP:
		return c.jumps(i, in)

	case in.Op == clsRET|retK:
		c.emit(i, alu32(isa.ALUMov|isa.SrcK, regA, 0, int32(k)))
		c.emit(i, exit())
	case in.Op == clsRET|retA:
		c.emit(i, exit())

	case in.Op == clsST:
		c.emit(i, isa.Insn{Op: isa.ClassSTX | isa.ModeMEM | isa.SizeW, Dst: regFP, Src: regA, Off: scratch(k)})
	case in.Op == clsSTX:
		c.emit(i, isa.Insn{Op: isa.ClassSTX | isa.ModeMEM | isa.SizeW, Dst: regFP, Src: regX, Off: scratch(k)})
	case in.Op == clsLD|modeMEM:
		c.emit(i, ldxw(regA, regFP, scratch(k)))
	case in.Op == clsLDX|modeMEM:
		c.emit(i, ldxw(regX, regFP, scratch(k)))

	case in.Op == clsLD|modeIMM:
		c.emit(i, alu32(isa.ALUMov|isa.SrcK, regA, 0, int32(k)))
	case in.Op == clsLDX|modeIMM:
		c.emit(i, alu32(isa.ALUMov|isa.SrcK, regX, 0, int32(k)))

	case in.Op == clsLD|szW|modeLEN, in.Op == clsLDX|szW|modeLEN:
		dst := uint8(regA)
		if cls == clsLDX {
			dst = regX
		}
		if c.mode == Seccomp { // seccomp_check_filter: the length is sizeof(struct seccomp_data)
			c.emit(i, alu32(isa.ALUMov|isa.SrcK, dst, 0, SeccompDataSize))
		} else {
			c.emit(i, ldxw(dst, regCtx, skbLen))
		}

	case in.Op == clsMISC|miscTAX:
		c.emit(i, mov64(regX, regA))
	case in.Op == clsMISC|miscTXA:
		c.emit(i, mov64(regA, regX))

	default:
		return bad(c.f, i, "unknown opcode %#04x", in.Op)
	}
	return nil
}

// ancillary converts a SKF_AD_* load (convert_bpf_extensions).
func (c *converter) ancillary(i, n int) {
	field := func(off int16) { c.emit(i, ldxw(regA, regCtx, off)) }
	callWithAX := func(id int32) { // the kernel's call(ctx, A, X)
		c.emit(i, mov64(regArg, regCtx))
		c.emit(i, mov64(regArg+1, regA))
		c.emit(i, mov64(regArg+2, regX))
		c.emit(i, call(id))
	}
	switch n {
	case adProtocol:
		field(skbProtocol)
		c.emit(i, be16(regA))
	case adPktType:
		field(skbPktType)
	case adIfindex:
		field(skbIfindex)
	case adMark:
		field(skbMark)
	case adQueue:
		field(skbQueueMapping)
	case adRxhash:
		field(skbHash)
	case adVlanTag:
		field(skbVlanTCI)
	case adVlanTagPresent:
		field(skbVlanPresent)
	case adVlanTPID:
		field(skbVlanProto)
		c.emit(i, be16(regA))
	case adAluXorX:
		c.emit(i, alu32(isa.ALUXor|isa.SrcX, regA, regX, 0))
	case adHatype:
		callWithAX(HelperDevType)
	case adPayOffset:
		callWithAX(HelperPayOffset)
	case adNlattr:
		callWithAX(HelperNlattr)
	case adNlattrNest:
		callWithAX(HelperNlattrNest)
	case adCPU:
		callWithAX(helperCPU)
	case adRandom:
		callWithAX(helperPrandom)
	}
}

// jumps converts JA and the conditional jumps.
func (c *converter) jumps(i int, in bpf.RawInstruction) error {
	if in.Op == clsJMP|jmpJA {
		c.jump(i, isa.Insn{Op: isa.ClassJMP | isa.JmpJA}, i+1+int(in.K))
		return nil
	}
	op := uint8(in.Op & 0xf0)
	j := isa.Insn{Dst: regA}
	src := uint8(in.Op & srcX)
	switch {
	case src == srcK && int32(in.K) < 0:
		// eBPF immediates are sign-extended: compare with the constant
		// zero-extended in a register instead.
		c.emit(i, alu32(isa.ALUMov|isa.SrcK, regTmp, 0, int32(in.K)))
		j.Src, src = regTmp, isa.SrcX
	case src == srcK:
		j.Imm = int32(in.K)
	default:
		j.Src = regX
	}
	jt, jf := i+1+int(in.Jt), i+1+int(in.Jf)
	if in.Jf == 0 { // the false branch is the next instruction
		j.Op = isa.ClassJMP | op | src
		c.jump(i, j, jt)
		return nil
	}
	if in.Jt == 0 { // the true branch is: invert where eBPF can
		inverse := map[uint8]uint8{isa.JmpJEQ: isa.JmpJNE, isa.JmpJGT: isa.JmpJLE, isa.JmpJGE: isa.JmpJLT}
		if inv, ok := inverse[op]; ok {
			j.Op = isa.ClassJMP | inv | src
			c.jump(i, j, jf)
			return nil
		}
	}
	j.Op = isa.ClassJMP | op | src
	c.jump(i, j, jt)
	c.jump(i, isa.Insn{Op: isa.ClassJMP | isa.JmpJA}, jf)
	return nil
}

// ClassicPC returns the classic instruction an eBPF pc of the converted
// program came from, or -1 for the prologue.
func (p *Program) ClassicPC(pc int) int {
	if pc < 0 || pc >= len(p.Origin) {
		return -1
	}
	return p.Origin[pc]
}
