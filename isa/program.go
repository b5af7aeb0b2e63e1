package isa

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SyntaxError reports a source line that does not assemble.
type SyntaxError struct {
	Line int    // 1-based; 0 when the error concerns the whole program
	Text string // the line, trimmed
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %q: %s", e.Line, e.Text, e.Msg)
}

// jumpField says which field of a slot receives a resolved label.
type jumpField int

const (
	fieldOff jumpField = iota // 16-bit pc-relative offset
	fieldImm                  // 32-bit pc-relative offset
)

type labelRef struct {
	slot  int
	label string
	field jumpField
	line  int
	text  string
}

// builder collects the slots of a program and resolves labels once every
// line has been read. Both assemblers use it.
type builder struct {
	insns  []Insn
	labels map[string]int
	refs   []labelRef
	line   int
	text   string
}

func newBuilder() *builder {
	return &builder{labels: map[string]int{}}
}

func (b *builder) errorf(format string, args ...any) error {
	return &SyntaxError{Line: b.line, Text: b.text, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) emit(insns ...Insn) {
	b.insns = append(b.insns, insns...)
}

// emitJump appends i, whose target is label, to be resolved later.
func (b *builder) emitJump(i Insn, label string, field jumpField) {
	b.refs = append(b.refs, labelRef{slot: len(b.insns), label: label, field: field, line: b.line, text: b.text})
	b.emit(i)
}

func (b *builder) defineLabel(name string) error {
	if prev, dup := b.labels[name]; dup {
		return b.errorf("label %q already defined at slot %d", name, prev)
	}
	b.labels[name] = len(b.insns)
	return nil
}

// resolve fills in the offsets of the jumps to labels.
func (b *builder) resolve() ([]Insn, error) {
	for _, r := range b.refs {
		target, ok := b.labels[r.label]
		if !ok {
			return nil, &SyntaxError{Line: r.line, Text: r.text, Msg: fmt.Sprintf("undefined label %q", r.label)}
		}
		rel := target - r.slot - 1
		if r.field == fieldImm {
			b.insns[r.slot].Imm = int32(rel)
			continue
		}
		if rel < math.MinInt16 || rel > math.MaxInt16 {
			return nil, &SyntaxError{Line: r.line, Text: r.text, Msg: fmt.Sprintf("label %q is %d slots away, out of 16-bit range", r.label, rel)}
		}
		b.insns[r.slot].Off = int16(rel)
	}
	return b.insns, nil
}

// parseMagnitude parses a decimal or 0x-prefixed hexadecimal literal with an
// optional sign.
func parseMagnitude(s string) (mag uint64, neg, hex bool, err error) {
	s = strings.TrimSpace(s)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = strings.TrimSpace(s[1:])
	}
	base := 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, base, hex = s[2:], 16, true
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, false, false, fmt.Errorf("invalid number")
	}
	mag, err = strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false, false, fmt.Errorf("invalid number")
	}
	return mag, neg, hex, nil
}

// parseSigned parses a bits-wide two's-complement value. Decimal literals
// must be in the signed range; hexadecimal ones may also give the unsigned
// bit pattern (0xffffffff for a 32-bit -1), as the kernel prints them.
func parseSigned(s string, bits uint) (int64, error) {
	mag, neg, hex, err := parseMagnitude(s)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	limit := uint64(1) << (bits - 1) // magnitude of the most negative value
	switch {
	case neg && mag <= limit:
		return -int64(mag), nil
	case !neg && mag < limit:
		return int64(mag), nil
	case !neg && hex && (bits == 64 || mag < limit<<1):
		return int64(mag<<(64-bits)) >> (64 - bits), nil
	}
	return 0, fmt.Errorf("%s is out of %d-bit range", s, bits)
}

// parseUnsigned parses a non-negative value of at most bits bits.
func parseUnsigned(s string, bits uint) (uint64, error) {
	mag, neg, _, err := parseMagnitude(s)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	if neg || (bits < 64 && mag>>bits != 0) {
		return 0, fmt.Errorf("%s is out of unsigned %d-bit range", s, bits)
	}
	return mag, nil
}

// parseImm64 parses the constant of an ld_imm64: any signed or unsigned
// 64-bit value.
func parseImm64(s string) (uint64, error) {
	mag, neg, _, err := parseMagnitude(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("invalid number %q", s)
	case neg && mag > 1<<63:
		return 0, fmt.Errorf("%s is out of 64-bit range", s)
	case neg:
		return -mag, nil
	}
	return mag, nil
}

// ldImm64 returns the two slots of an ld_imm64 into dst with pseudo source
// src and the immediates lo and hi.
func ldImm64(dst, src uint8, lo, hi uint32) [2]Insn {
	return [2]Insn{
		{Op: ClassLD | ModeIMM | SizeDW, Dst: dst, Src: src, Imm: int32(lo)},
		{Imm: int32(hi)},
	}
}
