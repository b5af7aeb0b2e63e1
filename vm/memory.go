package vm

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/hooks"
)

// The program's address space is a table of regions. Region i occupies the
// 4 GiB window starting at i<<32, so an address names its region in its high
// bits and its offset in the low 32: translation is one shift and one bounds
// check, and no address ever reaches host memory. Region 0 is never mapped,
// so NULL and small integers fault.
const regionShift = 32

// Region is a piece of memory a program can reach: the stack, a context, a
// packet, a map's values, a data section, a helper's buffer.
type Region struct {
	Name string
	Data []byte
	// Lo and Hi bound the accessible window of Data. A packet lives in a
	// larger buffer with head- and tailroom; only data_meta..data_end is
	// accessible. Hi == 0 means len(Data).
	Lo, Hi   uint32
	ReadOnly bool
	// Stride splits Data into elements that no access may cross (the values
	// of a map). Zero means one element.
	Stride uint32
	// View, if set, serves every access instead of Data: context structures
	// whose fields are computed (packet pointers) or checked per program type.
	View View
	// Describe, if set, names an offset for traces: "xdp_md.data",
	// "counters[3]+8". The default is Name+offset.
	Describe func(off uint32) string
	// DescribeSpan, if set, tells how Describe names the offsets [lo, hi)
	// around off, so that a trace of many accesses asks once per span
	// (Machine.LocateSpan): as where followed by the signed distance from
	// origin ("pkt" and origin data: "pkt+14"). where is "" where
	// Describe's names take no such form.
	DescribeSpan func(off uint32) (where string, origin, lo, hi uint32)
	// Kind and Origin locate accesses for hooks (hooks.Access.Region):
	// what the region is, and the offset that counts as 0 (a packet's data).
	Kind   hooks.RegionKind
	Origin uint32
	// Field, if set, names the size bytes at off by what lies there, for
	// traces: a global or map value member by its BTF, a packet header
	// field; "" when it knows nothing more than Describe.
	Field func(off uint32, size int) string
	// FieldSpan, if set, is Field with the offsets [lo, hi) around off
	// at which Field gives the same answer for the same size as long as
	// the region's bytes do not change (see Machine.NameSpan).
	FieldSpan func(off uint32, size int) (name string, lo, hi uint32)
}

// View serves accesses to a region whose bytes are not plain memory.
// Errors are reported as ErrContextAccess at the faulting pc.
type View interface {
	Load(off uint32, size int) (uint64, error)
	Store(off uint32, size int, v uint64) error
}

// region is the interpreter's copy of a Region: only what the fast path reads.
type region struct {
	data   []byte
	lo, hi uint32 // readable window; hi = 0 forces the slow path (views)
	whi    uint32 // end of the writable window; 0 if not writable
	stride uint32
	desc   *Region
	gone   bool // unmapped (Unmap): accesses fault as unmapped
}

// window is a region as the interpreter's inline fast path sees it: the
// accessible bytes and where they start. Strided regions and views have an
// empty window, so their accesses take the slow path (span and View).
type window struct {
	b        []byte // data[lo:hi]
	lo       uint32
	writable uint32 // len(b) if stores are allowed, else 0
}

func (g *region) window() window {
	if g.stride != 0 || g.hi <= g.lo {
		return window{lo: g.lo}
	}
	w := window{b: g.data[g.lo:g.hi:g.hi], lo: g.lo}
	if g.whi == g.hi {
		w.writable = uint32(len(w.b))
	}
	return w
}

func makeRegion(r *Region) region {
	hi := r.Hi
	if hi == 0 {
		hi = uint32(len(r.Data))
	}
	g := region{data: r.Data, lo: r.Lo, hi: hi, whi: hi, stride: r.Stride, desc: r}
	if r.ReadOnly {
		g.whi = 0
	}
	if r.View != nil {
		g.hi, g.whi = 0, 0
	}
	return g
}

// Map adds a region to the address space and returns its base address.
// Regions mapped between runs (a run's context) stay until the next
// Reset; those mapped during a run (by helpers) are unmapped when the
// next run starts, so repeated runs do not pile them up.
func (m *Machine) Map(r *Region) uint64 {
	return m.mapRegion(r, m.state != idle)
}

func (m *Machine) mapRegion(r *Region, runScoped bool) uint64 {
	if uint64(len(r.Data)) >= 1<<regionShift {
		panic("vm: region larger than 4 GiB")
	}
	g := makeRegion(r)
	var id int
	if n := len(m.free); n > 0 && runScoped { // reuse an unmapped slot
		id, m.free = m.free[n-1], m.free[:n-1]
		m.mem[id], m.win[id] = g, g.window()
	} else {
		id = len(m.mem)
		m.mem = append(m.mem, g)
		m.win = append(m.win, g.window())
	}
	if runScoped {
		m.runRegions = append(m.runRegions, id)
	}
	return uint64(id) << regionShift
}

