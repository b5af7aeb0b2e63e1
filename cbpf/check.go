package cbpf

import (
	"fmt"
	"syscall"

	"golang.org/x/net/bpf"
)

// Classic BPF opcode fields (include/uapi/linux/filter.h, bpf_common.h).
const (
	clsLD, clsLDX, clsST, clsSTX, clsALU, clsJMP, clsRET, clsMISC = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07

	szW, szH, szB = 0x00, 0x08, 0x10

	modeIMM, modeABS, modeIND, modeMEM, modeLEN, modeMSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xa0

	aluADD, aluSUB, aluMUL, aluDIV, aluOR, aluAND, aluLSH, aluRSH, aluNEG, aluMOD, aluXOR = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0

	jmpJA, jmpJEQ, jmpJGT, jmpJGE, jmpJSET = 0x00, 0x10, 0x20, 0x30, 0x40

	srcK, srcX = 0x00, 0x08
	retK, retA = 0x00, 0x10

	miscTAX, miscTXA = 0x00, 0x80

	memWords = 16 // BPF_MEMWORDS
)

// Ancillary loads: a LD ABS at SKF_AD_OFF + n reads kernel data, not the packet.
const (
	skfADOff  = -0x1000 // SKF_AD_OFF
	skfNetOff = -0x100000
	skfLLOff  = -0x200000

	adProtocol, adPktType, adIfindex, adNlattr, adNlattrNest, adMark, adQueue, adHatype        = 0, 4, 8, 12, 16, 20, 24, 28
	adRxhash, adCPU, adAluXorX, adVlanTag, adVlanTagPresent, adPayOffset, adRandom, adVlanTPID = 32, 36, 40, 44, 48, 52, 56, 60
)

var ancillaryNames = map[int]string{
	adProtocol: "proto", adPktType: "type", adIfindex: "ifidx", adNlattr: "nla", adNlattrNest: "nlan",
	adMark: "mark", adQueue: "queue", adHatype: "hatype", adRxhash: "rxhash", adCPU: "cpu",
	adAluXorX: "xor_x", adVlanTag: "vlan_tci", adVlanTagPresent: "vlanp", adPayOffset: "poff",
	adRandom: "rand", adVlanTPID: "vlan_tpid",
}

// ancillary returns the SKF_AD_* number a LD ABS instruction names, if any
// (bpf_anc_helper: any load size).
func ancillary(in bpf.RawInstruction) (int, bool) {
	if in.Op != clsLD|modeABS|szW && in.Op != clsLD|modeABS|szH && in.Op != clsLD|modeABS|szB {
		return 0, false
	}
	n := int(int32(in.K)) - skfADOff
	_, ok := ancillaryNames[n]
	return n, ok && int32(in.K) < 0
}

// ErrInvalid is the kernel's answer to a filter it refuses (EINVAL); every
// *CheckError wraps it.
var ErrInvalid error = syscall.EINVAL

// CheckError is a filter the kernel would refuse, naming the instruction.
type CheckError struct {
	Index int // the instruction, from 0; -1 for the filter as a whole
	Insn  bpf.RawInstruction
	Msg   string
}

func (e *CheckError) Error() string {
	if e.Index < 0 {
		return "invalid classic filter: " + e.Msg
	}
	return fmt.Sprintf("invalid classic filter: insn %d (%s): %s", e.Index, Disasm(e.Insn, e.Index), e.Msg)
}

func (e *CheckError) Unwrap() error { return ErrInvalid }

func bad(f Filter, i int, format string, args ...any) error {
	e := &CheckError{Index: i, Msg: fmt.Sprintf(format, args...)}
	if i >= 0 {
		e.Insn = f[i]
	}
	return e
}

// allowed is chk_code_allowed: the opcodes bpf_check_classic takes.
var allowed = func() map[uint16]bool {
	ok := map[uint16]bool{}
	for _, op := range []uint16{aluADD, aluSUB, aluMUL, aluDIV, aluMOD, aluAND, aluOR, aluXOR, aluLSH, aluRSH} {
		ok[clsALU|op|srcK], ok[clsALU|op|srcX] = true, true
	}
	ok[clsALU|aluNEG] = true
	for _, sz := range []uint16{szW, szH, szB} {
		ok[clsLD|modeABS|sz], ok[clsLD|modeIND|sz] = true, true
	}
	for _, op := range []uint16{
		clsLD | szW | modeLEN, clsLD | modeIMM, clsLD | modeMEM,
		clsLDX | szW | modeLEN, clsLDX | szB | modeMSH, clsLDX | modeIMM, clsLDX | modeMEM,
		clsST, clsSTX, clsMISC | miscTAX, clsMISC | miscTXA, clsRET | retK, clsRET | retA, clsJMP | jmpJA,
	} {
		ok[op] = true
	}
	for _, op := range []uint16{jmpJEQ, jmpJGE, jmpJGT, jmpJSET} {
		ok[clsJMP|op|srcK], ok[clsJMP|op|srcX] = true, true
	}
	return ok
}()

