package loader

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/isa"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

const examples = "../examples/progs"

func exampleObjects(t *testing.T) []string {
	t.Helper()
	objs, err := filepath.Glob(filepath.Join(examples, "*.o"))
	if err != nil || len(objs) == 0 {
		t.Skipf("no example objects in %s", examples)
	}
	return objs
}

// TestExamples loads every example object and checks each program against
// the spec cilium/ebpf parsed: the same number of slots, function names
// from BTF, line info.
func TestExamples(t *testing.T) {
	for _, obj := range exampleObjects(t) {
		t.Run(filepath.Base(obj), func(t *testing.T) {
			c, err := Load(obj, Options{})
			if err != nil {
				t.Fatal(err)
			}
			spec, err := ebpf.LoadCollectionSpec(obj)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.MapNames(), slices.Sorted(maps.Keys(spec.Maps)); !slices.Equal(got, want) {
				t.Errorf("maps %v, want %v", got, want)
			}
			for name, ps := range spec.Programs {
				p, ok := c.Programs[name]
				if !ok {
					t.Errorf("program %s missing", name)
					continue
				}
				slots := 0
				for _, ins := range ps.Instructions {
					slots += int(ins.Width())
				}
				if p.Prog.Len() != slots {
					t.Errorf("%s: %d slots, spec has %d", name, p.Prog.Len(), slots)
				}
				if p.Type != ps.Type || p.Section != ps.SectionName || p.License != "GPL" {
					t.Errorf("%s: type %s section %q license %q, want %s %q GPL", name, p.Type, p.Section, p.License, ps.Type, ps.SectionName)
				}
				if p.Prog.Funcs[0].Name != name {
					t.Errorf("%s: first function %q", name, p.Prog.Funcs[0].Name)
				}
				if l := p.Prog.Line(0); l == nil || l.Line == 0 || l.Func != name || filepath.Ext(l.File) != ".c" {
					t.Errorf("%s: line of pc 0 is %+v", name, l)
				}
				if !slices.Equal(p.Prog.Maps, c.MapNames()) {
					t.Errorf("%s: Prog.Maps %v, want the collection's %v", name, p.Prog.Maps, c.MapNames())
				}
			}
		})
	}
}

// TestEncodingMatchesELF compares every slot the loader produced with the
// bytes clang wrote, except where a relocation applies (map references,
// calls, CO-RE); map references are checked for the index convention. This
// catches encoding slips such as cilium/ebpf v0.22.0 dropping the atomic
// operation from imm.
func TestEncodingMatchesELF(t *testing.T) {
	atomics := 0
	for _, obj := range exampleObjects(t) {
		c, err := Load(obj, Options{})
		if err != nil {
			t.Fatal(err)
		}
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.Open(obj)
		if err != nil {
			t.Fatal(err)
		}
		syms, err := f.Symbols()
		if err != nil {
			t.Fatal(err)
		}
		for _, sym := range syms {
			p, ok := c.Programs[sym.Name]
			if !ok || elf.ST_TYPE(sym.Info) != elf.STT_FUNC {
				continue
			}
			data, err := f.Sections[sym.Section].Data()
			if err != nil {
				t.Fatal(err)
			}
			raw := data[sym.Value : sym.Value+sym.Size]
			got := isa.Encode(p.Prog.Insns)
			iter := spec.Programs[sym.Name].Instructions.Iterate()
			for iter.Next() {
				pc := int(iter.Offset)
				if pc*8 >= len(raw) {
					break // appended subprograms
				}
				n := int(iter.Ins.Width()) * 8
				want, have := raw[pc*8:pc*8+n], got[pc*8:pc*8+n]
				switch {
				case iter.Ins.IsLoadFromMap():
					idx := slices.Index(c.MapNames(), iter.Ins.Reference())
					if imm := int32(binary.LittleEndian.Uint32(have[4:])); int(imm) != idx {
						t.Errorf("%s pc %d: map %s as index %d, want %d", sym.Name, pc, iter.Ins.Reference(), imm, idx)
					}
					if off := binary.LittleEndian.Uint32(have[12:]); off != uint32(iter.Ins.Constant>>32) {
						t.Errorf("%s pc %d: value offset %d, spec %d", sym.Name, pc, off, iter.Ins.Constant>>32)
					}
				case iter.Ins.Reference() != "", btf.CORERelocationMetadata(iter.Ins) != nil:
					// calls and function pointers are resolved, CO-RE
					// relocations rewrite: both are checked by running
				default:
					if !bytes.Equal(want, have) {
						t.Errorf("%s pc %d: encoded %x, ELF %x", sym.Name, pc, have, want)
					}
					if want[0] == 0xdb || want[0] == 0xc3 {
						atomics++
					}
				}
			}
		}
		f.Close()
	}
	if atomics == 0 {
		t.Error("no atomic instruction compared; the examples should include one")
	}
}

