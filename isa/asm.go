package isa

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Assemble translates text in the syntax Disassemble prints (the Linux
// verifier log's) into instruction slots. Each line holds at most one
// instruction, optionally preceded by the "pc: (op)" prefix Disassemble
// writes (the opcode, when given, must match) and by a label ("name:").
// Jumps, calls and subprog[...] may name a label instead of giving
// "pc+N". Comments start with ";", "//", or a "#" at the start of a line
// or after white space.
//
// Two spellings are accepted beyond the kernel's: "r1 = 5 ll" for an
// ld_imm64 of a decimal constant (a bare hexadecimal constant such as
// "r1 = 0x5" is an ld_imm64, as the kernel prints it; a decimal one is a
// mov), and "call kfunc#N" for "call kernel-function#N". "call N" calls
// helper N.
func Assemble(src string) ([]Insn, error) {
	b := newBuilder()
	for n, line := range strings.Split(src, "\n") {
		b.line, b.text = n+1, strings.TrimSpace(line)
		if err := assembleLine(b, line); err != nil {
			return nil, err
		}
	}
	b.line, b.text = 0, ""
	return b.resolve()
}

var (
	pcPrefix    = regexp.MustCompile(`^\d+:\s*`)
	opPrefix    = regexp.MustCompile(`^\(([0-9a-fA-F]{2})\)\s*`)
	labelPrefix = regexp.MustCompile(`^([A-Za-z_.][\w.]*):\s*`)
)

func assembleLine(b *builder, line string) error {
	line = strings.TrimSpace(stripComment(line))
	line = pcPrefix.ReplaceAllString(line, "")
	var wantOp string
	if m := opPrefix.FindStringSubmatch(line); m != nil {
		wantOp, line = strings.ToLower(m[1]), line[len(m[0]):]
	}
	if m := labelPrefix.FindStringSubmatch(line); m != nil && wantOp == "" {
		if err := b.defineLabel(m[1]); err != nil {
			return err
		}
		line = line[len(m[0]):]
	}
	if line == "" {
		if wantOp != "" {
			return b.errorf("opcode prefix without an instruction")
		}
		return nil
	}
	start := len(b.insns)
	if err := assembleInsn(b, line); err != nil {
		return err
	}
	if got := fmt.Sprintf("%02x", b.insns[start].Op); wantOp != "" && got != wantOp {
		return b.errorf("opcode prefix (%s) does not match the instruction's (%s)", wantOp, got)
	}
	return nil
}

// stripComment removes a trailing comment. "#" only starts one at the start
// of the line or after white space, since "call name#1" uses it.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == ';', strings.HasPrefix(line[i:], "//"):
			return line[:i]
		case line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// A form is one instruction syntax: a template compiled to a regular
// expression, and the function that encodes its matches.
type form struct {
	re     *regexp.Regexp
	encode func(b *builder, m []string) error
}

// Placeholders of the templates. Spaces in a template match any white space.
var placeholders = map[string]string{
	"R":  `([rw]\d+)`,                                             // register
	"N":  `([+-]?\s*(?:0[xX][0-9a-fA-F]+|\d+))`,                   // number
	"T":  `([us](?:8|16|32|64))`,                                  // access type
	"M":  `\(\s*r(\d+)\s*([+-]\s*(?:0[xX][0-9a-fA-F]+|\d+))\s*\)`, // (rN +off)
	"L":  `(pc\s*[+-]\s*\d+|[A-Za-z_.][\w.]*)`,                    // pc+N or label
	"W":  `([A-Za-z_][\w-]*)`,                                     // name
	"A":  `(s>>=|<<=|>>=|s/=|s%=|[-+*/|&%^]=|=)`,                  // ALU operator
	"J":  `(s>=|s<=|s>|s<|==|!=|>=|<=|>|<|&)`,                     // jump comparison
	"OP": `(\+=|\|=|&=|\^=)`,                                      // atomic operator
}

var templateToken = regexp.MustCompile(`\{[A-Z]+\}| +`)

// compileTemplate turns "if {R} {J} {N} goto {L}" into an anchored regexp.
func compileTemplate(t string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString(`^`)
	last := 0
	for _, loc := range templateToken.FindAllStringIndex(t, -1) {
		re.WriteString(regexp.QuoteMeta(t[last:loc[0]]))
		tok := t[loc[0]:loc[1]]
		if tok[0] == ' ' {
			re.WriteString(`\s*`)
		} else {
			re.WriteString(placeholders[tok[1:len(tok)-1]])
		}
		last = loc[1]
	}
	re.WriteString(regexp.QuoteMeta(t[last:]))
	re.WriteString(`$`)
	return regexp.MustCompile(re.String())
}

// kernelForms lists the syntaxes, more specific ones first. They are
// compiled on first use: every bpfscope command links this package, few
// assemble, and compiling the forms takes milliseconds.
var kernelForms = sync.OnceValue(func() []form {
	list := []struct {
		template string
		encode   func(b *builder, m []string) error
	}{
		{"exit", func(b *builder, _ []string) error { b.emit(Insn{Op: opExit}); return nil }},
		{".insn {N}", asmRaw},
		{"goto {L}", asmJumpAlways(opJA, fieldOff)},
		{"gotol {L}", asmJumpAlways(opGotol, fieldImm)},
		{"may_goto {L}", asmJumpAlways(opMayGoto, fieldOff)},
		{"callx {R}", asmCallx},
		{"call {W}#{N}", asmCallNamed},
		{"call {N}", asmCallHelper},
		{"call {L}", asmCallTarget},
		{"if {R} {J} {R} goto {L}", asmCondJump},
		{"if {R} {J} {N} goto {L}", asmCondJump},
		{"lock *({T} *){M} {OP} {R}", asmAtomicOp},
		{"{R} = {W}(({T} *){M}, {R})", asmAtomicFetch},
		{"{R} = {W}(({T} *){M}, {R}, {R})", asmCmpXchg},
		{"{R} = load_acquire(({T} *){M})", asmLoadAcquire},
		{"store_release(({T} *){M}, {R})", asmStoreRelease},
		{"{R} = *({T} *){M}", asmLoad},
		{"{R} = *({T} *)skb[{N}]", asmPacketLoad},
		{"{R} = *({T} *)skb[{R} + {N}]", asmPacketLoad},
		{"*({T} *){M} = {R}", asmStoreReg},
		{"*({T} *){M} = {N}", asmStoreImm},
		{"{R} = {N} ll", asmLdImm64},
		{"{R} = map[id:{N}]", asmLdMap(PseudoMapFD)},
		{"{R} = map[id:{N}][0]+{N}", asmLdMap(PseudoMapValue)},
		{"{R} = map[idx:{N}]", asmLdMap(PseudoMapIdx)},
		{"{R} = map[idx:{N}][0]+{N}", asmLdMap(PseudoMapIdxValue)},
		{"{R} = btf_id[{N}]", asmLdMap(PseudoBTFID)},
		{"{R} = subprog[{N}]", asmLdFunc},
		{"{R} = subprog[{L}]", asmLdFunc},
		{"{R} = addr_space_cast({R}, {N}, {N})", asmAddrSpaceCast},
		{"{R} = -{R}", asmNeg},
		{"{R} = {W} {R}", asmEndian},
		{"{R} = ({T}){R}", asmMovsx},
		{"{R} {A} {R}", asmALU},
		{"{R} {A} {N}", asmALU},
	}
	forms := make([]form, len(list))
	for i, f := range list {
		forms[i] = form{compileTemplate(f.template), f.encode}
	}
	return forms
})

func assembleInsn(b *builder, text string) error {
	for _, f := range kernelForms() {
		if m := f.re.FindStringSubmatch(text); m != nil {
			return f.encode(b, m[1:])
		}
	}
	return b.errorf("unknown instruction")
}

// reg parses "rN" or "wN"; wide reports the "r" spelling.
func (b *builder) reg(s string) (n uint8, wide bool, err error) {
	v, err := parseUnsigned(s[1:], 4)
	if err != nil || (len(s) > 2 && s[1] == '0') {
		return 0, false, b.errorf("invalid register %s", s)
	}
	return uint8(v), s[0] == 'r', nil
}

// reg64 parses a register that must be spelled "rN".
func (b *builder) reg64(s string) (uint8, error) {
	n, wide, err := b.reg(s)
	if err == nil && !wide {
		err = b.errorf("%s: expected a 64-bit register (r%d)", s, n)
	}
	return n, err
}

func (b *builder) imm32(s string) (int32, error) {
	v, err := parseSigned(s, 32)
	if err != nil {
		return 0, b.errorf("immediate: %v", err)
	}
	return int32(v), nil
}

func (b *builder) off16(s string) (int16, error) {
	v, err := parseSigned(strings.ReplaceAll(s, " ", ""), 16)
	if err != nil {
		return 0, b.errorf("offset: %v", err)
	}
	return int16(v), nil
}

func (b *builder) uimm(s string, bits uint) (uint64, error) {
	v, err := parseUnsigned(s, bits)
	if err != nil {
		return 0, b.errorf("%v", err)
	}
	return v, nil
}

// mem parses the register and offset captured by {M}.
func (b *builder) mem(reg, off string) (uint8, int16, error) {
	r, err := b.reg64("r" + reg)
	if err != nil {
		return 0, 0, err
	}
	o, err := b.off16(off)
	return r, o, err
}

var kernelSizes = map[string]uint8{"u8": SizeB, "u16": SizeH, "u32": SizeW, "u64": SizeDW}

var kernelSignedSizes = map[string]uint8{"s8": SizeB, "s16": SizeH, "s32": SizeW}

func (b *builder) size(t string) (uint8, error) {
	if s, ok := kernelSizes[t]; ok {
		return s, nil
	}
	return 0, b.errorf("invalid access type %s", t)
}

// emitTarget emits i with the pc-relative target t ("pc+N" or a label) in
// field.
func (b *builder) emitTarget(i Insn, t string, field jumpField) error {
	if !strings.HasPrefix(t, "pc") || len(t) < 3 || (t[2] != '+' && t[2] != '-' && t[2] != ' ') {
		b.emitJump(i, t, field)
		return nil
	}
	rel := strings.ReplaceAll(t[2:], " ", "")
	if field == fieldOff {
		off, err := b.off16(rel)
		if err != nil {
			return err
		}
		i.Off = off
	} else {
		imm, err := b.imm32(rel)
		if err != nil {
			return err
		}
		i.Imm = imm
	}
	b.emit(i)
	return nil
}

func asmRaw(b *builder, m []string) error {
	w, err := parseImm64(strings.ReplaceAll(m[0], " ", ""))
	if err != nil {
		return b.errorf(".insn: %v", err)
	}
	b.emit(slotFromWord(w))
	return nil
}

func asmJumpAlways(op uint8, field jumpField) func(*builder, []string) error {
	return func(b *builder, m []string) error {
		return b.emitTarget(Insn{Op: op}, m[0], field)
	}
}

func asmCallx(b *builder, m []string) error {
	r, err := b.reg64(m[0])
	b.emit(Insn{Op: opCallx, Dst: r})
	return err
}

// asmCallNamed encodes "call name#id": a helper, or a kfunc when the name is
// kernel-function (or kfunc).
func asmCallNamed(b *builder, m []string) error {
	id, err := b.imm32(m[1])
	if err != nil {
		return err
	}
	i := Insn{Op: opCall, Imm: id}
	switch name := m[0]; {
	case name == kfuncName || name == "kfunc":
		i.Src = PseudoKfuncCall
	case name != HelperName(id):
		return b.errorf("helper #%d is %s, not %s", id, HelperName(id), name)
	}
	b.emit(i)
	return nil
}

func asmCallHelper(b *builder, m []string) error {
	id, err := b.imm32(m[0])
	b.emit(Insn{Op: opCall, Imm: id})
	return err
}

// asmCallTarget encodes "call pc+N" and "call label", or "call name" for a
// helper named without its id.
func asmCallTarget(b *builder, m []string) error {
	if id, ok := HelperID(m[0]); ok {
		b.emit(Insn{Op: opCall, Imm: id})
		return nil
	}
	return b.emitTarget(Insn{Op: opCall, Src: PseudoCall}, m[0], fieldImm)
}

var jumpOps = invert(jumpOpText)

func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// asmCondJump encodes "if dst op src|imm goto target"; "w" registers select
// the JMP32 class.
func asmCondJump(b *builder, m []string) error {
	dst, wide, err := b.reg(m[0])
	if err != nil {
		return err
	}
	i := Insn{Op: ClassJMP32 | jumpOps[m[1]], Dst: dst}
	if wide {
		i.Op = ClassJMP | jumpOps[m[1]]
	}
	if m[2][0] == 'r' || m[2][0] == 'w' {
		src, srcWide, err := b.reg(m[2])
		if err != nil {
			return err
		}
		if srcWide != wide {
			return b.errorf("mixed register widths")
		}
		i.Op |= SrcX
		i.Src = src
	} else if i.Imm, err = b.imm32(m[2]); err != nil {
		return err
	}
	return b.emitTarget(i, m[3], fieldOff)
}

var atomicOps = invert(atomicOpText)

// atomicSlot parses the access type and address shared by the atomic forms.
func (b *builder) atomicSlot(t, reg, off string) (Insn, error) {
	size, err := b.size(t)
	if err != nil {
		return Insn{}, err
	}
	dst, o, err := b.mem(reg, off)
	return Insn{Op: ClassSTX | ModeATOMIC | size, Dst: dst, Off: o}, err
}

func asmAtomicOp(b *builder, m []string) error {
	i, err := b.atomicSlot(m[0], m[1], m[2])
	if err != nil {
		return err
	}
	if err := b.rmwSize(i); err != nil {
		return err
	}
	i.Imm = atomicOps[m[3]]
	if i.Src, err = b.reg64(m[4]); err != nil {
		return err
	}
	b.emit(i)
	return nil
}

// rmwSize checks that a read-modify-write atomic is 32 or 64 bits wide.
func (b *builder) rmwSize(i Insn) error {
	if s := i.Op & 0x18; s != SizeW && s != SizeDW {
		return b.errorf("atomic read-modify-write operations are 32 or 64 bits wide")
	}
	return nil
}

// atomicFunc parses names such as atomic64_fetch_add and atomic_xchg,
// checking that the width agrees with the access type.
func (b *builder) atomicFunc(name string, i Insn) (string, error) {
	if err := b.rmwSize(i); err != nil {
		return "", err
	}
	width := "atomic_"
	if i.Op&0x18 == SizeDW {
		width = "atomic64_"
	}
	op, ok := strings.CutPrefix(name, width)
	if !ok {
		return "", b.errorf("%s does not match the access size", name)
	}
	return op, nil
}

// asmAtomicFetch encodes "rS = atomic[64]_fetch_OP((uN *)(rD +off), rS)" and
// atomic[64]_xchg, whose result register is also the source.
func asmAtomicFetch(b *builder, m []string) error {
	i, err := b.atomicSlot(m[2], m[3], m[4])
	if err != nil {
		return err
	}
	op, err := b.atomicFunc(m[1], i)
	if err != nil {
		return err
	}
	switch name, fetch := strings.CutPrefix(op, "fetch_"); {
	case op == "xchg":
		i.Imm = AtomicXchg
	case fetch && atomicOpCode(name) >= 0:
		i.Imm = atomicOpCode(name) | AtomicFetch
	default:
		return b.errorf("unknown atomic operation %s", m[1])
	}
	if m[0] != m[5] {
		return b.errorf("the result register must be the source register")
	}
	if i.Src, err = b.reg64(m[5]); err != nil {
		return err
	}
	b.emit(i)
	return nil
}

// atomicOpCode returns the imm of an atomic ALU operation, or -1.
func atomicOpCode(name string) int32 {
	for code, n := range atomicOpName {
		if n == name {
			return code
		}
	}
	return -1
}

func asmCmpXchg(b *builder, m []string) error {
	i, err := b.atomicSlot(m[2], m[3], m[4])
	if err != nil {
		return err
	}
	if op, err := b.atomicFunc(m[1], i); err != nil || op != "cmpxchg" {
		return b.errorf("unknown atomic operation %s", m[1])
	}
	if m[0] != "r0" || m[5] != "r0" {
		return b.errorf("cmpxchg compares and returns r0")
	}
	i.Imm = AtomicCmpXchg
	if i.Src, err = b.reg64(m[6]); err != nil {
		return err
	}
	b.emit(i)
	return nil
}

func asmLoadAcquire(b *builder, m []string) error {
	dst, err := b.reg64(m[0])
	if err != nil {
		return err
	}
	i, err := b.atomicSlot(m[1], m[2], m[3])
	if err != nil {
		return err
	}
	// The address register of a load-acquire is the source.
	i.Dst, i.Src, i.Imm = dst, i.Dst, AtomicLoadAcq
	b.emit(i)
	return nil
}

func asmStoreRelease(b *builder, m []string) error {
	i, err := b.atomicSlot(m[0], m[1], m[2])
	if err != nil {
		return err
	}
	i.Imm = AtomicStoreRel
	if i.Src, err = b.reg64(m[3]); err != nil {
		return err
	}
	b.emit(i)
	return nil
}

func asmLoad(b *builder, m []string) error {
	dst, err := b.reg64(m[0])
	if err != nil {
		return err
	}
	i := Insn{Op: ClassLDX | ModeMEM, Dst: dst}
	if size, ok := kernelSignedSizes[m[1]]; ok {
		i.Op = ClassLDX | ModeMEMSX | size
	} else if size, err := b.size(m[1]); err == nil {
		i.Op |= size
	} else {
		return err
	}
	i.Src, i.Off, err = b.mem(m[2], m[3])
	b.emit(i)
	return err
}

// asmPacketLoad encodes "r0 = *(uN *)skb[imm]" (LD_ABS) and
// "r0 = *(uN *)skb[rS + imm]" (LD_IND).
func asmPacketLoad(b *builder, m []string) error {
	if m[0] != "r0" {
		return b.errorf("packet loads write r0")
	}
	size, err := b.size(m[1])
	if err != nil || size == SizeDW {
		return b.errorf("invalid packet load size %s", m[1])
	}
	i := Insn{Op: ClassLD | ModeABS | size}
	if len(m) == 4 {
		i.Op = ClassLD | ModeIND | size
		if i.Src, err = b.reg64(m[2]); err != nil {
			return err
		}
	}
	if i.Imm, err = b.imm32(m[len(m)-1]); err != nil {
		return err
	}
	b.emit(i)
	return nil
}

func asmStoreReg(b *builder, m []string) error {
	size, err := b.size(m[0])
	if err != nil {
		return err
	}
	i := Insn{Op: ClassSTX | ModeMEM | size}
	if i.Dst, i.Off, err = b.mem(m[1], m[2]); err != nil {
		return err
	}
	i.Src, err = b.reg64(m[3])
	b.emit(i)
	return err
}

func asmStoreImm(b *builder, m []string) error {
	size, err := b.size(m[0])
	if err != nil {
		return err
	}
	i := Insn{Op: ClassST | ModeMEM | size}
	if i.Dst, i.Off, err = b.mem(m[1], m[2]); err != nil {
		return err
	}
	i.Imm, err = b.imm32(m[3])
	b.emit(i)
	return err
}

func asmLdImm64(b *builder, m []string) error {
	dst, err := b.reg64(m[0])
	if err != nil {
		return err
	}
	v, err := parseImm64(m[1])
	if err != nil {
		return b.errorf("%v", err)
	}
	slots := ldImm64(dst, 0, uint32(v), uint32(v>>32))
	b.emit(slots[:]...)
	return nil
}

// asmLdMap encodes the ld_imm64 pseudo sources that name an object by
// number, with an optional offset in the second slot.
func asmLdMap(src uint8) func(*builder, []string) error {
	return func(b *builder, m []string) error {
		dst, err := b.reg64(m[0])
		if err != nil {
			return err
		}
		var lo, hi uint64
		if lo, err = b.uimm(m[1], 32); err != nil {
			return err
		}
		if len(m) > 2 {
			if hi, err = b.uimm(m[2], 32); err != nil {
				return err
			}
		}
		slots := ldImm64(dst, src, uint32(lo), uint32(hi))
		b.emit(slots[:]...)
		return nil
	}
}

// asmLdFunc encodes "rD = subprog[+N]" or "rD = subprog[label]", the address
// of a subprogram relative to the next instruction.
func asmLdFunc(b *builder, m []string) error {
	dst, err := b.reg64(m[0])
	if err != nil {
		return err
	}
	slots := ldImm64(dst, PseudoFunc, 0, 0)
	target := m[1]
	if c := target[0]; c == '+' || c == '-' || (c >= '0' && c <= '9') {
		if slots[0].Imm, err = b.imm32(target); err != nil {
			return err
		}
		b.emit(slots[:]...)
		return nil
	}
	if err := b.emitTarget(slots[0], target, fieldImm); err != nil {
		return err
	}
	b.emit(slots[1])
	return nil
}

func asmAddrSpaceCast(b *builder, m []string) error {
	dst, err := b.reg64(m[0])
	if err != nil {
		return err
	}
	src, err := b.reg64(m[1])
	if err != nil {
		return err
	}
	hi, err := b.uimm(m[2], 16)
	if err != nil {
		return err
	}
	lo, err := b.uimm(m[3], 16)
	if err != nil {
		return err
	}
	b.emit(Insn{Op: ClassALU64 | ALUMov | SrcX, Dst: dst, Src: src, Off: addrSpaceCast, Imm: int32(uint32(hi<<16 | lo))})
	return nil
}

// aluDst parses the destination of an ALU operation, whose spelling selects
// the class.
func (b *builder) aluDst(s string) (Insn, error) {
	dst, wide, err := b.reg(s)
	if wide {
		return Insn{Op: ClassALU64, Dst: dst}, err
	}
	return Insn{Op: ClassALU, Dst: dst}, err
}

func asmNeg(b *builder, m []string) error {
	if m[0] != m[1] {
		return b.errorf("neg works in place: %s = -%s", m[0], m[0])
	}
	i, err := b.aluDst(m[0])
	i.Op |= ALUNeg
	b.emit(i)
	return err
}

// asmEndian encodes "rD = be16 rD", le*, and bswap*; the kernel spells the
// register "r" for all three.
func asmEndian(b *builder, m []string) error {
	dst, err := b.reg64(m[0])
	if err != nil {
		return err
	}
	if m[2] != m[0] {
		return b.errorf("byte swaps work in place: %s = %s %s", m[0], m[1], m[0])
	}
	var op uint8
	var width string
	switch name := m[1]; {
	case strings.HasPrefix(name, "bswap"):
		op, width = ClassALU64|ALUEnd, name[5:]
	case strings.HasPrefix(name, "be"):
		op, width = ClassALU|ALUEnd|EndToBE, name[2:]
	case strings.HasPrefix(name, "le"):
		op, width = ClassALU|ALUEnd|EndToLE, name[2:]
	}
	if width != "16" && width != "32" && width != "64" {
		return b.errorf("unknown operation %s", m[1])
	}
	imm, _ := b.imm32(width)
	b.emit(Insn{Op: op, Dst: dst, Imm: imm})
	return nil
}

func asmMovsx(b *builder, m []string) error {
	i, err := b.aluDst(m[0])
	if err != nil {
		return err
	}
	src, wide, err := b.reg(m[2])
	if err != nil {
		return err
	}
	if wide != (i.Class() == ClassALU64) {
		return b.errorf("mixed register widths")
	}
	for off, cast := range movsxText {
		if cast == "("+m[1]+")" && (off != 32 || wide) {
			i.Op |= ALUMov | SrcX
			i.Src, i.Off = src, off
			b.emit(i)
			return nil
		}
	}
	return b.errorf("invalid sign-extension type %s", m[1])
}

var aluOps = invert(aluOpText)

var signedALUOps = invert(signedALUText)

// asmALU encodes "dst op src" and "dst op imm"; "r1 = 0x..." is an ld_imm64,
// as the kernel prints one.
func asmALU(b *builder, m []string) error {
	i, err := b.aluDst(m[0])
	if err != nil {
		return err
	}
	if code, ok := signedALUOps[m[1]]; ok {
		i.Op |= code
		i.Off = 1
	} else {
		i.Op |= aluOps[m[1]]
	}
	if m[2][0] == 'r' || m[2][0] == 'w' {
		src, wide, err := b.reg(m[2])
		if err != nil {
			return err
		}
		if wide != (i.Class() == ClassALU64) {
			return b.errorf("mixed register widths")
		}
		i.Op |= SrcX
		i.Src = src
		b.emit(i)
		return nil
	}
	if m[1] == "=" && i.Class() == ClassALU64 && strings.Contains(strings.ToLower(m[2]), "0x") {
		return asmLdImm64(b, []string{m[0], m[2]})
	}
	if i.Imm, err = b.imm32(m[2]); err != nil {
		return err
	}
	b.emit(i)
	return nil
}
