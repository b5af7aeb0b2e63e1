package loader

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/bpfscope/bpfscope/isa"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// linker holds what building the programs of one object needs.
type linker struct {
	object   string
	spec     *ebpf.CollectionSpec
	opts     Options
	mapIndex map[string]int
	mapNames []string
	target   *btf.Spec
	budget   *bpfmaps.Budget
}

// trapHelper is the helper id poisoned CO-RE instructions are rewritten to
// call. Kernel helper ids stay far below it; it is small because the vm
// indexes helpers in a dense table.
const trapHelper = 0xbad

// ld_imm64 source registers without a cilium/ebpf constant.
const (
	pseudoBTFID       = 3
	pseudoMapIdx      = 5
	pseudoMapIdxValue = 6
)

// program links one program: CO-RE, map references, calls, BTF info.
func (l *linker) program(name string, ps *ebpf.ProgramSpec) (*Program, error) {
	fail := func(insn int, err error, detail string, cause error) error {
		return &Error{Object: l.object, Program: name, Section: ps.SectionName, Insn: insn, Err: err, Detail: detail, Cause: cause}
	}
	if ps.Type == ebpf.UnspecifiedProgram {
		return nil, fail(-1, ErrUnknownSection, "", nil)
	}
	insns := ps.Copy().Instructions
	insns, poisoned, err := l.relocateCORE(name, ps, insns)
	if err != nil {
		return nil, err
	}

	iter := insns.Iterate()
	for iter.Next() {
		ins, pc := iter.Ins, int(iter.Offset)
		switch {
		case ins.IsKfuncCall():
			detail, err := l.resolveKfunc(ins)
			if detail != "" || err != nil {
				return nil, fail(pc, ErrKfunc, detail, err)
			}
		case ins.IsLoadFromMap():
			ref := ins.Reference()
			if ref == "" {
				// cilium/ebpf keeps .kconfig externs as map value loads
				// without a reference, the offset in its metadata.
				off, ok := kconfigOffset(ins)
				idx, have := l.mapIndex[kconfigMap]
				if !ok || !have {
					return nil, fail(pc, ErrExtern, "(.kconfig variable)", nil)
				}
				ins.Src = asm.PseudoMapValue
				ins.Constant = int64(uint64(off)<<32 | uint64(idx))
				continue
			}
			idx, ok := l.mapIndex[ref]
			if !ok {
				return nil, fail(pc, ErrUnresolved, "map "+ref, nil)
			}
			if ins.Src == asm.PseudoMapFD {
				ins.Constant = int64(idx)
			} else {
				off := uint64(ins.Constant) >> 32
				ins.Constant = int64(off<<32 | uint64(idx))
			}
		case ins.OpCode.IsDWordLoad() && !ins.IsLoadOfFunctionPointer():
			switch {
			case ins.Src == pseudoBTFID || ins.Src == pseudoMapIdx || ins.Src == pseudoMapIdxValue:
				return nil, fail(pc, ErrExtern, fmt.Sprintf("(ld_imm64 src %d)", ins.Src), nil)
			case ins.Reference() != "":
				return nil, fail(pc, ErrExtern, ins.Reference(), nil)
			}
		}
	}

	lines, funcs := sourceInfo(insns)

	// Marshalling resolves calls and function pointers in place (jumps
	// relative to the next slot); the bytes themselves are discarded.
	if err := insns.Marshal(io.Discard, ps.ByteOrder); err != nil {
		return nil, fail(-1, ErrUnresolved, "", err)
	}
	vp, err := vm.FromInstructions(name, insns)
	if err != nil {
		insn := -1
		var le *vm.LoadError
		if errors.As(err, &le) {
			insn = le.PC
		}
		return nil, fail(insn, ErrInvalidProgram, "", err)
	}
	vp.Maps = l.mapNames
	vp.Lines = lines
	for _, f := range funcs {
		vp.SetFuncName(f.Start, f.Name)
	}
	return &Program{
		Name: name, Type: ps.Type, AttachType: ps.AttachType,
		Section: ps.SectionName, License: ps.License,
		Prog: vp, Poisoned: poisoned,
	}, nil
}

// sourceInfo extracts the source line of every pc (carried forward from
// the last line-info row; rows with line 0 mean "unknown") and the
// functions' names from BTF func info, or their symbols.
func sourceInfo(insns asm.Instructions) ([]*isa.Line, []vm.Func) {
	var (
		lines []*isa.Line
		funcs []vm.Func
		cur   *isa.Line
		fn    string
		known bool
	)
	iter := insns.Iterate()
	for iter.Next() {
		ins, pc := iter.Ins, int(iter.Offset)
		name := ins.Symbol()
		if f := btf.FuncMetadata(ins); f != nil {
			name = f.Name
		}
		if name != "" {
			fn = name
			funcs = append(funcs, vm.Func{Name: name, Start: pc})
			cur = nil
		}
		if l, ok := ins.Source().(*btf.Line); ok {
			cur = nil
			if l.LineNumber() != 0 {
				cur = &isa.Line{Func: fn, File: l.FileName(), Line: int(l.LineNumber()),
					Col: int(l.LineColumn()), Text: strings.TrimSpace(l.Line())}
				known = true
			}
		}
		for range ins.Width() {
			lines = append(lines, cur)
		}
	}
	if !known {
		lines = nil
	}
	return lines, funcs
}

