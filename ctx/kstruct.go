package ctx

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// kfield is one member of a kernel struct, anonymous structs and unions
// flattened into their parent: named members are leaves, whatever their
// type.
type kfield struct {
	name         string
	bitOff, bits uint32
}

// kstruct is a kernel struct as a BTF lays it out.
type kstruct struct {
	name   string
	size   uint32
	fields []kfield // in BTF order; union members overlap
	byName map[string]kfield
	// covered is a bit mask of the bits some field holds; the others
	// are padding.
	covered []byte
}

var kstructCache sync.Map // kstructKey -> *kstruct

type kstructKey struct {
	spec *btf.Spec
	name string
}

// Bounds on what a kernel BTF (a file the user names) can make layoutOf
// do: the kernel structs programs see are a few hundred bytes, and their
// members nest a few levels. A struct that contains itself, or shares
// member types so that walking them blows up, hits the walk budget.
const (
	maxKstructSize  = 64 << 10
	maxKstructDepth = 32      // the kernel's MAX_RESOLVE_DEPTH
	maxKstructWalk  = 1 << 16 // members visited
	maxKstructBits  = 1 << 24 // bits marked covered, overlaps counted
)

// layoutOf returns struct name's layout in spec.
func layoutOf(spec *btf.Spec, name string) (*kstruct, error) {
	key := kstructKey{spec, name}
	if k, ok := kstructCache.Load(key); ok {
		return k.(*kstruct), nil
	}
	var st *btf.Struct
	if err := spec.TypeByName(name, &st); err != nil {
		return nil, fmt.Errorf("struct %s in the kernel BTF: %w", name, err)
	}
	if st.Size > maxKstructSize {
		return nil, fmt.Errorf("struct %s in the kernel BTF is %d bytes, more than the %d this reader accepts", name, st.Size, maxKstructSize)
	}
	k := &kstruct{name: name, size: st.Size, byName: map[string]kfield{}, covered: make([]byte, st.Size)}
	w := kwalk{budget: maxKstructWalk}
	k.flatten(&w, st.Members, 0, 0)
	k.cover(&w, st.Members, 0, 0)
	if w.err != nil {
		return nil, fmt.Errorf("struct %s in the kernel BTF: %w", name, w.err)
	}
	kstructCache.Store(key, k)
	return k, nil
}

// kwalk bounds the walks of a struct's members.
type kwalk struct {
	budget int // members
	bits   uint64
	err    error
}

// marks reports whether the walk may mark n more bits covered: members
// overlapping in unions may mark bits more than once, not without end.
func (w *kwalk) marks(n uint64) bool {
	if w.bits += n; w.bits > maxKstructBits {
		w.err = fmt.Errorf("members cover more than %d bits", uint64(maxKstructBits))
		return false
	}
	return true
}

// enter reports whether the walk may look at the members at depth.
func (w *kwalk) enter(depth, members int) bool {
	switch {
	case w.err != nil:
	case depth > maxKstructDepth:
		w.err = fmt.Errorf("members nest deeper than %d (the kernel's MAX_RESOLVE_DEPTH), or a struct contains itself", maxKstructDepth)
	case members > w.budget:
		w.err = fmt.Errorf("more than %d members to walk", maxKstructWalk)
	default:
		w.budget -= members
		return true
	}
	return false
}

func (k *kstruct) flatten(w *kwalk, ms []btf.Member, base uint32, depth int) {
	if !w.enter(depth, len(ms)) {
		return
	}
	for _, m := range ms {
		off := base + uint32(m.Offset)
		if m.Name == "" {
			k.flatten(w, members(m.Type), off, depth+1)
			continue
		}
		bits := uint32(m.BitfieldSize)
		if bits == 0 {
			n, err := btf.Sizeof(m.Type)
			if err != nil || n == 0 {
				continue // zero-length markers such as __pkt_type_offset[0]
			}
			bits = uint32(n) * 8
		}
		f := kfield{m.Name, off, bits}
		k.fields = append(k.fields, f)
		if _, dup := k.byName[m.Name]; !dup {
			k.byName[m.Name] = f
		}
	}
}