// Unmap removes the region at base (an address Map returned) from the
// address space: later accesses fault with ErrUnmapped, and a later Map
// may reuse its addresses. Helpers use it for memory whose life ends
// within a run, such as a ring buffer record once submitted. The regions
// New maps (stack, maps) cannot be unmapped.
func (m *Machine) Unmap(base uint64) {
	id := base >> regionShift
	if uint32(base) != 0 || id < uint64(m.fixed) || id >= uint64(len(m.mem)) || m.mem[id].gone {
		return
	}
	m.mem[id] = region{desc: &Region{Name: m.mem[id].desc.Name}, gone: true}
	m.win[id] = window{}
	m.free = append(m.free, int(id))
}

// SetWindow moves the accessible window of the region at base, as
// bpf_xdp_adjust_head and friends do to a packet.
func (m *Machine) SetWindow(base uint64, lo, hi uint32) {
	g := &m.mem[base>>regionShift]
	g.desc.Lo, g.desc.Hi = lo, hi
	*g = makeRegion(g.desc)
	m.win[base>>regionShift] = g.window()
}

// RegionAt returns the region containing addr and the offset of addr in it.
func (m *Machine) RegionAt(addr uint64) (*Region, uint32, bool) {
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) || m.mem[id].gone {
		return nil, 0, false
	}
	if len(m.mem[id].data) == 0 && m.firstSegments != nil { // a map's values that may exist by now
		if sm, ok := m.firstSegments[id]; ok {
			m.fillFirstSegment(id, sm)
		}
	}
	return m.mem[id].desc, uint32(addr), true
}

// span returns the bytes [addr, addr+n) when they lie in one accessible
// element of a plain region, or nil: the fast path of every load and store.
func (m *Machine) span(addr uint64, n uint32, write bool) []byte {
	id := addr >> regionShift
	if id >= uint64(len(m.mem)) {
		return nil
	}
	g := &m.mem[id]
	off := uint32(addr)
	end := off + n
	hi := g.hi
	if write {
		hi = g.whi
	}
	if off < g.lo || end > hi || end < off {
		return nil
	}
	if g.stride != 0 && (off-g.lo)%g.stride+n > g.stride {
		return nil
	}
	return g.data[off:end:end]
}

// readable and writable are the interpreter's inline fast path: the bytes
// [addr, addr+n) of an unstrided plain region, or nil for span and the
// views to decide. They must stay small enough for the compiler to inline.
func (m *Machine) readable(addr uint64, n uint32) []byte {
	if id := addr >> regionShift; id < uint64(len(m.win)) {
		w := &m.win[id]
		if rel := uint64(uint32(addr) - w.lo); rel+uint64(n) <= uint64(len(w.b)) {
			return w.b[rel : rel+uint64(n)]
		}
	}
	return nil
}

func (m *Machine) writable(addr uint64, n uint32) []byte {
	if id := addr >> regionShift; id < uint64(len(m.win)) {
		w := &m.win[id]
		if rel := uint64(uint32(addr) - w.lo); rel+uint64(n) <= uint64(w.writable) {
			return w.b[rel : rel+uint64(n)]
		}
	}
	return nil
}

// load reads n (1, 2, 4 or 8) bytes at addr.
func (m *Machine) load(addr uint64, n uint32) (uint64, error) {
	if b := m.span(addr, n, false); b != nil {
		return getN(b), nil
	}
	if g := m.viewAt(addr); g != nil {
		v, err := g.desc.View.Load(uint32(addr), int(n))
		if err != nil {
			return 0, m.fault(ErrContextAccess, addr, n, err.Error())
		}
		return v, nil
	}
	return 0, m.accessError(addr, n, false)
}

// store writes the low n bytes of v at addr.
func (m *Machine) store(addr uint64, n uint32, v uint64) error {
	if b := m.span(addr, n, true); b != nil {
		putN(b, v)
		return nil
	}
	if g := m.viewAt(addr); g != nil {
		if err := g.desc.View.Store(uint32(addr), int(n), v); err != nil {
			return m.fault(ErrContextAccess, addr, n, err.Error())
		}
		return nil
	}
	return m.accessError(addr, n, true)
}

func (m *Machine) viewAt(addr uint64) *region {
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) || m.mem[id].desc.View == nil {
		return nil
	}
	return &m.mem[id]
}

// accessError explains why span refused an access.
func (m *Machine) accessError(addr uint64, n uint32, write bool) error {
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) {
		return m.fault(ErrUnmapped, addr, n, "")
	}
	g := &m.mem[id]
	off := uint32(addr)
	if g.gone {
		return m.fault(ErrUnmapped, addr, n, g.desc.Name+" was released")
	}
	if write && g.whi == 0 && g.hi != 0 {
		return m.fault(ErrReadOnly, addr, n, "")
	}
	msg := fmt.Sprintf("%s spans [%d, %d)", g.desc.Name, g.lo, g.hi)
	if g.stride != 0 && off >= g.lo && off+n <= g.hi {
		msg = fmt.Sprintf("crosses a %d-byte element of %s", g.stride, g.desc.Name)
	}
	return m.fault(ErrOutOfBounds, addr, n, msg)
}

