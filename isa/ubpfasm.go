package isa

import (
	"strings"
)

// AssembleConformance translates the "-- asm" text of the bpf_conformance
// suite (the uBPF assembler syntax) into instruction slots:
//
//	label:                          defines label (the first exit also defines "exit")
//	mov %r0, 1    add32 %r0, %r1    ALU64 without suffix or with "64", ALU with "32"
//	neg %r0       neg32 %r0
//	sdiv, smod, movsx832, movsx1632, movsx864, movsx1664, movsx3264
//	be16 %r0      le32 %r0    swap64 %r0 (bswap64 too)
//	lddw %r0, 0x123456789
//	ldxw %r0, [%r1+4]    ldxsb %r0, [%r1-1]    stw [%r10-4], 7    stxdw [%r10-8], %r0
//	lock add [%r10-8], %r1    lock fetch add32 ...    lock xchg ...    lock cmpxchg ...
//	jne %r0, %r1, label    jeq32 %r0, 5, +3    ja +2    ja32 label
//	call 5    call %r2 (callx)    call local label    call helper 5    call runtime 5 (kfunc)
//	exit
//
// Operands are separated by commas or white space; jump targets are labels
// or offsets with an explicit sign. A "#" starts a comment.
func AssembleConformance(src string) ([]Insn, error) {
	b := newBuilder()
	sawExit := false
	for n, line := range strings.Split(src, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.line, b.text = n+1, strings.TrimSpace(line)
		fields := operandFields(line)
		if len(fields) > 0 && strings.HasSuffix(fields[0], ":") {
			if err := b.defineLabel(strings.TrimSuffix(fields[0], ":")); err != nil {
				return nil, err
			}
			fields = fields[1:]
		}
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "exit" && !sawExit {
			sawExit = true
			if _, defined := b.labels["exit"]; !defined {
				b.labels["exit"] = len(b.insns)
			}
		}
		if err := conformanceInsn(b, fields[0], fields[1:]); err != nil {
			return nil, err
		}
	}
	b.line, b.text = 0, ""
	return b.resolve()
}