func TestGlobalData(t *testing.T) {
	obj := filepath.Join(examples, "xdp_firewall.o")
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		t.Skip(err)
	}
	// Overlaid variable values: .rodata max_frame_len (1514 in the C source)
	// edited to 100; .data config_version keeps its initial 3.
	if err := spec.Variables["max_frame_len"].Set(uint32(100)); err != nil {
		t.Fatal(err)
	}
	c, err := FromSpec(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	value := func(m string) []byte {
		mp := c.Maps[m]
		v := make([]byte, mp.UserValueSize())
		if err := mp.Get(make([]byte, 4), v); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		return v
	}
	check := func(varName string, want uint32) {
		v := spec.Variables[varName]
		got := binary.LittleEndian.Uint32(value(v.SectionName)[v.Offset:])
		if got != want {
			t.Errorf("%s = %d, want %d", varName, got, want)
		}
	}
	check("max_frame_len", 100)
	check("config_version", 3)
	if !c.Maps[".rodata"].ReadOnly() || c.Maps[".data"].ReadOnly() {
		t.Error(".rodata must be read-only to programs, .data writable")
	}
	if bss := value(".bss"); !bytes.Equal(bss, make([]byte, len(bss))) {
		t.Errorf(".bss not zero: %x", bss)
	}
}

func TestMaxEntries(t *testing.T) {
	obj := filepath.Join(examples, "xdp_firewall.o")
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		t.Skip(err)
	}
	spec.Maps["blocked_v6"].MaxEntries = 0
	c, err := FromSpec(spec, Options{MaxEntries: map[string]uint32{"blocked_v4": 7}})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Maps["blocked_v4"].Spec().MaxEntries; n != 7 {
		t.Errorf("blocked_v4 max_entries %d, want the override 7", n)
	}
	if n := c.Maps["blocked_v6"].Spec().MaxEntries; n != DefaultMaxEntries {
		t.Errorf("blocked_v6 max_entries %d, want DefaultMaxEntries", n)
	}
}

// TestSpinLock: the loader finds a value's bpf_spin_lock in its BTF, at
// the top level (xdp_lpm's totals) or nested, and refuses two.
func TestSpinLock(t *testing.T) {
	c, err := Load(filepath.Join(examples, "xdp_lpm.o"), Options{})
	if err != nil {
		t.Skip(err)
	}
	for name, m := range c.Maps {
		if s := m.Spec(); s.HasSpinLock != (name == "totals") || s.SpinLockOff != 0 {
			t.Errorf("%s: HasSpinLock %v at %d", name, s.HasSpinLock, s.SpinLockOff)
		}
	}
	u32 := &btf.Int{Name: "u32", Size: 4}
	lock := &btf.Struct{Name: "bpf_spin_lock", Size: 4, Members: []btf.Member{{Name: "val", Type: u32}}}
	inner := &btf.Struct{Name: "inner", Size: 8, Members: []btf.Member{{Name: "n", Type: u32}, {Name: "l", Type: lock, Offset: 32}}}
	value := &btf.Struct{Name: "v", Size: 16, Members: []btf.Member{{Name: "a", Type: u32}, {Name: "in", Type: inner, Offset: 64}}}
	spec := &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{
		"m": {Name: "m", Type: ebpf.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 1, Key: u32, Value: value},
	}, Programs: map[string]*ebpf.ProgramSpec{}}
	c, err = FromSpec(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Maps["m"].Spec(); !s.HasSpinLock || s.SpinLockOff != 12 {
		t.Errorf("nested lock: HasSpinLock %v at %d, want at 12", s.HasSpinLock, s.SpinLockOff)
	}
	two := &btf.Struct{Name: "two", Size: 8, Members: []btf.Member{{Name: "a", Type: lock}, {Name: "b", Type: lock, Offset: 32}}}
	spec.Maps["m"].ValueSize, spec.Maps["m"].Value = 8, two
	if _, err := FromSpec(spec, Options{}); !errors.Is(err, ErrInvalidMap) {
		t.Errorf("two locks: %v, want ErrInvalidMap", err)
	}
}

// TestCPUMapEntries: like cilium/ebpf, the loader clamps a cpumap to the
// possible CPUs.
func TestCPUMapEntries(t *testing.T) {
	c, err := Load(filepath.Join(examples, "xdp_redirect.o"), Options{PossibleCPUs: 2, MaxEntries: map[string]uint32{"cpus": 8}})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Maps["cpus"].Spec().MaxEntries; n != 2 {
		t.Errorf("cpus max_entries %d, want the 2 possible CPUs", n)
	}
}

