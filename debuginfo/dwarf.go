package debuginfo

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
)

// Info is the DWARF of one object. The zero Info (an object without
// DWARF) answers every question with nothing.
type Info struct {
	d        *dwarf.Data
	loclists []byte
	addr     []byte
	addrSecs map[int]string // .debug_addr slot offset -> section of its symbol

	funcs   map[string]*scope // concrete (out-of-line) functions by name
	globals []*Var
	origins map[dwarf.Offset]*origin
	entries int // how many more entries reading may take (damaged input)
}

var errTooManyEntries = errors.New("more DWARF entries than .debug_info has bytes")

// HasDWARF reports whether the object carried DWARF.
func (in *Info) HasDWARF() bool { return in != nil && in.d != nil }

// Data returns the object's dwarf.Data, nil without DWARF.
func (in *Info) Data() *dwarf.Data {
	if in == nil {
		return nil
	}
	return in.d
}

// Globals returns the object's global variables (those with a location).
func (in *Info) Globals() []*Var {
	if in == nil {
		return nil
	}
	return in.globals
}

// Global finds a global variable by name.
func (in *Info) Global(name string) *Var {
	for _, v := range in.Globals() {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// Func reports whether the object has an out-of-line function of that name
// and its byte size.
func (in *Info) Func(name string) (size uint64, ok bool) {
	if in == nil || in.funcs == nil {
		return 0, false
	}
	s, ok := in.funcs[name]
	if !ok || len(s.ranges) == 0 {
		return 0, ok
	}
	return s.ranges[0][1] - s.ranges[0][0], true
}

// unit is what reading a compile unit's entries needs.
type unit struct {
	addrBase, loclistsBase uint64
	base                   uint64 // the unit's low_pc: the base address of its location lists
	files                  []*dwarf.LineFile
}

// scope is a function, an inlined call or a lexical block: the address
// ranges it covers (in its section), and what is declared in it.
type scope struct {
	kind     scopeKind
	name     string // function name (out-of-line or inlined)
	ranges   [][2]uint64
	callFile string
	callLine int
	vars     []*Var
	children []*scope
	u        *unit
}

type scopeKind uint8

const (
	funcScope scopeKind = iota
	inlinedScope
	blockScope
)

func (s *scope) contains(addr uint64) bool {
	for _, r := range s.ranges {
		if addr >= r[0] && addr < r[1] {
			return true
		}
	}
	return false
}

// origin is what an abstract declaration gives the concrete entries that
// point at it: a name and a type.
type origin struct {
	name string
	typ  dwarf.Offset
	has  bool // typ is set
}

func (in *Info) read() error {
	in.funcs = map[string]*scope{}
	in.origins = map[dwarf.Offset]*origin{}
	r := in.d.Reader()
	for {
		e, err := in.next(r)
		if err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		if e.Tag != dwarf.TagCompileUnit {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		u := &unit{}
		u.addrBase, _ = uintVal(e.Val(dwarf.AttrAddrBase))
		u.loclistsBase, _ = uintVal(e.Val(dwarf.AttrLoclistsBase))
		u.base, _ = uintVal(e.Val(dwarf.AttrLowpc))
		if lr, err := in.d.LineReader(e); err == nil && lr != nil {
			u.files = lr.Files()
		}
		if e.Children {
			if err := in.readChildren(r, u, nil); err != nil {
				return err
			}
		}
	}
}

// next reads an entry; every entry takes at least a byte of .debug_info,
// so more entries than bytes means the reader is going round in circles on
// damaged input.
func (in *Info) next(r *dwarf.Reader) (*dwarf.Entry, error) {
	if in.entries--; in.entries < 0 {
		return nil, errTooManyEntries
	}
	return r.Next()
}

func uintVal(v any) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		return uint64(x), true
	case uint64:
		return x, true
	}
	return 0, false
}

// readChildren reads the entries below the current one up to their end
// marker, into parent (nil at the unit's top level).
func (in *Info) readChildren(r *dwarf.Reader, u *unit, parent *scope) error {
	for {
		e, err := in.next(r)
		if err != nil {
			return err
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		switch e.Tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
			ranges, _ := in.d.Ranges(e)
			concrete := len(ranges) > 0
			if !concrete || e.Tag == dwarf.TagSubprogram && parent != nil || e.Tag != dwarf.TagSubprogram && parent == nil {
				if e.Children {
					r.SkipChildren()
				}
				continue
			}
			s := &scope{ranges: ranges, u: u}
			switch e.Tag {
			case dwarf.TagSubprogram:
				s.kind, s.name = funcScope, in.nameOf(e)
				in.funcs[s.name] = s
			case dwarf.TagInlinedSubroutine:
				s.kind, s.name = inlinedScope, in.nameOf(e)
				if i, ok := e.Val(dwarf.AttrCallFile).(int64); ok && int(i) < len(u.files) && u.files[i] != nil {
					s.callFile = u.files[i].Name
				}
				if l, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
					s.callLine = int(l)
				}
			default:
				s.kind = blockScope
			}
			if parent != nil {
				parent.children = append(parent.children, s)
			}
			if e.Children {
				if err := in.readChildren(r, u, s); err != nil {
					return err
				}
			}
		case dwarf.TagVariable, dwarf.TagFormalParameter:
			v := in.variable(e, u)
			switch {
			case v == nil:
			case parent != nil:
				parent.vars = append(parent.vars, v)
			case v.Loc.Kind == LocGlobal:
				in.globals = append(in.globals, v)
			}
			if e.Children {
				r.SkipChildren()
			}
		default:
			if e.Children {
				r.SkipChildren()
			}
		}
	}
}

