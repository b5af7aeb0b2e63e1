package debug

import (
	"bytes"
	"debug/dwarf"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bpfscope/bpfscope/debuginfo"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// Variable is a value shown to the user: a local, a global, an
// expression's result, or a field or element of one.
type Variable struct {
	Name  string
	Type  string // C type, "" for a plain number
	Value string // formatted: C notation, IPs and MACs where the name says so
	Where string // "r2", "fp-16", "pkt+26", ".bss+8"
	Param bool
	Func  string // for locals: the (possibly inlined) function
	v     value
}

// HasChildren reports whether the value has fields or elements to expand
// (structs, unions, arrays, and pointers to those).
func (v Variable) HasChildren() bool {
	if v.v.typ == nil {
		return false
	}
	switch t := debuginfo.Strip(v.v.typ).(type) {
	case *dwarf.StructType, *dwarf.ArrayType:
		return true
	case *dwarf.PtrType:
		_, void := t.Type.(*dwarf.VoidType)
		return t.Type != nil && !void && t.Type.Size() > 0
	}
	return false
}

func (s *Session) variable(name string, v value) Variable {
	out := Variable{Name: name, Where: v.where, v: v}
	if v.typ == nil {
		out.Value = fmt.Sprintf("%d (%#x)", int64(v.u), v.u)
		return out
	}
	out.Type = debuginfo.CType(v.typ)
	out.Value = s.format(v)
	return out
}

func (s *Session) format(v value) string {
	if _, ok := debuginfo.Strip(v.typ).(*dwarf.PtrType); ok && s.ex != nil {
		p, _ := v.int()
		if p == 0 {
			return "NULL"
		}
		return fmt.Sprintf("%#x <%s>", p, s.ex.inst.Machine.Describe(p))
	}
	return debuginfo.Format(v.typ, v.b, v.name)
}

// Children expands a struct's fields, an array's elements (the first 256)
// or what a pointer points to.
func (s *Session) Children(v Variable) ([]Variable, error) {
	if s.ex == nil {
		return nil, ErrNotRunning
	}
	t := s.ex.tr
	if v.v.typ == nil {
		return nil, nil
	}
	switch x := debuginfo.Strip(v.v.typ).(type) {
	case *dwarf.StructType:
		var out []Variable
		for _, f := range x.Field {
			fv, err := field(v.v, f.Name)
			if err != nil {
				continue
			}
			out = append(out, s.variable(f.Name, fv))
		}
		return out, nil
	case *dwarf.ArrayType:
		var out []Variable
		for i := int64(0); i < min(x.Count, 256); i++ {
			ev, err := s.index(t, v.v, i)
			if err != nil {
				break
			}
			out = append(out, s.variable(fmt.Sprintf("[%d]", i), ev))
		}
		return out, nil
	case *dwarf.PtrType:
		d, err := s.deref(t, v.v, 0)
		if err != nil {
			return nil, err
		}
		return []Variable{s.variable("*"+v.Name, d)}, nil
	}
	return nil, nil
}

// Eval evaluates an expression where the run is stopped.
func (s *Session) Eval(src string) (Variable, error) {
	if s.ex == nil || s.stop == nil {
		return Variable{}, ErrNotRunning
	}
	x, err := parseExpr(src)
	if err != nil {
		return Variable{}, err
	}
	v, err := s.evalAt(s.ex.tr, x)
	if err != nil {
		return Variable{}, err
	}
	return s.variable(strings.TrimSpace(src), v), nil
}

// Locals returns the C variables and parameters live where the run is
// stopped, innermost scope first. frame selects a frame of Backtrace (0:
// the innermost); variables of outer out-of-line frames are not
// available (their registers are saved by the machine).
func (s *Session) Locals(frame int) ([]Variable, error) {
	if s.ex == nil || s.stop == nil || s.stop.Reason == ReasonExited {
		return nil, ErrNotRunning
	}
	bt := s.Backtrace()
	if frame < 0 || frame >= len(bt) {
		return nil, fmt.Errorf("no frame %d", frame)
	}
	f := bt[frame]
	if f.Depth != s.stop.Depth {
		return nil, fmt.Errorf("frame %d (%s): locals of callers are not available", frame, f.Func)
	}
	dp := s.debugProg(s.stop.Prog)
	if dp == nil {
		return nil, nil
	}
	var out []Variable
	for _, v := range dp.InScope(s.stop.PC) {
		if v.Func != f.Func || v.Loc.Kind == debuginfo.LocGlobal {
			continue
		}
		if v.Loc.Kind == debuginfo.LocNone {
			out = append(out, Variable{Name: v.Name, Type: v.TypeName(), Value: "<optimized out>", Param: v.Param, Func: v.Func})
			continue
		}
		val, err := s.readVar(s.ex.tr, v)
		if err != nil {
			out = append(out, Variable{Name: v.Name, Type: v.TypeName(), Value: "<" + err.Error() + ">", Where: v.Loc.String(), Param: v.Param, Func: v.Func})
			continue
		}
		vr := s.variable(v.Name, val)
		vr.Param, vr.Func = v.Param, v.Func
		out = append(out, vr)
	}
	return out, nil
}

// Globals returns the object's global variables with their values.
func (s *Session) Globals() []Variable {
	if s.ex == nil {
		return nil
	}
	var out []Variable
	for _, g := range s.t.Info.Globals() {
		if g.Loc.Section == ".maps" || g.Loc.Section == "license" {
			continue
		}
		val, err := s.readVar(s.ex.tr, *g)
		if err != nil {
			continue
		}
		out = append(out, s.variable(g.Name, val))
	}
	return out
}

// Registers returns r0..r10 where the run is stopped.
func (s *Session) Registers() ([11]uint64, error) {
	if s.ex == nil || s.stop == nil {
		return [11]uint64{}, ErrNotRunning
	}
	return s.ex.inst.Machine.Regs(), nil
}

// Describe names the memory at addr as traces do ("pkt+26", "fp-8").
func (s *Session) Describe(addr uint64) string {
	if s.ex == nil {
		return ""
	}
	return s.ex.inst.Machine.Describe(addr)
}

// StackFrame is one frame of a backtrace: an out-of-line function, or a
// C function inlined into one.
type StackFrame struct {
	Func    string
	Prog    string
	PC      int
	Line    *isa.Line // the line being executed in this frame
	File    string
	LineNo  int
	Inlined bool
	Kind    FrameKind
	Helper  string // the helper that called a callback frame
	Depth   int    // BPF call depth
}

// Backtrace returns the call stack, innermost frame first: inlined C
// functions, BPF-to-BPF calls, callbacks (with the helper that called
// them) and the program a tail call started.
func (s *Session) Backtrace() []StackFrame {
	if s.ex == nil || s.stop == nil || s.stop.PC < 0 {
		return nil
	}
	var out []StackFrame
	frames := s.ex.inst.Machine.CallStack()
	for i := len(frames) - 1; i >= 0; i-- {
		f := frames[i]
		p := f.Prog
		pc := s.stop.PC
		if i < len(frames)-1 {
			pc = frames[i+1].CallPC
		}
		line := p.Line(pc)
		file, lineNo := lineKey(line)
		var inl []debuginfo.Frame
		if dp := s.debugProg(p.Name); dp != nil {
			inl = dp.Frames(pc)
		}
		for _, fr := range inl {
			if !fr.Inlined {
				break
			}
			out = append(out, StackFrame{Func: fr.Func, Prog: p.Name, PC: pc, Line: line, File: file, LineNo: lineNo, Inlined: true, Depth: i})
			file, lineNo, line = fr.CallFile, fr.CallLine, nil
		}
		sf := StackFrame{Func: p.FuncAt(pc), Prog: p.Name, PC: pc, Line: line, File: file, LineNo: lineNo, Depth: i}
		switch {
		case f.Callback:
			sf.Kind = FrameCallback
			if caller := frames[i-1].Prog; f.CallPC >= 0 && f.CallPC < len(caller.Insns) {
				sf.Helper = s.ex.inst.Machine.HelperName(caller.Insns[f.CallPC].Imm)
			}
		case f.TailCall:
			sf.Kind = FrameTailCall
		case i > 0:
			sf.Kind = FrameCall
		}
		out = append(out, sf)
	}
	return out
}

// Region is a named piece of the run's memory.
type Region struct {
	Name string
	Addr uint64
	Size int
}

// Regions lists the run's memory: stack, context, packet, maps, data.
func (s *Session) Regions() []Region {
	if s.ex == nil {
		return nil
	}
	m := s.ex.inst.Machine
	var out []Region
	for id := uint64(1); id < 1<<16; id++ {
		r, _, ok := m.RegionAt(id << 32)
		if !ok {
			break
		}
		lo, hi := r.Lo, r.Hi
		if hi == 0 {
			hi = uint32(len(r.Data))
		}
		if hi <= lo {
			continue
		}
		out = append(out, Region{Name: r.Name, Addr: id<<32 + uint64(lo), Size: int(hi - lo)})
	}
	return out
}

// Address resolves what x/ and the DAP's memory requests name: a number,
// "pkt", "pkt+N", "ctx", "fp-N", "map NAME" (its values), a global or local
// in memory, or an expression whose value is an address.
func (s *Session) Address(name string) (uint64, error) {
	if s.ex == nil {
		return 0, ErrNotRunning
	}
	m := s.ex.inst.Machine
	name = strings.TrimSpace(name)
	switch {
	case name == "pkt" || strings.HasPrefix(name, "pkt+"):
		base, lo, _, ok := packetRegion(m)
		if !ok {
			return 0, errors.New("this run has no packet")
		}
		off := 0
		if rest, ok := strings.CutPrefix(name, "pkt+"); ok {
			if _, err := fmt.Sscan(rest, &off); err != nil {
				return 0, fmt.Errorf("%q: want pkt+N", name)
			}
		}
		return base + uint64(lo) + uint64(off), nil
	case name == "ctx":
		base, _, ok := ctxRegion(m)
		if !ok {
			return 0, errors.New("this run has no context structure")
		}
		return base, nil
	case strings.HasPrefix(name, "map "):
		mname := strings.TrimSpace(strings.TrimPrefix(name, "map "))
		if s.ex.inst.Coll == nil || s.ex.inst.Coll.Maps[mname] == nil {
			return 0, fmt.Errorf("no map %q", mname)
		}
		return m.MapValue(s.ex.inst.Coll.Maps[mname], 0), nil
	case strings.HasPrefix(name, "fp-"):
		var off uint64
		if _, err := fmt.Sscan(strings.TrimPrefix(name, "fp-"), &off); err != nil {
			return 0, fmt.Errorf("%q: want fp-N", name)
		}
		return m.Regs()[10] - off, nil
	}
	x, err := parseExpr(name)
	if err != nil {
		return 0, err
	}
	v, err := s.evalAt(s.ex.tr, x)
	if err != nil {
		return 0, err
	}
	if v.addressable {
		if _, isPtr := debuginfo.Strip(v.typ).(*dwarf.PtrType); !isPtr {
			return v.addr, nil
		}
	}
	return v.int()
}

// ReadMemory reads n bytes at addr; it fails outside every region.
func (s *Session) ReadMemory(addr uint64, n int) ([]byte, error) {
	if s.ex == nil {
		return nil, ErrNotRunning
	}
	return peek(s.ex.inst.Machine, addr, n)
}

// MapInfo describes one map of the program.
type MapInfo struct {
	Name       string
	Type       string
	KeySize    int
	ValueSize  int
	MaxEntries int
	Len        int
}

// Maps lists the program's maps.
func (s *Session) Maps() []MapInfo {
	inst := s.probe()
	if inst == nil || inst.Coll == nil {
		return nil
	}
	var out []MapInfo
	for _, name := range inst.Coll.MapNames() {
		mp := inst.Coll.Maps[name]
		sp := mp.Spec()
		n := 0
		for range mp.Keys() {
			n++
		}
		out = append(out, MapInfo{Name: name, Type: sp.Type.String(), KeySize: mp.KeySize(), ValueSize: mp.ValueSize(), MaxEntries: int(sp.MaxEntries), Len: n})
	}
	return out
}

// MapEntry is one element of a map, raw and decoded.
type MapEntry struct {
	Key, Value         []byte
	KeyText, ValueText string
}

// MapDump returns a map's elements in key order, decoded with the key and
// value types the object declares for it (DWARF), else in hex.
func (s *Session) MapDump(name string) ([]MapEntry, error) {
	inst := s.probe()
	if inst == nil || inst.Coll == nil {
		return nil, errors.New("no maps")
	}
	mp, ok := inst.Coll.Maps[name]
	if !ok {
		return nil, fmt.Errorf("no map %q", name)
	}
	kt, vt := s.mapTypes(name)
	var out []MapEntry
	for k := range mp.Keys() {
		v := make([]byte, mp.UserValueSize())
		if err := mp.Get(k, v); err != nil {
			continue
		}
		e := MapEntry{Key: k, Value: v, KeyText: hex.EncodeToString(k), ValueText: hex.EncodeToString(v)}
		if kt != nil && int(kt.Size()) == len(k) {
			e.KeyText = debuginfo.Format(kt, k, keyName(kt))
		}
		if vt != nil && int(vt.Size()) <= len(v) {
			if int(vt.Size()) == len(v) {
				e.ValueText = debuginfo.Format(vt, v, "")
			} else if n := int(vt.Size()); n > 0 && len(v)%n == 0 { // per-CPU values
				var parts []string
				for i := 0; i+n <= len(v); i += roundUp8(n) {
					parts = append(parts, debuginfo.Format(vt, v[i:i+n], ""))
				}
				e.ValueText = "[" + strings.Join(parts, ", ") + "] (per CPU)"
			}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	return out, nil
}

func roundUp8(n int) int { return (n + 7) &^ 7 }

// keyName gives a map key's type a name the formatter reads addresses by:
// a __be32 key is an IPv4 address in every example that has one.
func keyName(t dwarf.Type) string {
	if strings.HasPrefix(debuginfo.TypedefName(t), "__be32") {
		return "addr"
	}
	return ""
}

// mapTypes finds a map's key and value types in its BTF-style definition
// (struct { __type(key, K); __type(value, V); } name SEC(".maps")).
func (s *Session) mapTypes(name string) (dwarf.Type, dwarf.Type) {
	g := s.t.Info.Global(name)
	if g == nil {
		return nil, nil
	}
	st, ok := debuginfo.Strip(g.Type).(*dwarf.StructType)
	if !ok {
		return nil, nil
	}
	var kt, vt dwarf.Type
	for _, f := range st.Field {
		p, ok := f.Type.(*dwarf.PtrType)
		if !ok {
			continue
		}
		switch f.Name {
		case "key":
			kt = p.Type
		case "value":
			vt = p.Type
		}
	}
	return kt, vt
}

// Program returns a program of the target by name ("" for the entry).
func (s *Session) Program(name string) *vm.Program {
	inst := s.probe()
	if inst == nil {
		return nil
	}
	if name == "" {
		return inst.Machine.Program()
	}
	if inst.Coll != nil {
		for _, p := range inst.Coll.Programs {
			if p.Prog.Name == name || p.Name == name {
				return p.Prog
			}
		}
	}
	return nil
}

// Disassemble returns the kernel-syntax text of the instruction at pc of
// program prog ("" if pc is the second slot of a wide instruction or out
// of range).
func (s *Session) Disassemble(prog string, pc int) string {
	p := s.Program(prog)
	if p == nil || pc < 0 || pc >= len(p.Insns) || pc > 0 && p.Insns[pc-1].IsLdImm64() {
		return ""
	}
	return isa.Format(p.Insns, pc)
}