// relocateCORE applies the program's CO-RE relocations. Poisoned
// instructions (no match in the target) become calls of the trap helper;
// their pcs and relocations are returned.
func (l *linker) relocateCORE(name string, ps *ebpf.ProgramSpec, insns asm.Instructions) (asm.Instructions, map[int]string, error) {
	var (
		relos []*btf.CORERelocation
		at    []int
	)
	for i := range insns {
		if r := btf.CORERelocationMetadata(&insns[i]); r != nil {
			relos = append(relos, r)
			at = append(at, i)
		}
	}
	if len(relos) == 0 {
		return insns, nil, nil
	}
	fail := func(i int, cause error) error {
		e := &Error{Object: l.object, Program: name, Section: ps.SectionName, Insn: -1, Err: ErrCORE, Cause: cause}
		if i >= 0 {
			e.Detail = relos[i].String()
			e.Insn = rawOffset(insns, at[i])
		}
		return e
	}
	target, err := l.kernelTypes()
	if err != nil {
		return nil, nil, fail(0, err)
	}
	var local btf.Builder
	fixups, err := btf.CORERelocate(relos, []*btf.Spec{target}, ps.ByteOrder, local.Add)
	if err != nil {
		return nil, nil, fail(-1, err)
	}
	poison := map[int]string{} // instruction index -> relocation
	for i := range fixups {
		ins := &insns[at[i]]
		if err := fixups[i].Apply(ins); err != nil {
			return nil, nil, fail(i, err)
		}
		if isPoisoned(ins) {
			poison[at[i]] = relos[i].String()
		}
	}
	if len(poison) == 0 {
		return insns, nil, nil
	}
	// Rebuild with each poisoned instruction turned into trap calls, one
	// per slot, so raw offsets (and so jumps) are unchanged.
	out := make(asm.Instructions, 0, len(insns)+len(poison))
	byPC := map[int]string{}
	pc := 0
	for i, ins := range insns {
		relo, bad := poison[i]
		if !bad {
			out = append(out, ins)
			pc += int(ins.Width())
			continue
		}
		byPC[pc] = relo
		for k := range ins.Width() {
			trap := asm.BuiltinFunc(trapHelper).Call()
			if k == 0 {
				trap.Metadata = ins.Metadata
			}
			out = append(out, trap)
			pc++
		}
	}
	return out, byPC, nil
}

func isPoisoned(ins *asm.Instruction) bool {
	if ins.IsBuiltinCall() && ins.Constant == btf.COREBadRelocationSentinel {
		return true
	}
	return ins.OpCode.IsDWordLoad() && ins.Dst == asm.R10 && ins.Constant == btf.COREBadRelocationSentinel
}

// rawOffset converts an instruction index to a pc.
func rawOffset(insns asm.Instructions, index int) int {
	pc := 0
	for i := 0; i < index && i < len(insns); i++ {
		pc += int(insns[i].Width())
	}
	return pc
}

// kernelTypes returns the CO-RE target: Options.KernelTypes, the BTF file
// Options.KernelBTF names, or DefaultKernelBTF.
func (l *linker) kernelTypes() (*btf.Spec, error) {
	if l.target != nil {
		return l.target, nil
	}
	if l.opts.KernelTypes != nil {
		l.target = l.opts.KernelTypes
		return l.target, nil
	}
	path := l.opts.KernelBTF
	if path == "" {
		if _, err := os.Stat(DefaultKernelBTF); err != nil {
			return nil, fmt.Errorf("no target BTF: set Options.KernelBTF (%s: %w)", DefaultKernelBTF, err)
		}
		path = DefaultKernelBTF
	}
	s, err := loadBTF(path)
	if err != nil {
		return nil, err
	}
	l.target = s
	return s, nil
}

// btfCache keeps parsed BTF files: vmlinux takes a while to parse, and
// specs are safe for concurrent reading.
var btfCache sync.Map // path -> *btf.Spec

func loadBTF(path string) (*btf.Spec, error) {
	if s, ok := btfCache.Load(path); ok {
		return s.(*btf.Spec), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("target BTF: %w", err)
	}
	defer f.Close()
	if err := checkBTFFile(f); err != nil {
		return nil, fmt.Errorf("target BTF %s: %w", path, err)
	}
	s, err := btf.LoadSpec(path)
	if err != nil {
		return nil, fmt.Errorf("target BTF %s: %w", path, err)
	}
	btfCache.Store(path, s)
	return s, nil
}

// coreTrap serves the helper id poisoned instructions call, failing the
// run with an *Error naming the relocation.
type coreTrap struct {
	vm.HelperSet
	c *Collection
}

func (t coreTrap) Helper(id int32) (vm.Helper, bool) {
	if id == trapHelper {
		return vm.Helper{Name: "poisoned_core_relocation", Fn: t.trap}, true
	}
	return t.HelperSet.Helper(id)
}

func (t coreTrap) trap(m *vm.Machine, _ vm.Args) (uint64, error) {
	pc, vp := m.PC(), m.Program()
	e := &Error{Object: t.c.object, Program: vp.Name, Insn: pc, Err: ErrPoisonedCORE}
	for _, p := range t.c.Programs {
		if p.Prog == vp {
			e.Section, e.Detail = p.Section, p.Poisoned[pc]
		}
	}
	return 0, &vm.RunError{Err: e, PC: pc, Prog: vp.Name, Regs: m.Regs(), Depth: m.Depth(), Insns: m.Insns()}
}