// Bytes returns n bytes of program memory at addr for a helper to read or
// write in place. The access is checked like an instruction's and, during a
// helper call, reported to an AccessHook with the helper's id: a read at
// once, a write when the helper returns, with the bytes it left.
func (m *Machine) Bytes(addr uint64, n int, write bool) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n < 0 || n >= 1<<regionShift {
		return nil, m.fault(ErrOutOfBounds, addr, 0, fmt.Sprintf("size %d", n))
	}
	b := m.span(addr, uint32(n), write)
	if b == nil {
		return nil, m.accessError(addr, uint32(n), write)
	}
	if m.hooks.access != nil && m.curHelper != 0 {
		m.helperAccess(addr, b, write)
	}
	return b, nil
}

func getN(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	default:
		return binary.LittleEndian.Uint64(b)
	}
}

func putN(b []byte, v uint64) {
	switch len(b) {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
}

// Name implements hooks.Namer: the region's Field name of the size bytes
// at addr, "" if it has none.
func (m *Machine) Name(addr uint64, size int) string {
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) || id == stackRegion {
		return ""
	}
	if f := m.mem[id].desc.Field; f != nil {
		return f(uint32(addr), size)
	}
	return ""
}

// NameSpan implements hooks.SpanNamer: Name, and the addresses [lo, hi)
// around addr at which Name gives the same answer for the same size
// while memory does not change (the region's FieldSpan; addr alone when
// the region has none).
func (m *Machine) NameSpan(addr uint64, size int) (name string, lo, hi uint64) {
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) || id == stackRegion {
		return "", addr, addr + 1
	}
	d := m.mem[id].desc
	if d.FieldSpan == nil {
		return m.Name(addr, size), addr, addr + 1
	}
	name, l, h := d.FieldSpan(uint32(addr), size)
	if off := uint32(addr); l > off || off >= h { // a span must hold addr
		return name, addr, addr + 1
	}
	base := id << regionShift
	return name, base | uint64(l), base | uint64(h)
}

// Describe names the memory at addr for traces: "fp-16", "pkt+14",
// "ctx xdp_md.data", "map counters[3]+8".
func (m *Machine) Describe(addr uint64) string {
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) {
		if addr == 0 {
			return "NULL"
		}
		return fmt.Sprintf("unmapped %#x", addr)
	}
	g := &m.mem[id]
	off := uint32(addr)
	if g.gone {
		return fmt.Sprintf("released %s+%d", g.desc.Name, off)
	}
	if id == stackRegion {
		return fpName(int64(addr) - int64(m.fp))
	}
	if g.desc.Describe != nil {
		return g.desc.Describe(off)
	}
	if off == 0 {
		return g.desc.Name
	}
	return g.desc.Name + "+" + strconv.FormatUint(uint64(off), 10)
}

// fpName is "fp-16" or "fp+0" for an offset from the frame pointer: a
// trace names a stack access at every step, so it is built without fmt.
func fpName(rel int64) string {
	if rel < 0 {
		return "fp" + strconv.FormatInt(rel, 10)
	}
	return "fp+" + strconv.FormatInt(rel, 10)
}

// LocateSpan implements hooks.SpanLocator: Locate(addr), and the span
// of addresses around it at which Locate and Describe answer alike while
// memory stands still (a region, or the part of it its DescribeSpan
// gives).
func (m *Machine) LocateSpan(addr uint64) (r hooks.Region, where string, base, lo, hi uint64) {
	r = m.Locate(addr)
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) {
		return r, "", 0, addr, addr + 1
	}
	g := &m.mem[id]
	lo = id << regionShift
	hi = lo + 1<<regionShift
	off := uint32(addr)
	switch {
	case g.gone: // rare: Describe it is
	case id == stackRegion:
		where, base = "fp", m.fp
	case g.desc.DescribeSpan != nil:
		w, o, l, h := g.desc.DescribeSpan(off)
		if l > off || off >= h { // a span must hold addr
			return r, "", 0, addr, addr + 1
		}
		where, base, lo, hi = w, lo|uint64(o), lo|uint64(l), lo|uint64(h)
	case g.desc.Describe != nil:
	case off == 0: // the name alone
		return r, "", 0, addr, addr + 1
	default:
		where, base, lo = g.desc.Name, lo, lo+1
	}
	return r, where, base, lo, hi
}

// Locate is Describe's structured form: the kind and name of the region at
// addr and the offset of addr in it (see hooks.Region).
func (m *Machine) Locate(addr uint64) hooks.Region {
	id := addr >> regionShift
	if id == 0 || id >= uint64(len(m.mem)) {
		return hooks.Region{Offset: int64(addr)}
	}
	if id == stackRegion {
		return hooks.Region{Kind: hooks.RegionStack, Name: "stack", Offset: int64(addr) - int64(m.fp)}
	}
	d := m.mem[id].desc
	r := hooks.Region{Kind: d.Kind, Name: d.Name, Offset: int64(uint32(addr)) - int64(d.Origin)}
	if d.Kind == hooks.RegionMapValue || d.Kind == hooks.RegionGlobal {
		r.Name = strings.TrimPrefix(d.Name, "map ")
	}
	return r
}