// cover marks the bits of the scalar leaves under ms, looking into named
// structs and unions too: their padding is padding of the whole.
func (k *kstruct) cover(w *kwalk, ms []btf.Member, base uint32, depth int) {
	if !w.enter(depth, len(ms)) {
		return
	}
	for _, m := range ms {
		off := base + uint32(m.Offset)
		if inner := members(m.Type); inner != nil {
			k.cover(w, inner, off, depth+1)
			continue
		}
		bits := uint32(m.BitfieldSize)
		if bits == 0 {
			n, _ := btf.Sizeof(m.Type)
			bits = uint32(max(n, 0)) * 8
		}
		end := min(uint64(off)+uint64(bits), uint64(k.size)*8)
		if end > uint64(off) && !w.marks(end-uint64(off)) {
			return
		}
		for b := uint64(off); b < end; b++ {
			k.covered[b/8] |= 1 << (b % 8)
		}
	}
}

// fieldAt names the first member holding byte off.
func (k *kstruct) fieldAt(off uint32) string {
	for _, f := range k.fields {
		if off*8 < f.bitOff+f.bits && (off+1)*8 > f.bitOff {
			return k.name + "." + f.name
		}
	}
	return fmt.Sprintf("%s+%d", k.name, off)
}

// kmem is kernel memory a program reads through a BTF pointer, of which
// bpfscope knows some bits. Reads of known bits are served; any other
// read fails naming the field, rather than return an invented value.
type kmem struct {
	name     string
	img      []byte
	known    []byte // bit mask over img
	describe func(off uint32) string
}

func newKmem(name string, size uint32, describe func(uint32) string) *kmem {
	return &kmem{name: name, img: make([]byte, size), known: make([]byte, size), describe: describe}
}

// set stores the low bits of v at bitOff (little-endian bit order) and
// marks them known.
func (k *kmem) set(bitOff, bits uint32, v uint64) {
	for i := range bits {
		b := bitOff + i
		if int(b/8) >= len(k.img) {
			return
		}
		mask := byte(1) << (b % 8)
		k.known[b/8] |= mask
		if v>>i&1 != 0 {
			k.img[b/8] |= mask
		} else {
			k.img[b/8] &^= mask
		}
	}
}

// padding marks the bits no field of k holds as known zero, for memory
// the kernel cleared.
func (m *kmem) padding(k *kstruct) {
	for i, c := range k.covered {
		if i < len(m.known) {
			m.known[i] |= ^c
		}
	}
}

// setBytes stores b at byte off and marks it known.
func (k *kmem) setBytes(off uint32, b []byte) {
	for i, c := range b {
		k.set(off*8+uint32(i)*8, 8, uint64(c))
	}
}

var errNotModelled = errors.New("not modelled")

// Load implements vm.View.
func (k *kmem) Load(off uint32, size int) (uint64, error) {
	if uint64(off)+uint64(size) > uint64(len(k.img)) {
		return 0, fmt.Errorf("%d-byte read at %d is beyond struct %s (%d bytes)", size, off, k.name, len(k.img))
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		if k.known[off+uint32(i)] != 0xff {
			return 0, fmt.Errorf("%s is %w: its value depends on the kernel's memory", k.describe(off+uint32(i)), errNotModelled)
		}
		v = v<<8 | uint64(k.img[off+uint32(i)])
	}
	return v, nil
}

// Store implements vm.View: these structs are read-only to the program.
func (k *kmem) Store(off uint32, size int, _ uint64) error {
	return fmt.Errorf("%s is read-only", k.describe(off))
}

// members returns the members of a struct or union type, nil for others.
func members(t btf.Type) []btf.Member {
	switch t := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		return t.Members
	case *btf.Union:
		return t.Members
	}
	return nil
}
