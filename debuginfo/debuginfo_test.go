package debuginfo

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/vm"
)

const firewall = "../examples/progs/xdp_firewall.o"

func loadProg(t *testing.T, path, name string) (*Info, *vm.Program) {
	t.Helper()
	in, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loader.Load(path, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Program(name)
	if err != nil {
		t.Fatal(err)
	}
	return in, p.Prog
}

// pcOf finds the first pc whose disassembly contains text.
func pcOf(t *testing.T, p *vm.Program, line int, text string) int {
	t.Helper()
	for pc := range p.Len() {
		if l := p.Line(pc); l != nil && l.Line == line && strings.Contains(isa.Format(p.Insns, pc), text) {
			return pc
		}
	}
	t.Fatalf("no pc on line %d with %q", line, text)
	return -1
}

func local(t *testing.T, pr *Prog, pc int, name string) Var {
	t.Helper()
	for _, v := range pr.Locals(pc) {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("pc %d: no live local %q in %v", pc, name, pr.Locals(pc))
	return Var{}
}

// The firewall's locals, checked against its disassembly (llvm-objdump):
// len is computed into r2 (r2 = r6; r2 -= r8), the IPv6 source address is
// copied to fp-16..fp-1 (two u64 stores), ctx arrives in r1.
func TestFirewallLocals(t *testing.T) {
	in, p := loadProg(t, firewall, "xdp_firewall")
	pr := in.Program(p)

	if v := local(t, pr, 0, "ctx"); v.Loc.String() != "r1" || v.TypeName() != "struct xdp_md *" || !v.Param {
		t.Errorf("ctx at pc 0: %s %s param=%v", v.Loc, v.TypeName(), v.Param)
	}
	// After "r2 -= r8" (line 113), len lives in r2 on line 118.
	pc := pcOf(t, p, 118, "r1 = ")
	if v := local(t, pr, pc, "len"); v.Loc.String() != "r2" || v.TypeName() != "__u64" {
		t.Errorf("len at pc %d: %s %s", pc, v.Loc, v.TypeName())
	}
	if got := pr.RegName(pc, 2); got != "len" {
		t.Errorf("RegName(%d, r2) = %q", pc, got)
	}
	// src is the 16-byte in6_addr the code stores at r10-16 and r10-8.
	store := -1
	for pc := range p.Len() {
		if s := isa.Format(p.Insns, pc); strings.Contains(s, "*(u64 *)(r10 -16) = ") {
			store = pc
			break
		}
	}
	if store < 0 {
		t.Fatal("no store to r10-16")
	}
	if v := local(t, pr, store+1, "src"); v.Loc.String() != "fp-16" || v.TypeName() != "struct in6_addr" {
		t.Errorf("src at pc %d: %s %s", store+1, v.Loc, v.TypeName())
	}
	if name, within := pr.SlotName(store+1, -8); name != "src" || within != 8 {
		t.Errorf("SlotName(fp-8) = %q+%d", name, within)
	}
}

// note_ports is inlined at line 159 (IPv6) and 146 (IPv4):
// its frame sits inside xdp_firewall's and has its own parameters.
func TestInlinedFrames(t *testing.T) {
	in, p := loadProg(t, firewall, "xdp_firewall")
	pr := in.Program(p)
	found := false
	for pc := range p.Len() {
		fr := pr.Frames(pc)
		if len(fr) < 2 || fr[0].Func != "note_ports" {
			continue
		}
		found = true
		if !fr[0].Inlined || fr[1].Func != "xdp_firewall" || fr[1].Inlined {
			t.Fatalf("pc %d frames %+v", pc, fr)
		}
		// Lines 146 (IPv4) and 159 (IPv6); clang gives the call it merged
		// from both paths line 0.
		if fr[0].CallLine != 146 && fr[0].CallLine != 159 && fr[0].CallLine != 0 {
			t.Errorf("note_ports called from line %d", fr[0].CallLine)
		}
		if v := local(t, pr, pc, "data_end"); v.Func != "note_ports" && v.Func != "xdp_firewall" {
			t.Errorf("data_end belongs to %q", v.Func)
		}
	}
	if !found {
		t.Fatal("no pc inside inlined note_ports")
	}
	// The noinline subprogram record is its own function with parameters.
	rec := -1
	for _, f := range p.Funcs {
		if f.Name == "record" {
			rec = f.Start
		}
	}
	if rec < 0 {
		t.Fatal("no function record")
	}
	// action's address is taken (a map key): it lives at fp-4, where the
	// first instruction stores r1.
	if v := local(t, pr, rec, "action"); v.Loc.String() != "fp-4" || v.TypeName() != "__u32" || !v.Param {
		t.Errorf("record's action: %s %s", v.Loc, v.TypeName())
	}
	if fr := pr.Frames(rec); len(fr) != 1 || fr[0].Func != "record" {
		t.Errorf("frames at record: %+v", fr)
	}
}

func TestGlobals(t *testing.T) {
	in, err := LoadFile(firewall)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"max_frame_len":  ".rodata const volatile __u32",
		"answer_ping":    ".rodata+4 const volatile __u8",
		"config_version": ".data __u32",
		"packets_seen":   ".bss __u64",
		"bytes_seen":     ".bss+8 __u64",
		"last_dport":     ".bss+16 __u16",
	}
	for name, w := range want {
		v := in.Global(name)
		if v == nil {
			t.Errorf("no global %s", name)
			continue
		}
		if got := v.Loc.String() + " " + v.TypeName(); got != w {
			t.Errorf("%s: %q, want %q", name, got, w)
		}
	}
}

// Values formatted from the bytes clang put in .data for global_pkt
// (testdata/types.c): bitfields, a signed bitfield, an enum by name, a
// union, a MAC, a big-endian address.
func TestFormat(t *testing.T) {
	in, err := LoadFile("testdata/types.o")
	if err != nil {
		t.Fatal(err)
	}
	v := in.Global("global_pkt")
	if v == nil {
		t.Fatal("no global_pkt")
	}
	raw, err := os.ReadFile("testdata/types.o")
	if err != nil {
		t.Fatal(err)
	}
	data := sectionBytes(t, raw, ".data")
	got := Format(v.Type, data[v.Loc.Value:], v.Name)
	want := "{h_dest = 02:00:00:00:00:01, saddr = 10.0.0.2, col = GREEN, fl = {a = 5, b = 17, c = -3, d = 9}, u = {w = 16909060, bytes = {4, 3, 2, 1}}, ports = {53, 80}}"
	if got != want {
		t.Errorf("global_pkt =\n %s\nwant\n %s", got, want)
	}
	if s := v.TypeName(); s != "struct pkt" {
		t.Errorf("type %q", s)
	}
}

func TestNoDWARF(t *testing.T) {
	in, err := LoadFile("testdata/types-nodwarf.o")
	if !errors.Is(err, ErrNoDWARF) {
		t.Fatalf("err = %v", err)
	}
	if in.HasDWARF() || in.Global("global_pkt") != nil {
		t.Fatal("stripped object has DWARF")
	}
	c, err := loader.Load("testdata/types-nodwarf.o", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Program("types_prog")
	pr := in.Program(p.Prog)
	if l := pr.Locals(0); l != nil {
		t.Errorf("locals without DWARF: %v", l)
	}
	if fr := pr.Frames(0); len(fr) != 1 || fr[0].Func != "types_prog" {
		t.Errorf("frames without DWARF: %+v", fr)
	}
	// Damaged input: never a panic.
	for _, b := range [][]byte{nil, []byte("\x7fELF"), bytes.Repeat([]byte{0xff}, 100)} {
		if _, err := Load(bytes.NewReader(b)); err == nil {
			t.Errorf("Load(%q) succeeded", b)
		}
	}
}
