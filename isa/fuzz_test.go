package isa

import (
	"slices"
	"testing"
)

// FuzzAssemble: Assemble never panics, and whatever assembles disassembles
// to text that assembles to the same slots.
func FuzzAssemble(f *testing.F) {
	for _, c := range disasmCases {
		f.Add(c.text)
	}
	f.Add("l: goto l\nr1 = subprog[l]\ncall l")
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := Assemble(src)
		if err != nil {
			return
		}
		text := Disassemble(prog)
		again, err := Assemble(text)
		if err != nil {
			t.Fatalf("%q assembled, but its disassembly does not:\n%s\n%v", src, text, err)
		}
		if !slices.Equal(prog, again) {
			t.Fatalf("%q: %v, re-assembled %v", src, prog, again)
		}
	})
}

// FuzzDisassemble: any bytecode disassembles without panicking, and the
// text assembles back to it.
func FuzzDisassemble(f *testing.F) {
	for _, c := range disasmCases {
		f.Add(Encode(c.insns))
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		prog, err := Decode(code[:len(code)/SlotSize*SlotSize])
		if err != nil {
			t.Fatal(err)
		}
		for pc := range prog {
			Format(prog, pc)
		}
		text := Disassemble(prog)
		again, err := Assemble(text)
		if err != nil {
			t.Fatalf("%v: %v\n%s", prog, err, text)
		}
		if !slices.Equal(prog, again) {
			t.Fatalf("%v re-assembled as %v:\n%s", prog, again, text)
		}
	})
}

// FuzzAssembleConformance: the conformance assembler never panics.
func FuzzAssembleConformance(f *testing.F) {
	f.Add(conformanceForms)
	f.Add("lock fetch_add32 [%r1 - 0x10], %r2\nja32 +1\ncall local -1")
	f.Fuzz(func(t *testing.T, src string) {
		AssembleConformance(src)
	})
}
