package debug

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/bpfscope/bpfscope/debuginfo"
)

// evalAt evaluates x in the frame the run is stopped in.
func (s *Session) evalAt(t *tracer, x expr) (value, error) {
	switch x := x.(type) {
	case numExpr:
		return num(x.v), nil
	case identExpr:
		return s.ident(t, x.name)
	case unaryExpr:
		v, err := s.evalAt(t, x.x)
		if err != nil {
			return value{}, err
		}
		switch x.op {
		case "&":
			if !v.addressable {
				return value{}, fmt.Errorf("%s is not in memory (%s)", v.name, v.where)
			}
			return value{u: v.addr, where: "&" + v.name}, nil
		case "*":
			return s.deref(t, v, 0)
		}
		n, err := v.int()
		if err != nil {
			return value{}, err
		}
		switch x.op {
		case "-":
			return num(-n), nil
		case "~":
			return num(^n), nil
		case "!":
			return num(b2u(n == 0)), nil
		}
	case fieldExpr:
		v, err := s.evalAt(t, x.x)
		if err != nil {
			return value{}, err
		}
		if x.arrow {
			if v, err = s.deref(t, v, 0); err != nil {
				return value{}, err
			}
		}
		return field(v, x.name)
	case indexExpr:
		v, err := s.evalAt(t, x.x)
		if err != nil {
			return value{}, err
		}
		iv, err := s.evalAt(t, x.i)
		if err != nil {
			return value{}, err
		}
		i, err := iv.int()
		if err != nil {
			return value{}, err
		}
		return s.index(t, v, int64(i))
	case binaryExpr:
		a, err := s.evalAt(t, x.x)
		if err != nil {
			return value{}, err
		}
		if x.op == "&&" || x.op == "||" {
			if a.truth() == (x.op == "||") {
				return num(b2u(x.op == "||")), nil
			}
			b, err := s.evalAt(t, x.y)
			if err != nil {
				return value{}, err
			}
			return num(b2u(b.truth())), nil
		}
		b, err := s.evalAt(t, x.y)
		if err != nil {
			return value{}, err
		}
		p, err := a.int()
		if err != nil {
			return value{}, err
		}
		q, err := b.int()
		if err != nil {
			return value{}, err
		}
		return num(arith(x.op, p, q)), nil
	}
	return value{}, fmt.Errorf("cannot evaluate %T", x)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func arith(op string, p, q uint64) uint64 {
	switch op {
	case "+":
		return p + q
	case "-":
		return p - q
	case "*":
		return p * q
	case "/":
		if q == 0 {
			return 0 // BPF's division by zero gives 0 too
		}
		return p / q
	case "%":
		if q == 0 {
			return p
		}
		return p % q
	case "<<":
		return p << (q & 63)
	case ">>":
		return p >> (q & 63)
	case "&":
		return p & q
	case "|":
		return p | q
	case "^":
		return p ^ q
	case "==":
		return b2u(p == q)
	case "!=":
		return b2u(p != q)
	case "<":
		return b2u(int64(p) < int64(q))
	case "<=":
		return b2u(int64(p) <= int64(q))
	case ">":
		return b2u(int64(p) > int64(q))
	case ">=":
		return b2u(int64(p) >= int64(q))
	}
	return 0
}

// ident resolves a name: a register, a local, a global.
func (s *Session) ident(t *tracer, name string) (value, error) {
	regs := t.m.Regs()
	if r, ok := regIndex(name); ok {
		return value{u: regs[r], name: name, where: name}, nil
	}
	if dp := s.debugProg(t.prog); dp != nil {
		if v, ok := dp.Local(t.pc, name); ok {
			return s.readVar(t, v)
		}
	}
	if g := s.t.Info.Global(name); g != nil {
		return s.readVar(t, *g)
	}
	if !s.t.Info.HasDWARF() {
		return value{}, fmt.Errorf("no register %q (the object has no DWARF for variables)", name)
	}
	return value{}, fmt.Errorf("no variable %q here (%s pc %d)", name, t.prog, t.pc)
}

func regIndex(name string) (int, bool) {
	if name == "fp" {
		return 10, true
	}
	if len(name) >= 2 && name[0] == 'r' {
		n := 0
		for _, c := range name[1:] {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		if n <= 10 && (len(name) == 2 || name[1] != '0') {
			return n, true
		}
	}
	return 0, false
}

// readVar reads a variable's bytes from where DWARF says it is.
func (s *Session) readVar(t *tracer, v debuginfo.Var) (value, error) {
	size := int(v.Type.Size())
	if size < 0 {
		size = 0
	}
	regs := t.m.Regs()
	val := value{typ: v.Type, name: v.Name, where: v.Loc.String()}
	scalar := func(u uint64) (value, error) {
		if size > 8 {
			return value{}, fmt.Errorf("%s: %d bytes in a register", v.Name, size)
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], u)
		val.b = b[:size]
		return val, nil
	}
	var addr uint64
	switch l := v.Loc; l.Kind {
	case debuginfo.LocNone:
		return value{}, fmt.Errorf("%s is optimized out here", v.Name)
	case debuginfo.LocReg:
		if l.Reg > 10 {
			return value{}, fmt.Errorf("%s: register %d", v.Name, l.Reg)
		}
		return scalar(regs[l.Reg])
	case debuginfo.LocConst:
		return scalar(l.Value)
	case debuginfo.LocValue:
		if l.Reg > 10 {
			return value{}, fmt.Errorf("%s: register %d", v.Name, l.Reg)
		}
		return scalar(regs[l.Reg] + uint64(l.Off))
	case debuginfo.LocStack:
		addr = regs[10] + uint64(l.Off)
	case debuginfo.LocMem:
		if l.Reg > 10 {
			return value{}, fmt.Errorf("%s: register %d", v.Name, l.Reg)
		}
		addr = regs[l.Reg] + uint64(l.Off)
	case debuginfo.LocGlobal:
		a, err := s.globalAddr(l.Section, l.Value)
		if err != nil {
			return value{}, fmt.Errorf("%s: %v", v.Name, err)
		}
		addr = a
	default:
		return value{}, fmt.Errorf("%s: location %s is not supported", v.Name, l)
	}
	b, err := peek(t.m, addr, size)
	if err != nil {
		return value{}, fmt.Errorf("%s: %v", v.Name, err)
	}
	val.b, val.addressable, val.addr = b, true, addr
	val.where = t.m.Describe(addr)
	return val, nil
}

// globalAddr is the address of offset off of a data section (".bss"),
// which the loader made an array map of one element.
func (s *Session) globalAddr(section string, off uint64) (uint64, error) {
	if s.ex == nil || s.ex.inst.Coll == nil {
		return 0, fmt.Errorf("no maps for section %s", section)
	}
	mp, ok := s.ex.inst.Coll.Maps[section]
	if !ok {
		for name, m := range s.ex.inst.Coll.Maps {
			if strings.HasSuffix(name, section) {
				mp, ok = m, true
				break
			}
		}
	}
	if !ok {
		return 0, fmt.Errorf("section %s is not loaded as a map", section)
	}
	return s.ex.inst.Machine.MapValue(mp, int(off)), nil
}

// deref reads what a typed pointer points to (element i).
func (s *Session) deref(t *tracer, v value, i int64) (value, error) {
	if v.typ == nil {
		return value{}, fmt.Errorf("%s is a number without a type: cannot dereference it", nameOr(v))
	}
	p, ok := debuginfo.Strip(v.typ).(*dwarf.PtrType)
	if !ok {
		return value{}, fmt.Errorf("%s is not a pointer (%s)", nameOr(v), debuginfo.CType(v.typ))
	}
	size := int(p.Type.Size())
	if _, void := p.Type.(*dwarf.VoidType); void || p.Type == nil || size <= 0 {
		return value{}, fmt.Errorf("%s is a void pointer", nameOr(v))
	}
	base, _ := v.int()
	addr := base + uint64(i*int64(size))
	b, err := peek(t.m, addr, size)
	if err != nil {
		return value{}, fmt.Errorf("*%s: %v", nameOr(v), err)
	}
	return value{typ: p.Type, b: b, addressable: true, addr: addr, name: v.name, where: t.m.Describe(addr)}, nil
}

func nameOr(v value) string {
	if v.name != "" {
		return v.name
	}
	return "the value"
}

func field(v value, name string) (value, error) {
	if v.typ == nil {
		return value{}, fmt.Errorf("%s has no fields", nameOr(v))
	}
	st, ok := debuginfo.Strip(v.typ).(*dwarf.StructType)
	if !ok {
		return value{}, fmt.Errorf("%s is not a struct (%s)", nameOr(v), debuginfo.CType(v.typ))
	}
	for _, f := range st.Field {
		if f.Name == "" && f.BitSize == 0 { // an anonymous struct or union: look inside
			if _, ok := debuginfo.Strip(f.Type).(*dwarf.StructType); ok {
				off, size := int(f.ByteOffset), int(f.Type.Size())
				if off+size <= len(v.b) && size >= 0 {
					inner := value{typ: f.Type, b: v.b[off : off+size], name: v.name, where: v.where, addressable: v.addressable, addr: v.addr + uint64(off)}
					if got, err := field(inner, name); err == nil {
						return got, nil
					}
				}
			}
			continue
		}
		if f.Name != name {
			continue
		}
		if f.BitSize > 0 {
			u, _ := bitfieldValue(f, v.b)
			return value{u: u, name: name, where: v.where + "." + name}, nil
		}
		off, size := int(f.ByteOffset), int(f.Type.Size())
		if off+size > len(v.b) || size < 0 {
			return value{}, fmt.Errorf("field %s outside %s", name, nameOr(v))
		}
		out := value{typ: f.Type, b: v.b[off : off+size], name: name, where: v.where + "." + name}
		if v.addressable {
			out.addressable, out.addr = true, v.addr+uint64(off)
		}
		return out, nil
	}
	return value{}, fmt.Errorf("%s has no field %q", debuginfo.CType(v.typ), name)
}

func bitfieldValue(f *dwarf.StructField, b []byte) (uint64, bool) {
	off := f.DataBitOffset
	var v uint64
	for i := int64(0); i < f.BitSize; i++ {
		bit := off + i
		if int(bit/8) < len(b) && b[bit/8]&(1<<(bit%8)) != 0 {
			v |= 1 << i
		}
	}
	return v, true
}

func (s *Session) index(t *tracer, v value, i int64) (value, error) {
	if v.typ == nil {
		return value{}, fmt.Errorf("%s cannot be indexed", nameOr(v))
	}
	switch a := debuginfo.Strip(v.typ).(type) {
	case *dwarf.ArrayType:
		size := int(a.Type.Size())
		if i < 0 || a.Count >= 0 && i >= a.Count || int(i+1)*size > len(v.b) {
			return value{}, fmt.Errorf("index %d outside %s", i, debuginfo.CType(v.typ))
		}
		out := value{typ: a.Type, b: v.b[int(i)*size : int(i+1)*size], name: v.name, where: fmt.Sprintf("%s[%d]", v.where, i)}
		if v.addressable {
			out.addressable, out.addr = true, v.addr+uint64(int(i)*size)
		}
		return out, nil
	case *dwarf.PtrType:
		return s.deref(t, v, i)
	}
	return value{}, fmt.Errorf("%s cannot be indexed (%s)", nameOr(v), debuginfo.CType(v.typ))
}