// nameOf returns an entry's name, following its abstract origin.
func (in *Info) nameOf(e *dwarf.Entry) string {
	if n, ok := e.Val(dwarf.AttrName).(string); ok {
		return n
	}
	if o := in.origin(e); o != nil {
		return o.name
	}
	return ""
}

func (in *Info) origin(e *dwarf.Entry) *origin {
	off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
	if !ok {
		return nil
	}
	if o, ok := in.origins[off]; ok {
		return o
	}
	o := &origin{}
	in.origins[off] = o
	r := in.d.Reader()
	r.Seek(off)
	if a, err := r.Next(); err == nil && a != nil {
		o.name, _ = a.Val(dwarf.AttrName).(string)
		o.typ, o.has = a.Val(dwarf.AttrType).(dwarf.Offset)
	}
	return o
}

// variable reads a variable or parameter entry; nil for one without a
// name or type.
func (in *Info) variable(e *dwarf.Entry, u *unit) *Var {
	v := &Var{Param: e.Tag == dwarf.TagFormalParameter}
	v.Name, _ = e.Val(dwarf.AttrName).(string)
	typ, hasType := e.Val(dwarf.AttrType).(dwarf.Offset)
	if o := in.origin(e); o != nil {
		if v.Name == "" {
			v.Name = o.name
		}
		if !hasType {
			typ, hasType = o.typ, o.has
		}
	}
	if v.Name == "" || !hasType {
		return nil
	}
	t, err := in.d.Type(typ)
	if err != nil {
		return nil
	}
	v.Type = t
	if l, ok := e.Val(dwarf.AttrDeclLine).(int64); ok {
		v.DeclLine = int(l)
	}
	switch loc := e.Val(dwarf.AttrLocation).(type) {
	case []byte:
		v.Loc = in.decode(loc, u)
		v.always = true
	case uint64: // DW_FORM_loclistx: an index into the unit's offset table
		v.list = in.locList(in.loclistxOffset(u, loc), u)
	case int64: // DW_FORM_sec_offset
		v.list = in.locList(uint64(loc), u)
	default:
		if c, ok := e.Val(dwarf.AttrConstValue).(int64); ok {
			v.Loc = Location{Kind: LocConst, Value: uint64(c)}
			v.always = true
		}
	}
	return v
}

func (in *Info) loclistxOffset(u *unit, idx uint64) uint64 {
	at := u.loclistsBase + idx*4
	if at+4 > uint64(len(in.loclists)) {
		return ^uint64(0)
	}
	return u.loclistsBase + uint64(binary.LittleEndian.Uint32(in.loclists[at:]))
}

// addrx returns entry idx of the unit's .debug_addr slots and the section
// its symbol is in.
func (in *Info) addrx(u *unit, idx uint64) (uint64, string, bool) {
	at := u.addrBase + idx*8
	if at+8 > uint64(len(in.addr)) {
		return 0, "", false
	}
	return binary.LittleEndian.Uint64(in.addr[at:]), in.addrSecs[int(at)], true
}

// locRange is one entry of a location list: where [lo, hi) the variable is.
type locRange struct {
	lo, hi uint64
	loc    Location
}

// DWARF 5 location list entry kinds (DW_LLE_*).
const (
	lleEnd = iota
	lleBaseAddressx
	lleStartxEndx
	lleStartxLength
	lleOffsetPair
	lleDefault
	lleBaseAddress
	lleStartEnd
	lleStartLength
)

// locList reads the location list at off of .debug_loclists. A list it
// cannot read ends where the damage starts.
func (in *Info) locList(off uint64, u *unit) []locRange {
	b := in.loclists
	if off >= uint64(len(b)) {
		return nil
	}
	rd := &reader{b: b, i: int(off)}
	base := u.base
	var out []locRange
	for !rd.bad {
		kind := rd.byte()
		var lo, hi uint64
		switch kind {
		case lleEnd:
			return out
		case lleBaseAddressx:
			base, _, _ = in.addrx(u, rd.uleb())
			continue
		case lleStartxEndx:
			lo, _, _ = in.addrx(u, rd.uleb())
			hi, _, _ = in.addrx(u, rd.uleb())
		case lleStartxLength:
			lo, _, _ = in.addrx(u, rd.uleb())
			hi = lo + rd.uleb()
		case lleOffsetPair:
			lo, hi = base+rd.uleb(), base+rd.uleb()
		case lleDefault:
			lo, hi = 0, ^uint64(0)
		case lleBaseAddress:
			base = rd.u64()
			continue
		case lleStartEnd:
			lo, hi = rd.u64(), rd.u64()
		case lleStartLength:
			lo = rd.u64()
			hi = lo + rd.uleb()
		default:
			return out
		}
		expr := rd.bytes(int(rd.uleb()))
		if rd.bad {
			return out
		}
		out = append(out, locRange{lo, hi, in.decode(expr, u)})
	}
	return out
}

// reader reads DWARF's encodings from a byte slice; past the end it
// answers zeros and sets bad.
type reader struct {
	b   []byte
	i   int
	bad bool
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		r.bad = true
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *reader) u64() uint64 {
	if r.i+8 > len(r.b) {
		r.bad = true
		return 0
	}
	r.i += 8
	return binary.LittleEndian.Uint64(r.b[r.i-8:])
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || r.i+n > len(r.b) {
		r.bad = true
		return nil
	}
	r.i += n
	return r.b[r.i-n : r.i]
}

func (r *reader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 || r.bad {
			return v
		}
	}
}

func (r *reader) sleb() int64 {
	var v int64
	var shift uint
	var c byte
	for {
		c = r.byte()
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 || r.bad {
			break
		}
	}
	if shift < 64 && c&0x40 != 0 {
		v |= -1 << shift
	}
	return v
}

func (r *reader) done() bool { return r.i >= len(r.b) }