// operandFields splits a line at white space and commas, keeping a bracketed
// memory operand such as "[%r1 + 4]" in one piece.
func operandFields(line string) []string {
	var fields []string
	var cur strings.Builder
	depth := 0
	for _, c := range line {
		switch {
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
		case depth > 0 && (c == ' ' || c == '\t'):
			continue
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r'):
			if cur.Len() > 0 {
				fields = append(fields, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(c)
	}
	if cur.Len() > 0 {
		fields = append(fields, cur.String())
	}
	return fields
}

var (
	conformanceALU = map[string]uint8{
		"add": ALUAdd, "sub": ALUSub, "mul": ALUMul, "div": ALUDiv, "or": ALUOr,
		"and": ALUAnd, "lsh": ALULsh, "rsh": ALURsh, "mod": ALUMod, "xor": ALUXor,
		"mov": ALUMov, "arsh": ALUArsh, "sdiv": ALUDiv, "smod": ALUMod,
	}
	conformanceJumps = map[string]uint8{
		"jeq": JmpJEQ, "jgt": JmpJGT, "jge": JmpJGE, "jset": JmpJSET, "jne": JmpJNE,
		"jsgt": JmpJSGT, "jsge": JmpJSGE, "jlt": JmpJLT, "jle": JmpJLE,
		"jslt": JmpJSLT, "jsle": JmpJSLE,
	}
	conformanceSizes = map[string]uint8{"b": SizeB, "h": SizeH, "w": SizeW, "dw": SizeDW}
	// conformanceAtomics maps lock operations to imm; xchg and cmpxchg
	// always fetch.
	conformanceAtomics = map[string]int32{
		"add": AtomicAdd, "or": AtomicOr, "and": AtomicAnd, "xor": AtomicXor,
		"xchg": AtomicXchg, "cmpxchg": AtomicCmpXchg,
	}
)

// conformanceInsn encodes one instruction given its mnemonic and operands.
func conformanceInsn(b *builder, mn string, ops []string) error {
	switch {
	case mn == "exit":
		return b.emitFixed(Insn{Op: opExit}, ops, 0)
	case mn == "lddw":
		return ubpfLddw(b, ops)
	case mn == "call":
		return ubpfCall(b, ops)
	case mn == "lock":
		return ubpfLock(b, ops)
	case mn == "ja":
		return ubpfJump(b, Insn{Op: opJA}, ops, fieldOff)
	case mn == "ja32":
		return ubpfJump(b, Insn{Op: opGotol}, ops, fieldImm)
	case strings.HasPrefix(mn, "ldx"):
		return ubpfLoad(b, mn, ops)
	case strings.HasPrefix(mn, "stx"):
		return ubpfStore(b, mn[3:], ClassSTX, ops)
	case strings.HasPrefix(mn, "st"):
		return ubpfStore(b, mn[2:], ClassST, ops)
	}
	base, class := splitWidth(mn, ClassALU64, ClassALU)
	if _, ok := conformanceJumps[base]; ok {
		class = ClassJMP
		if strings.HasSuffix(mn, "32") {
			class = ClassJMP32
		}
		return ubpfCondJump(b, base, class, ops)
	}
	if i, ok := ubpfEndian(mn); ok {
		return ubpfUnary(b, i, ops)
	}
	if base == "neg" {
		return ubpfUnary(b, Insn{Op: class | ALUNeg}, ops)
	}
	return ubpfALU(b, mn, base, class, ops)
}

// splitWidth removes a "32" or "64" suffix from a mnemonic and returns the
// class it selects (wide when there is none).
func splitWidth(mn string, wide, narrow uint8) (string, uint8) {
	if base, ok := strings.CutSuffix(mn, "32"); ok {
		return base, narrow
	}
	if base, ok := strings.CutSuffix(mn, "64"); ok {
		return base, wide
	}
	return mn, wide
}

// emitFixed emits an instruction that takes no operands beyond want.
func (b *builder) emitFixed(i Insn, ops []string, want int) error {
	if len(ops) != want {
		return b.errorf("expected %d operands, got %d", want, len(ops))
	}
	b.emit(i)
	return nil
}

func (b *builder) wantOperands(ops []string, n int) error {
	if len(ops) != n {
		return b.errorf("expected %d operands, got %d", n, len(ops))
	}
	return nil
}

// percentReg parses "%rN".
func (b *builder) percentReg(s string) (uint8, error) {
	if !strings.HasPrefix(s, "%r") {
		return 0, b.errorf("invalid register %s", s)
	}
	r, err := b.reg64(s[1:])
	if err != nil {
		return 0, b.errorf("invalid register %s", s)
	}
	return r, nil
}

// memOperand parses "[%rN]", "[%rN+off]" or "[%rN-off]".
func (b *builder) memOperand(s string) (uint8, int16, error) {
	inner, open := strings.CutPrefix(s, "[")
	inner, closed := strings.CutSuffix(inner, "]")
	if !open || !closed {
		return 0, 0, b.errorf("invalid memory operand %s", s)
	}
	split := strings.IndexAny(inner, "+-")
	if split < 0 {
		r, err := b.percentReg(inner)
		return r, 0, err
	}
	r, err := b.percentReg(inner[:split])
	if err != nil {
		return 0, 0, err
	}
	off, err := b.off16(inner[split:])
	return r, off, err
}

// ubpfTarget emits i with a jump target: an offset with explicit sign, or a
// label.
func ubpfTarget(b *builder, i Insn, t string, field jumpField) error {
	if t != "" && (t[0] == '+' || t[0] == '-') {
		return b.emitTarget(i, "pc"+t, field)
	}
	b.emitJump(i, t, field)
	return nil
}

func ubpfJump(b *builder, i Insn, ops []string, field jumpField) error {
	if err := b.wantOperands(ops, 1); err != nil {
		return err
	}
	return ubpfTarget(b, i, ops[0], field)
}

func ubpfCondJump(b *builder, base string, class uint8, ops []string) error {
	if err := b.wantOperands(ops, 3); err != nil {
		return err
	}
	dst, err := b.percentReg(ops[0])
	if err != nil {
		return err
	}
	i := Insn{Op: class | conformanceJumps[base], Dst: dst}
	if strings.HasPrefix(ops[1], "%") {
		i.Op |= SrcX
		i.Src, err = b.percentReg(ops[1])
	} else {
		i.Imm, err = b.imm32(ops[1])
	}
	if err != nil {
		return err
	}
	return ubpfTarget(b, i, ops[2], fieldOff)
}

// endianPrefixes maps the byte-swap mnemonics, less their width, to their
// opcodes.
var endianPrefixes = []struct {
	prefix string
	op     uint8
}{
	{"be", ClassALU | ALUEnd | EndToBE},
	{"le", ClassALU | ALUEnd | EndToLE},
	{"swap", ClassALU64 | ALUEnd},
	{"bswap", ClassALU64 | ALUEnd},
}

// ubpfEndian recognises be16..be64, le16..le64 and (b)swap16..(b)swap64.
func ubpfEndian(mn string) (Insn, bool) {
	for _, e := range endianPrefixes {
		width, ok := strings.CutPrefix(mn, e.prefix)
		if ok && (width == "16" || width == "32" || width == "64") {
			imm := map[string]int32{"16": 16, "32": 32, "64": 64}[width]
			return Insn{Op: e.op, Imm: imm}, true
		}
	}
	return Insn{}, false
}

// ubpfUnary encodes an instruction whose only operand is its destination.
func ubpfUnary(b *builder, i Insn, ops []string) error {
	if err := b.wantOperands(ops, 1); err != nil {
		return err
	}
	var err error
	i.Dst, err = b.percentReg(ops[0])
	b.emit(i)
	return err
}

// movsxOffsets maps the movsx mnemonics (with their width suffix) to the
// sign-extension width in off and the class.
var movsxOffsets = map[string]Insn{
	"movsx832": {Op: ClassALU, Off: 8}, "movsx1632": {Op: ClassALU, Off: 16},
	"movsx864": {Op: ClassALU64, Off: 8}, "movsx1664": {Op: ClassALU64, Off: 16},
	"movsx3264": {Op: ClassALU64, Off: 32},
}

func ubpfALU(b *builder, mn, base string, class uint8, ops []string) error {
	i := Insn{Op: class}
	if sx, ok := movsxOffsets[mn]; ok {
		i, base = sx, "mov"
	}
	code, ok := conformanceALU[base]
	if !ok {
		return b.errorf("unknown mnemonic %s", mn)
	}
	if base == "sdiv" || base == "smod" {
		i.Off = 1
	}
	i.Op |= code
	if err := b.wantOperands(ops, 2); err != nil {
		return err
	}
	var err error
	if i.Dst, err = b.percentReg(ops[0]); err != nil {
		return err
	}
	if strings.HasPrefix(ops[1], "%") {
		i.Op |= SrcX
		i.Src, err = b.percentReg(ops[1])
	} else if i.Off == 0 || base != "mov" {
		i.Imm, err = b.imm32(ops[1])
	} else {
		err = b.errorf("%s needs a source register", mn)
	}
	b.emit(i)
	return err
}

func ubpfLddw(b *builder, ops []string) error {
	if err := b.wantOperands(ops, 2); err != nil {
		return err
	}
	dst, err := b.percentReg(ops[0])
	if err != nil {
		return err
	}
	v, err := parseImm64(ops[1])
	if err != nil {
		return b.errorf("%v", err)
	}
	slots := ldImm64(dst, 0, uint32(v), uint32(v>>32))
	b.emit(slots[:]...)
	return nil
}

// ubpfCall encodes "call IMM" and "call helper IMM" (helper), "call %rN"
// (callx), "call local TARGET" (local function) and "call runtime IMM"
// (kfunc).
func ubpfCall(b *builder, ops []string) error {
	if len(ops) == 1 {
		ops = []string{"helper", ops[0]}
	}
	if err := b.wantOperands(ops, 2); err != nil {
		return err
	}
	i := Insn{Op: opCall}
	var err error
	switch kind, target := ops[0], ops[1]; {
	case kind == "helper" && strings.HasPrefix(target, "%"):
		i.Op = opCallx
		i.Dst, err = b.percentReg(target)
	case kind == "helper":
		i.Imm, err = b.imm32(target)
	case kind == "runtime":
		i.Src = PseudoKfuncCall
		i.Imm, err = b.imm32(target)
	case kind == "local":
		i.Src = PseudoCall
		return ubpfTarget(b, i, target, fieldImm)
	default:
		return b.errorf("unknown call kind %s", kind)
	}
	b.emit(i)
	return err
}

func ubpfLoad(b *builder, mn string, ops []string) error {
	mode, size := uint8(ModeMEM), mn[3:]
	if strings.HasPrefix(mn, "ldxs") {
		mode, size = ModeMEMSX, mn[4:]
	}
	sz, ok := conformanceSizes[size]
	if !ok || (mode == ModeMEMSX && sz == SizeDW) {
		return b.errorf("unknown mnemonic %s", mn)
	}
	if err := b.wantOperands(ops, 2); err != nil {
		return err
	}
	i := Insn{Op: ClassLDX | mode | sz}
	var err error
	if i.Dst, err = b.percentReg(ops[0]); err != nil {
		return err
	}
	i.Src, i.Off, err = b.memOperand(ops[1])
	b.emit(i)
	return err
}

// ubpfStore encodes st* [mem], imm and stx* [mem], %reg.
func ubpfStore(b *builder, size string, class uint8, ops []string) error {
	sz, ok := conformanceSizes[size]
	if !ok {
		return b.errorf("unknown store size %q", size)
	}
	if err := b.wantOperands(ops, 2); err != nil {
		return err
	}
	i := Insn{Op: class | ModeMEM | sz}
	var err error
	if i.Dst, i.Off, err = b.memOperand(ops[0]); err != nil {
		return err
	}
	if class == ClassSTX {
		i.Src, err = b.percentReg(ops[1])
	} else {
		i.Imm, err = b.imm32(ops[1])
	}
	b.emit(i)
	return err
}

// ubpfLock encodes "lock [fetch] OP[32] [mem], %src"; "fetch_OP" is
// accepted for "fetch OP".
func ubpfLock(b *builder, ops []string) error {
	fetch := false
	if len(ops) > 0 && ops[0] == "fetch" {
		fetch, ops = true, ops[1:]
	}
	if err := b.wantOperands(ops, 3); err != nil {
		return err
	}
	name, isFetch := strings.CutPrefix(ops[0], "fetch_")
	fetch = fetch || isFetch
	name, class := splitWidth(name, SizeDW, SizeW)
	imm, ok := conformanceAtomics[name]
	if !ok {
		return b.errorf("unknown atomic operation %s", ops[0])
	}
	if fetch {
		imm |= AtomicFetch
	}
	i := Insn{Op: ClassSTX | ModeATOMIC | class, Imm: imm}
	var err error
	if i.Dst, i.Off, err = b.memOperand(ops[1]); err != nil {
		return err
	}
	i.Src, err = b.percentReg(ops[2])
	b.emit(i)
	return err
}