func TestProgramArrayValues(t *testing.T) {
	c, err := Load(filepath.Join(examples, "xdp_tailcall.o"), Options{Programs: []string{"xdp_dispatch"}})
	if err != nil {
		t.Skip(err)
	}
	jt := c.Maps["jump_table"].(*bpfmaps.ProgramArrayMap)
	// The C source's .values: slot 0 handle_ipv4, 1 handle_ipv6, 2 handle_udp, 3 empty.
	for slot, name := range []string{"handle_ipv4", "handle_ipv6", "handle_udp", ""} {
		got, ok := jt.Program(uint32(slot))
		if name == "" {
			if ok {
				t.Errorf("slot %d holds %v, want empty", slot, got)
			}
			continue
		}
		if p, _ := got.(*vm.Program); p == nil || p != c.Programs[name].Prog {
			t.Errorf("slot %d = %v, want program %s", slot, got, name)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		obj, prog string
		want      error
		insn      int
		mapName   string
	}{
		{"testdata/bad.o", "uses_kfunc", ErrKfunc, 0, ""},
		{"testdata/kconfig_bad.o", "", ErrExtern, -1, ".kconfig"},
		{"testdata/bad.o", "unknown_section", ErrUnknownSection, -1, ""},
		{"testdata/badmap.o", "", ErrUnsupportedMap, -1, "socks"},
	} {
		opts := Options{}
		if tc.prog != "" {
			opts.Programs = []string{tc.prog}
		}
		_, err := Load(tc.obj, opts)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.obj, tc.prog, err, tc.want)
			continue
		}
		if e.Program != tc.prog || e.Insn != tc.insn || e.Map != tc.mapName || e.Object != tc.obj {
			t.Errorf("%s %s: error names %+v", tc.obj, tc.prog, e)
		}
	}
	if _, err := Load("testdata/bad.o", Options{Programs: []string{"good"}}); err != nil {
		t.Errorf("loading only the supported program: %v", err)
	}
	if _, err := LoadReader(bytes.NewReader([]byte("\x7fELF not really")), Options{}); !errors.Is(err, ErrInvalidObject) {
		t.Errorf("garbage: %v, want ErrInvalidObject", err)
	}
	c, err := Load("testdata/bad.o", Options{Programs: []string{"good"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Program("nope"); !errors.Is(err, ErrNoProgram) {
		t.Errorf("Program(nope): %v", err)
	}
	if p, err := c.Program("xdp"); err != nil || p.Name != "good" {
		t.Errorf("Program by section: %v %v", p, err)
	}
	if _, err := c.Machine("good", vm.Config{}); err != nil {
		t.Errorf("Machine: %v", err)
	}
}

// TestCORE relocates core.c against core_target.c's BTF, where struct task
// has tgid at 0, pid at 8, no field "gone" and 16 bytes.
func TestCORE(t *testing.T) {
	c, err := Load("testdata/core.o", Options{KernelBTF: "testdata/core_target.o"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(prog string) ([]byte, error) {
		m, err := c.Machine(prog, vm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		x, err := bpfctx.NewXDP(m, make([]byte, 64), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r0, err := m.Run(context.Background(), x.Arg()); err != nil || r0 != 2 {
			return nil, err
		}
		out := make([]byte, 32)
		if err := c.Maps[".bss"].Get(make([]byte, 4), out); err != nil {
			t.Fatal(err)
		}
		return out, nil
	}
	out, err := run("offsets")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{8, 0, 0, 16} // pid offset, tgid offset, gone exists, sizeof
	for i, w := range want {
		if got := binary.LittleEndian.Uint64(out[8*i:]); got != w {
			t.Errorf("out[%d] = %d, want %d", i, got, w)
		}
	}
	if _, err := run("guarded"); err != nil {
		t.Errorf("guarded: the poisoned instruction is dead code, got %v", err)
	}
	if len(c.Programs["unguarded"].Poisoned) != 1 {
		t.Errorf("unguarded: poisoned %v, want one relocation", c.Programs["unguarded"].Poisoned)
	}
	_, err = run("unguarded")
	var e *Error
	if !errors.Is(err, ErrPoisonedCORE) || !errors.As(err, &e) || e.Program != "unguarded" || e.Insn != 0 || e.Detail == "" {
		t.Errorf("unguarded: %v, want ErrPoisonedCORE at insn 0 naming the relocation", err)
	}

	if _, err := Load("testdata/core.o", Options{KernelBTF: "testdata/no-such-btf"}); !errors.Is(err, ErrCORE) {
		t.Errorf("missing target BTF: %v, want ErrCORE", err)
	}
	target, err := btf.LoadSpec("testdata/core_target.o")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load("testdata/core.o", Options{KernelTypes: target}); err != nil {
		t.Errorf("KernelTypes: %v", err)
	}
}

func TestRaw(t *testing.T) {
	// r0 = 2; exit
	code := isa.Encode([]isa.Insn{{Op: 0xb7, Imm: 2}, {Op: 0x95}})
	p, err := Raw("two", code, ebpf.XDP)
	if err != nil || p.Prog.Len() != 2 || p.Type != ebpf.XDP {
		t.Fatalf("Raw: %+v %v", p, err)
	}
	if _, err := Raw("bad", code[:8], ebpf.XDP); !errors.Is(err, ErrInvalidProgram) {
		t.Errorf("fall-through program: %v, want ErrInvalidProgram", err)
	}
}
