package vm

// op is the interpreter's internal opcode. Decoding folds everything that
// changes an instruction's meaning (class, source, size, the sdiv/movsx offset,
// the atomic imm, pseudo sources) into one dense value, so the interpreter
// dispatches with a single switch and never re-inspects raw fields.
type op uint16

// recorded marks an instruction of the recording copy of a program's code:
// its case appends the pc to the PC batch and falls through to the real one,
// so a PC hook costs one store per instruction, not a second dispatch.
const recorded op = 0x100

const (
	_ op = iota // 0, invalid: never produced by a successful decode

	// 64-bit ALU, immediate and register forms.
	opAdd64K
	opAdd64X
	opSub64K
	opSub64X
	opMul64K
	opMul64X
	opDiv64K
	opDiv64X
	opSDiv64K
	opSDiv64X
	opMod64K
	opMod64X
	opSMod64K
	opSMod64X
	opOr64K
	opOr64X
	opAnd64K
	opAnd64X
	opXor64K
	opXor64X
	opLsh64K
	opLsh64X
	opRsh64K
	opRsh64X
	opArsh64K
	opArsh64X
	opNeg64
	opMov64K
	opMov64X
	opMovSX8to64
	opMovSX16to64
	opMovSX32to64

	// 32-bit ALU; results are zero-extended.
	opAdd32K
	opAdd32X
	opSub32K
	opSub32X
	opMul32K
	opMul32X
	opDiv32K
	opDiv32X
	opSDiv32K
	opSDiv32X
	opMod32K
	opMod32X
	opSMod32K
	opSMod32X
	opOr32K
	opOr32X
	opAnd32K
	opAnd32X
	opXor32K
	opXor32X
	opLsh32K
	opLsh32X
	opRsh32K
	opRsh32X
	opArsh32K
	opArsh32X
	opNeg32
	opMov32K
	opMov32X
	opMovSX8to32
	opMovSX16to32

	// Byte order. On the little-endian machine the VM models, "to LE" only
	// truncates; "to BE" and bswap reverse.
	opLE16
	opLE32
	opLE64
	opBE16
	opBE32
	opBE64

	// Jumps. Every conditional has four forms: 64/32 bit, imm/register.
	opJA
	opJA32 // gotol: target in imm
	opJEq64K
	opJEq64X
	opJGt64K
	opJGt64X
	opJGe64K
	opJGe64X
	opJSet64K
	opJSet64X
	opJNe64K
	opJNe64X
	opJSGt64K
	opJSGt64X
	opJSGe64K
	opJSGe64X
	opJLt64K
	opJLt64X
	opJLe64K
	opJLe64X
	opJSLt64K
	opJSLt64X
	opJSLe64K
	opJSLe64X
	opJEq32K
	opJEq32X
	opJGt32K
	opJGt32X
	opJGe32K
	opJGe32X
	opJSet32K
	opJSet32X
	opJNe32K
	opJNe32X
	opJSGt32K
	opJSGt32X
	opJSGe32K
	opJSGe32X
	opJLt32K
	opJLt32X
	opJLe32K
	opJLe32X
	opJSLt32K
	opJSLt32X
	opJSLe32K
	opJSLe32X
	opMayGoto
	opCallHelper // imm: helper id
	opCallLocal  // off: relative target (precomputed from imm)
	opCallX      // dst: register holding a function address or helper id
	opExit

	// Loads and stores.
	opLdImm64    // imm: the constant
	opLdMapFD    // imm: map index; pointer to the map
	opLdMapValue // imm: map index | offset<<32; pointer into its value
	opLdFunc     // imm: absolute pc of the function
	opLdAbsB     // LD_ABS/LD_IND: skb packet loads in network byte order
	opLdAbsH
	opLdAbsW
	opLdIndB
	opLdIndH
	opLdIndW
	opLdxB
	opLdxH
	opLdxW
	opLdxDW
	opLdxSB
	opLdxSH
	opLdxSW
	opStB
	opStH
	opStW
	opStDW
	opStxB
	opStxH
	opStxW
	opStxDW

	// Atomics: W and DW read-modify-write; B..DW acquire/release.
	opAtomicW // atomic op in aop
	opAtomicDW
	opLoadAcqB
	opLoadAcqH
	opLoadAcqW
	opLoadAcqDW
	opStoreRelB
	opStoreRelH
	opStoreRelW
	opStoreRelDW

	opSecondSlot // the second half of ld_imm64; never executed
	opTrap       // tracing slot: report, then run the real instruction

	numOps
)
