package isa

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/cilium/ebpf/asm"
)

// TestAssembleRoundTrip: every form of disasmCases assembles back to its
// encoding.
func TestAssembleRoundTrip(t *testing.T) {
	for _, c := range disasmCases {
		got, err := Assemble(c.text)
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if !slices.Equal(got, c.insns) {
			t.Errorf("%q: got %v, want %v", c.text, got, c.insns)
		}
	}
}

// TestRoundTripAllEncodings: Assemble(Disassemble(p)) == p for every opcode
// with a spread of field values, valid or not.
func TestRoundTripAllEncodings(t *testing.T) {
	fields := []Insn{
		{}, {Dst: 1, Src: 2}, {Dst: 10, Off: -8, Imm: 7}, {Src: 1, Imm: 1},
		{Dst: 15, Src: 15, Off: -1, Imm: -1}, {Off: 1, Imm: 16}, {Off: 8}, {Off: 32},
		{Imm: 0x100}, {Imm: 0x110}, {Imm: 0xe1}, {Imm: 0xf1}, {Imm: 0x41}, {Src: 4, Imm: 3},
	}
	var prog []Insn
	for op := 0; op < 256; op++ {
		for _, f := range fields {
			f.Op = uint8(op)
			prog = append(prog, f, Insn{Imm: f.Imm})
		}
	}
	text := Disassemble(prog)
	got, err := Assemble(text)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, prog) {
		for i := range min(len(got), len(prog)) {
			if got[i] != prog[i] {
				t.Fatalf("slot %d: got %v, want %v (%q)", i, got[i], prog[i], Format(prog, i))
			}
		}
		t.Fatalf("got %d slots, want %d", len(got), len(prog))
	}
}

func TestAssembleLabelsAndComments(t *testing.T) {
	src := `
; a verifier-log style comment
start:  r0 = 0          // trailing comment
loop:
	r0 += 1             # hash comment
	if r0 < 10 goto loop
	if w0 == 0 goto out
	call helper
	r1 = subprog[helper]
	gotol out
out:	exit
helper: call bpf_ktime_get_ns
	exit
`
	got, err := Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Insn{
		{Op: 0xb7},
		{Op: 0x07, Imm: 1},
		{Op: 0xa5, Off: -2, Imm: 10},
		{Op: 0x16, Off: 4},
		{Op: 0x85, Src: 1, Imm: 4},
		{Op: 0x18, Dst: 1, Src: 4, Imm: 3}, {},
		{Op: 0x06, Imm: 0},
		{Op: 0x95},
		{Op: 0x85, Imm: 5},
		{Op: 0x95},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestAssembleExtraSpellings(t *testing.T) {
	for text, want := range map[string][]Insn{
		"r1 = 5 ll":                   {{Op: 0x18, Dst: 1, Imm: 5}, {}},
		"r1 = -1 ll":                  {{Op: 0x18, Dst: 1, Imm: -1}, {Imm: -1}},
		"call kfunc#123":              {{Op: 0x85, Src: 2, Imm: 123}},
		"call 7":                      {{Op: 0x85, Imm: 7}},
		"call bpf_map_lookup_elem":    {{Op: 0x85, Imm: 1}},
		"w0 = 0x10":                   {{Op: 0xb4, Imm: 16}},
		"r0 = *(u32 *)(r1+4)":         {{Op: 0x61, Src: 1, Off: 4}},
		"3: (07) r0 += 1":             {{Op: 0x07, Imm: 1}},
		"   12: (95) exit":            {{Op: 0x95}},
		"if r1 == -1 goto pc+0":       {{Op: 0x15, Dst: 1, Imm: -1}},
		"*(u32 *)(r1 +0x10) = 0xffff": {{Op: 0x62, Dst: 1, Off: 16, Imm: 0xffff}},
	} {
		got, err := Assemble(text)
		if err != nil {
			t.Errorf("%q: %v", text, err)
		} else if !slices.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", text, got, want)
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	for _, c := range []struct{ src, msg string }{
		{"r0 = 1\nr0 frob 2\n", `line 2: "r0 frob 2": unknown instruction`},
		{"(07) exit", "opcode prefix (07) does not match the instruction's (95)"},
		{"r0 += w1", "mixed register widths"},
		{"w0 = *(u32 *)(r1 +0)", "expected a 64-bit register"},
		{"r16 = 1", "invalid register"},
		{"r0 = 4294967296", "out of 32-bit range"},
		{"goto pc+32768", "out of 16-bit range"},
		{"goto nowhere", `undefined label "nowhere"`},
		{"a:\na:", `label "a" already defined`},
		{"call bpf_map_update_elem#1", "helper #1 is bpf_map_lookup_elem"},
		{"r1 = atomic64_fetch_add((u64 *)(r2 +0), r3)", "result register must be the source"},
		{"r1 = atomic_fetch_add((u64 *)(r2 +0), r1)", "does not match the access size"},
		{"r1 = atomic_cmpxchg((u32 *)(r2 +0), r0, r1)", "cmpxchg compares and returns r0"},
		{"lock *(u8 *)(r1 +0) += r2", "32 or 64 bits"},
		{"r0 = -r1", "neg works in place"},
		{"r0 = be16 r1", "byte swaps work in place"},
		{"r0 = be8 r0", "unknown operation be8"},
		{"w0 = (s32)w1", "invalid sign-extension type"},
		{"r0 = *(u64 *)skb[0]", "invalid packet load size"},
		{"r1 = *(u8 *)skb[0]", "packet loads write r0"},
		{"r1 = map[id:-1]", "out of unsigned 32-bit range"},
	} {
		_, err := Assemble(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %v, want one containing %q", c.src, err, c.msg)
		}
	}
}

// TestHelperNamesMatchCilium repeats the generation of helperNames: cilium's
// names with "Fn" dropped and CamelCase turned into snake_case.
func TestHelperNamesMatchCilium(t *testing.T) {
	for id, name := range helperNames {
		camel := strings.TrimPrefix(asm.BuiltinFunc(id).String(), "Fn")
		if want := "bpf_" + snakeCase(camel); name != want {
			t.Errorf("helper %d: %s, cilium gives %s", id, name, want)
		}
	}
	if s := asm.BuiltinFunc(len(helperNames)).String(); !strings.HasPrefix(s, "BuiltinFunc(") {
		t.Errorf("cilium knows helper %d (%s), missing from the table", len(helperNames), s)
	}
}

func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func ExampleDisassemble() {
	prog, err := Assemble(`
		r1 = 0
		*(u32 *)(r10 -4) = r1
		r2 = r10
		r2 += -4
		r1 = map[id:3]
		call bpf_map_lookup_elem#1
		if r0 == 0x0 goto out
		r1 = 1
		lock *(u64 *)(r0 +0) += r1
	out:
		exit`)
	if err != nil {
		panic(err)
	}
	fmt.Print(Disassemble(prog))
	// Output:
	// 0: (b7) r1 = 0
	// 1: (63) *(u32 *)(r10 -4) = r1
	// 2: (bf) r2 = r10
	// 3: (07) r2 += -4
	// 4: (18) r1 = map[id:3]
	// 6: (85) call bpf_map_lookup_elem#1
	// 7: (15) if r0 == 0x0 goto pc+2
	// 8: (b7) r1 = 1
	// 9: (db) lock *(u64 *)(r0 +0) += r1
	// 10: (95) exit
}
