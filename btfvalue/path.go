package btfvalue

import (
	"strconv"

	"github.com/cilium/ebpf/btf"
)

// AppendPath appends the C expression that names the bytes [off, off+size)
// of a value of type t, relative to the value: ".packets", "[3].bytes",
// ".hdr.len+1" (byte 1 of a scalar). A data section's variable is named
// without a dot: "bytes_seen", "cfg.max_frame_len". The path stops at the
// innermost member that holds the whole access; an access that covers a
// whole struct or array is named by it, one that spans some members by the
// member it starts in, "+k" when it starts inside a scalar. Offsets outside
// t append "+off".
func AppendPath(b []byte, t btf.Type, off uint32, size int) []byte {
	return appendPath(b, t, uint64(off), uint64(max(size, 1)), 0)
}

// Path is AppendPath to a string.
func Path(t btf.Type, off uint32, size int) string {
	return string(AppendPath(nil, t, off, size))
}

func appendPath(b []byte, t btf.Type, off, size uint64, depth int) []byte {
	for ; depth <= maxDepth; depth++ {
		t = btf.UnderlyingType(t)
		n := Size(t)
		if n < 0 || off >= uint64(n) {
			return appendOff(b, off)
		}
		if off == 0 && size >= uint64(n) {
			if _, isSec := t.(*btf.Datasec); !isSec {
				return b // the access covers the whole value
			}
		}
		switch v := t.(type) {
		case *btf.Struct, *btf.Union:
			var ms []btf.Member
			if s, ok := v.(*btf.Struct); ok {
				ms = s.Members
			} else {
				ms = v.(*btf.Union).Members
			}
			m, rel, ok := memberAt(ms, off, size)
			if !ok {
				return appendOff(b, off)
			}
			if m.Name != "" {
				b = append(b, '.')
				b = append(b, m.Name...)
			}
			if m.BitfieldSize != 0 {
				return b
			}
			t, off = m.Type, rel
		case *btf.Array:
			elem := Size(v.Type)
			if elem <= 0 {
				return appendOff(b, off)
			}
			i := off / uint64(elem)
			b = append(b, '[')
			b = strconv.AppendUint(b, i, 10)
			b = append(b, ']')
			t, off = v.Type, off%uint64(elem)
		case *btf.Datasec:
			vr, rel, ok := varAt(v, off)
			if !ok {
				return appendOff(b, off)
			}
			b = append(b, vr.Name...)
			t, off = vr.Type, rel
		case *btf.Var:
			t = v.Type
		default:
			return appendOff(b, off)
		}
	}
	return appendOff(b, off)
}

// memberAt finds the member holding byte off: of those that start at or
// before off and reach past it, the first that holds the whole access, else
// the first. Members of a union overlap; a struct's may too (bitfields).
func memberAt(ms []btf.Member, off, size uint64) (btf.Member, uint64, bool) {
	var found btf.Member
	var rel uint64
	ok := false
	for _, m := range ms {
		lo := uint64(m.Offset) / 8
		var hi uint64
		if m.BitfieldSize != 0 {
			hi = (uint64(m.Offset) + uint64(m.BitfieldSize) + 7) / 8
		} else {
			n := Size(m.Type)
			if n <= 0 || m.Offset%8 != 0 {
				continue
			}
			hi = lo + uint64(n)
		}
		if off < lo || off >= hi {
			continue
		}
		if off+size <= hi {
			return m, off - lo, true
		}
		if !ok {
			found, rel, ok = m, off-lo, true
		}
	}
	return found, rel, ok
}

func varAt(ds *btf.Datasec, off uint64) (*btf.Var, uint64, bool) {
	for _, vs := range ds.Vars {
		vr, ok := vs.Type.(*btf.Var)
		if !ok || Size(vr.Type) != int(vs.Size) {
			continue
		}
		if off >= uint64(vs.Offset) && off < uint64(vs.Offset)+uint64(vs.Size) {
			return vr, off - uint64(vs.Offset), true
		}
	}
	return nil, 0, false
}

func appendOff(b []byte, off uint64) []byte {
	if off == 0 {
		return b
	}
	b = append(b, '+')
	return strconv.AppendUint(b, off, 10)
}
