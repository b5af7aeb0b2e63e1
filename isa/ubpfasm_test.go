package isa

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// conformanceForms exercises every mnemonic family; want is what the
// reference conformance runner (shared/conformance/runner, -asm) produced for
// the same text.
const conformanceForms = `
mov32 %r0, 0
add %r0, %r1
ldxw %r0, [%r1+4]
stxdw [%r10-8], %r0
lddw %r0, 0x123
lddw %r1, -2
jne %r0, %r1, +3
jeq32 %r0, 0xffffffff, -1
ja +2
ja32 exit
call 5
call local func1
call %r2
call runtime 7
lock add [%r1+0], %r2
lock fetch add32 [%r1+0], %r2
lock xchg [%r10-8], %r1
lock cmpxchg32 [%r10-8], %r1
le16 %r3
be32 %r4
swap64 %r5
bswap16 %r5
sdiv32 %r0, -3
smod %r0, %r1
movsx832 %r0, %r1
movsx3264 %r0, %r1
neg32 %r2
ldxsh %r0, [%r1]
stb [%r1+0x10], -1
arsh32 %r1, 31
exit
func1:
mov %r0, 0x80000000
exit
`

const conformanceFormsHex = `
b4 00 00 00 00 00 00 00  0f 10 00 00 00 00 00 00  61 10 04 00 00 00 00 00
7b 0a f8 ff 00 00 00 00  18 00 00 00 23 01 00 00  00 00 00 00 00 00 00 00
18 01 00 00 fe ff ff ff  00 00 00 00 ff ff ff ff  5d 10 03 00 00 00 00 00
16 00 ff ff ff ff ff ff  05 00 02 00 00 00 00 00  06 00 00 00 14 00 00 00
85 00 00 00 05 00 00 00  85 10 00 00 13 00 00 00  8d 02 00 00 00 00 00 00
85 20 00 00 07 00 00 00  db 21 00 00 00 00 00 00  c3 21 00 00 01 00 00 00
db 1a f8 ff e1 00 00 00  c3 1a f8 ff f1 00 00 00  d4 03 00 00 10 00 00 00
dc 04 00 00 20 00 00 00  d7 05 00 00 40 00 00 00  d7 05 00 00 10 00 00 00
34 00 01 00 fd ff ff ff  9f 10 01 00 00 00 00 00  bc 10 08 00 00 00 00 00
bf 10 20 00 00 00 00 00  84 02 00 00 00 00 00 00  89 10 00 00 00 00 00 00
72 01 10 00 ff ff ff ff  c4 01 00 00 1f 00 00 00  95 00 00 00 00 00 00 00
b7 00 00 00 00 00 00 80  95 00 00 00 00 00 00 00
`

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAssembleConformanceForms(t *testing.T) {
	prog, err := AssembleConformance(conformanceForms)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Encode(prog), mustHex(t, conformanceFormsHex); string(got) != string(want) {
		t.Errorf("got  %x\nwant %x", got, want)
	}
}

// TestAssembleConformanceLenient: spellings the reference does not accept
// but that mean the same thing.
func TestAssembleConformanceLenient(t *testing.T) {
	for text, want := range map[string]string{
		"mov %r0,1":                    "b7 00 00 00 01 00 00 00",
		"ldxw %r0, [%r1 + 4]":          "61 10 04 00 00 00 00 00",
		"lock fetch_add [%r1-8], %r2":  "db 21 f8 ff 01 00 00 00",
		"lock fetch_xor32 [%r1], %r2":  "c3 21 00 00 a1 00 00 00",
		"call helper 1":                "85 00 00 00 01 00 00 00",
		"x: mov32 %r1, -1 # a comment": "b4 01 00 00 ff ff ff ff",
	} {
		prog, err := AssembleConformance(text)
		if err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		if got := Encode(prog); string(got) != string(mustHex(t, want)) {
			t.Errorf("%q: got %x, want %s", text, got, want)
		}
	}
}

func TestAssembleConformanceErrors(t *testing.T) {
	for _, c := range []struct{ src, msg string }{
		{"mov %r0, 1\nfrob %r0\n", `line 2: "frob %r0"`},
		{"mov %r16, 1", "invalid register"},
		{"mov32 %r0, 4294967296", "out of 32-bit range"},
		{"mov32 %r0, 2147483648", "out of 32-bit range"},
		{"ldxw %r0, [%r1+32768]", "out of 16-bit range"},
		{"ja nowhere", `undefined label "nowhere"`},
		{"l:\nl:\n", "already defined"},
		{"add %r0", "expected 2 operands"},
		{"lock nand [%r1], %r2", "unknown atomic operation"},
		{"ldxsdw %r0, [%r1]", "unknown mnemonic"},
		{"call local", `invalid number "local"`},
		{"stxw %r1, %r2", "invalid memory operand"},
		{"ldxw %r0, %r1+4]", "invalid memory operand"}, // no [
		{"ldxw %r0, [%r1+4", "invalid memory operand"}, // no ]
		{"stxdw %r1-8], %r2", "invalid memory operand"},
	} {
		_, err := AssembleConformance(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %v, want one containing %q", c.src, err, c.msg)
		}
	}
}

// TestConformanceHexImmediates: hexadecimal immediates give the bit pattern,
// decimal ones the signed value, as in the reference.
func TestConformanceHexImmediates(t *testing.T) {
	prog, err := AssembleConformance("mov32 %r0, 0xffffffff\nmov32 %r0, -2147483648\nlddw %r0, 18446744073709551615")
	if err != nil {
		t.Fatal(err)
	}
	if prog[0].Imm != -1 || prog[1].Imm != -1<<31 || Imm64(prog, 2) != 1<<64-1 {
		t.Errorf("got %v", prog)
	}
}