// Check applies bpf_check_classic: known opcodes only, no division by a
// constant zero, shifts below 32, scratch indices below 16, every jump
// inside the filter, known ancillary loads, a RET last, and no scratch
// cell read before every path to the read has written it.
func (f Filter) Check() error {
	if len(f) == 0 || len(f) > MaxInsns {
		return bad(f, -1, "%d instructions, need 1 to BPF_MAXINSNS (%d)", len(f), MaxInsns)
	}
	flen := len(f)
	for pc, in := range f {
		if !allowed[in.Op] {
			return bad(f, pc, "unknown opcode %#04x", in.Op)
		}
		switch in.Op {
		case clsALU | aluDIV | srcK, clsALU | aluMOD | srcK:
			if in.K == 0 {
				return bad(f, pc, "division by constant zero")
			}
		case clsALU | aluLSH | srcK, clsALU | aluRSH | srcK:
			if in.K >= 32 {
				return bad(f, pc, "shift by %d, not below 32", in.K)
			}
		case clsLD | modeMEM, clsLDX | modeMEM, clsST, clsSTX:
			if in.K >= memWords {
				return bad(f, pc, "scratch memory M[%d] does not exist (M[0]..M[15])", in.K)
			}
		case clsJMP | jmpJA:
			if uint64(in.K) >= uint64(flen-pc-1) {
				return bad(f, pc, "jump +%d leaves the filter of %d instructions", in.K, flen)
			}
		case clsJMP | jmpJEQ | srcK, clsJMP | jmpJEQ | srcX, clsJMP | jmpJGE | srcK, clsJMP | jmpJGE | srcX,
			clsJMP | jmpJGT | srcK, clsJMP | jmpJGT | srcX, clsJMP | jmpJSET | srcK, clsJMP | jmpJSET | srcX:
			if pc+int(in.Jt)+1 >= flen || pc+int(in.Jf)+1 >= flen {
				return bad(f, pc, "jump target %d or %d leaves the filter of %d instructions", pc+int(in.Jt)+1, pc+int(in.Jf)+1, flen)
			}
		case clsLD | modeABS | szW, clsLD | modeABS | szH, clsLD | modeABS | szB:
			if _, anc := ancillary(in); !anc && in.K >= 0xfffff000 { // k >= SKF_AD_OFF, unsigned
				return bad(f, pc, "unknown ancillary load SKF_AD_OFF%+d", int(int32(in.K))-skfADOff)
			}
		}
	}
	if last := f[flen-1].Op; last != clsRET|retK && last != clsRET|retA {
		return bad(f, flen-1, "the last instruction must be a RET")
	}
	return f.checkLoadsAndStores()
}

// checkLoadsAndStores is check_load_and_stores: a scratch cell may be read
// only where every path has written it.
func (f Filter) checkLoadsAndStores() error {
	masks := make([]uint16, len(f))
	for i := range masks {
		masks[i] = 0xffff
	}
	var valid uint16
	for pc, in := range f {
		valid &= masks[pc]
		switch in.Op {
		case clsST, clsSTX:
			valid |= 1 << in.K
		case clsLD | modeMEM, clsLDX | modeMEM:
			if valid&(1<<in.K) == 0 {
				return bad(f, pc, "M[%d] is read before every path to it has written it", in.K)
			}
		case clsJMP | jmpJA:
			masks[pc+1+int(in.K)] &= valid
			valid = 0xffff
		case clsJMP | jmpJEQ | srcK, clsJMP | jmpJEQ | srcX, clsJMP | jmpJGE | srcK, clsJMP | jmpJGE | srcX,
			clsJMP | jmpJGT | srcK, clsJMP | jmpJGT | srcX, clsJMP | jmpJSET | srcK, clsJMP | jmpJSET | srcX:
			masks[pc+1+int(in.Jt)] &= valid
			masks[pc+1+int(in.Jf)] &= valid
			valid = 0xffff
		}
	}
	return nil
}

// SeccompDataSize is sizeof(struct seccomp_data).
const SeccompDataSize = 64

// seccompAllowed are the opcodes seccomp_check_filter lets through besides
// the loads it rewrites (no packet loads, no MOD, no ancillary data).
var seccompAllowed = func() map[uint16]bool {
	ok := map[uint16]bool{}
	for _, op := range []uint16{aluADD, aluSUB, aluMUL, aluDIV, aluAND, aluOR, aluXOR, aluLSH, aluRSH} {
		ok[clsALU|op|srcK], ok[clsALU|op|srcX] = true, true
	}
	for _, op := range []uint16{jmpJEQ, jmpJGE, jmpJGT, jmpJSET} {
		ok[clsJMP|op|srcK], ok[clsJMP|op|srcX] = true, true
	}
	for _, op := range []uint16{clsRET | retK, clsRET | retA, clsALU | aluNEG, clsLD | modeIMM, clsLDX | modeIMM,
		clsMISC | miscTAX, clsMISC | miscTXA, clsLD | modeMEM, clsLDX | modeMEM, clsST, clsSTX, clsJMP | jmpJA} {
		ok[op] = true
	}
	return ok
}()

// CheckSeccomp applies what seccomp(2) applies: Check, then
// seccomp_check_filter: loads only as 32-bit aligned words inside struct
// seccomp_data (64 bytes), and only the instructions it lists.
func (f Filter) CheckSeccomp() error {
	if err := f.Check(); err != nil {
		return err
	}
	for pc, in := range f {
		switch in.Op {
		case clsLD | szW | modeABS:
			if in.K >= SeccompDataSize || in.K&3 != 0 {
				return bad(f, pc, "seccomp loads must be aligned 32-bit words inside seccomp_data (offset %d)", int32(in.K))
			}
		case clsLD | szW | modeLEN, clsLDX | szW | modeLEN:
		default:
			if !seccompAllowed[in.Op] {
				return bad(f, pc, "not allowed in a seccomp filter (only absolute word loads of seccomp_data, ALU without MOD, jumps, scratch memory and RET)")
			}
		}
	}
	return nil
}
