package debuginfo

import (
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// Prog is an object's DWARF bound to one loaded program: it turns the
// program's pcs into the DWARF addresses of the functions they came from.
// The loader lays each function's instructions out in order, so a pc's
// address is its function's low_pc plus eight bytes per slot.
type Prog struct {
	info  *Info
	funcs []progFunc // by start pc
}

type progFunc struct {
	name       string
	start, end int // pcs [start, end)
	s          *scope
	stack      int64 // bytes of stack the function's code reaches below r10
}

// Program binds the DWARF to p. Functions DWARF does not describe (or an
// Info without DWARF) get no variables; lines still come from BTF.
func (in *Info) Program(p *vm.Program) *Prog {
	pr := &Prog{info: in}
	for i, f := range p.Funcs {
		end := p.Len()
		if i+1 < len(p.Funcs) {
			end = p.Funcs[i+1].Start
		}
		pf := progFunc{name: f.Name, start: f.Start, end: end, stack: stackDepth(p.Insns, f.Start, end)}
		if in != nil && in.funcs != nil {
			pf.s = in.funcs[f.Name]
		}
		pr.funcs = append(pr.funcs, pf)
	}
	return pr
}

// stackDepth is how far below r10 a function's code reaches: what clang's
// BPF backend takes as the frame size when it writes fbreg offsets.
func stackDepth(insns []isa.Insn, start, end int) int64 {
	var depth int64
	fromFP := map[uint8]bool{} // registers last set to r10 (r = r10; r += -N)
	for pc := start; pc < end && pc < len(insns); pc++ {
		in := insns[pc]
		cls := in.Op & 7
		switch {
		case cls == 0x61&7 || cls == 0x62&7 || cls == 0x63&7: // LDX, ST, STX
			base := in.Dst
			if cls == 0x61&7 {
				base = in.Src
			}
			if base == 10 && in.Off < 0 {
				depth = max(depth, -int64(in.Off))
			}
		case in.Op == 0xbf && in.Src == 10: // r = r10
			fromFP[in.Dst] = true
			continue
		case in.Op == 0x07 && fromFP[in.Dst] && in.Imm < 0: // r += -N
			depth = max(depth, -int64(in.Imm))
		}
		if cls != 0x61&7 {
			delete(fromFP, in.Dst)
		}
	}
	return (depth + 7) &^ 7
}

func (p *Prog) at(pc int) (*progFunc, uint64, bool) {
	if p == nil {
		return nil, 0, false
	}
	for i := range p.funcs {
		f := &p.funcs[i]
		if pc >= f.start && pc < f.end {
			if f.s == nil || len(f.s.ranges) == 0 {
				return f, 0, false
			}
			return f, f.s.ranges[0][0] + uint64(pc-f.start)*isa.SlotSize, true
		}
	}
	return nil, 0, false
}

// Frame is one C function active at a pc: the out-of-line function, or a
// function inlined into it.
type Frame struct {
	Func    string
	Inlined bool
	// CallFile and CallLine are where an inlined function was called from:
	// the source position of the frame that encloses it.
	CallFile string
	CallLine int
}

// Frames returns the functions active at pc, innermost first: inlined
// calls, then the out-of-line function. Without DWARF it is the function
// the program's symbols name.
func (p *Prog) Frames(pc int) []Frame {
	f, addr, ok := p.at(pc)
	if f == nil {
		return nil
	}
	out := []Frame{{Func: f.name}}
	if !ok {
		return out
	}
	for _, s := range chain(f.s, addr) {
		if s.kind == inlinedScope {
			out = append([]Frame{{Func: s.name, Inlined: true, CallFile: s.callFile, CallLine: s.callLine}}, out...)
		}
	}
	return out
}

// chain returns the scopes containing addr, outermost (the function) first.
func chain(s *scope, addr uint64) []*scope {
	out := []*scope{s}
	for {
		var next *scope
		for _, c := range s.children {
			if c.contains(addr) {
				next = c
				break
			}
		}
		if next == nil {
			return out
		}
		out = append(out, next)
		s = next
	}
}

// Locals returns the variables and parameters in scope at pc whose value
// is available there, innermost scope first and parameters before the
// other variables of a scope; Loc is their location at pc. A variable an
// inner scope shadows is left out.
func (p *Prog) Locals(pc int) []Var {
	return p.vars(pc, false)
}

// InScope is Locals plus the variables in scope whose value the compiler
// did not keep at pc (Loc.Kind is LocNone: "optimized out").
func (p *Prog) InScope(pc int) []Var {
	return p.vars(pc, true)
}

func (p *Prog) vars(pc int, all bool) []Var {
	f, addr, ok := p.at(pc)
	if !ok {
		return nil
	}
	scopes := chain(f.s, addr)
	var out []Var
	seen := map[string]bool{}
	fn := make([]string, len(scopes))
	cur := f.name
	for i, s := range scopes {
		if s.kind != blockScope {
			cur = s.name
		}
		fn[i] = cur
	}
	for i := len(scopes) - 1; i >= 0; i-- {
		s := scopes[i]
		for _, param := range []bool{true, false} {
			for _, v := range s.vars {
				if v.Param != param {
					continue
				}
				key := fn[i] + "\x00" + v.Name
				if seen[key] {
					continue
				}
				loc := v.locAt(addr)
				if loc.Kind == locFrame {
					loc = Location{Kind: LocStack, Off: loc.Off - f.stack}
				}
				if loc.Kind == LocNone && !all {
					continue
				}
				seen[key] = true
				c := *v
				c.Loc, c.Func, c.list = loc, fn[i], nil
				out = append(out, c)
			}
		}
	}
	return out
}

func (v *Var) locAt(addr uint64) Location {
	if v.always {
		return v.Loc
	}
	for _, r := range v.list {
		if addr >= r.lo && addr < r.hi {
			return r.loc
		}
	}
	return Location{}
}

// Local finds the variable name visible at pc (the innermost one).
func (p *Prog) Local(pc int, name string) (Var, bool) {
	for _, v := range p.InScope(pc) {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// RegName names the variable that lives in register reg at pc, "" if none.
func (p *Prog) RegName(pc, reg int) string {
	for _, v := range p.Locals(pc) {
		if v.Loc.Kind == LocReg && v.Loc.Reg == reg {
			return v.Name
		}
	}
	return ""
}

// SlotName names the variable stored at r10+off at pc (off < 0), and the
// byte offset of off inside it; "" if none.
func (p *Prog) SlotName(pc int, off int64) (string, int64) {
	for _, v := range p.Locals(pc) {
		if v.Loc.Kind != LocStack {
			continue
		}
		size := v.Type.Size()
		if size <= 0 {
			size = 1
		}
		if off >= v.Loc.Off && off < v.Loc.Off+size {
			return v.Name, off - v.Loc.Off
		}
	}
	return "", 0
}

// FuncAt returns the out-of-line function containing pc and its first pc.
func (p *Prog) FuncAt(pc int) (name string, start int) {
	for _, f := range p.funcs {
		if pc >= f.start && pc < f.end {
			return f.name, f.start
		}
	}
	return "", -1
}
