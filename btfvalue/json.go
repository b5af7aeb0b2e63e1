package btfvalue

import (
	"math"
	"strconv"

	"github.com/cilium/ebpf/btf"
)

// AppendJSON appends data read as t as a JSON value: structs, unions and
// data sections as objects keyed by member name, arrays as arrays, integers
// as numbers (as decimal strings beyond 2^53, where JSON readers lose
// precision), enums, addresses and printable char arrays as strings,
// pointers as "0x..." strings. It returns b unchanged and false when data
// is not the size of t.
func AppendJSON(b []byte, t btf.Type, data []byte) ([]byte, bool) {
	if !Fits(t, data) {
		return b, false
	}
	return appendJSON(b, t, data, "", 0), true
}

func appendJSON(b []byte, t btf.Type, data []byte, name string, depth int) []byte {
	if depth > maxDepth {
		return jsonHex(b, data)
	}
	t, k := classify(t, name)
	switch k {
	case kindIPv4, kindIPv6, kindMAC:
		b = append(b, '"')
		b = appendAddr(b, k, data)
		return append(b, '"')
	case kindBE:
		return jsonUint(b, beUint(data))
	case kindString:
		if s, ok := cString(data); ok {
			return jsonString(b, s)
		}
	}
	switch v := t.(type) {
	case *btf.Int:
		switch {
		case v.Encoding&btf.Bool != 0:
			return strconv.AppendBool(b, !isZero(data))
		case len(data) > 8:
			return jsonHex(b, data)
		case v.Encoding&btf.Signed != 0:
			s := signExtend(leUint(data), len(data))
			if s > 1<<53 || s < -1<<53 {
				b = append(b, '"')
				b = strconv.AppendInt(b, s, 10)
				return append(b, '"')
			}
			return strconv.AppendInt(b, s, 10)
		}
		return jsonUint(b, leUint(data))
	case *btf.Enum:
		// An enumerator's name comes from the BTF, which may hold any byte.
		return jsonString(b, string(appendEnum(nil, v, data)))
	case *btf.Pointer:
		b = append(b, `"0x`...)
		b = strconv.AppendUint(b, leUint(data), 16)
		return append(b, '"')
	case *btf.Float:
		f := float64(0)
		switch len(data) {
		case 4:
			f = float64(math.Float32frombits(uint32(leUint(data))))
		case 8:
			f = math.Float64frombits(leUint(data))
		default:
			return jsonHex(b, data)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return jsonString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case *btf.Struct:
		b = append(b, '{')
		b, _ = appendJSONMembers(b, v.Members, data, true, depth)
		return append(b, '}')
	case *btf.Union:
		b = append(b, '{')
		b, _ = appendJSONMembers(b, v.Members, data, true, depth)
		return append(b, '}')
	case *btf.Array:
		n := Size(v.Type)
		if n <= 0 || uint64(n)*uint64(v.Nelems) != uint64(len(data)) {
			return jsonHex(b, data)
		}
		b = append(b, '[')
		for i := 0; i < int(v.Nelems); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, v.Type, data[i*n:(i+1)*n], "", depth+1)
		}
		return append(b, ']')
	case *btf.Datasec:
		b = append(b, '{')
		first := true
		for _, vs := range v.Vars {
			vr, ok := vs.Type.(*btf.Var)
			if !ok || uint64(vs.Offset)+uint64(vs.Size) > uint64(len(data)) || Size(vr.Type) != int(vs.Size) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = jsonString(b, vr.Name)
			b = append(b, ':')
			b = appendJSON(b, vr.Type, data[vs.Offset:vs.Offset+vs.Size], vr.Name, depth+1)
		}
		return append(b, '}')
	case *btf.Var:
		return appendJSON(b, v.Type, data, v.Name, depth+1)
	}
	return jsonHex(b, data)
}

// appendJSONMembers writes members as object entries; an anonymous struct
// or union member's own members are written in its place, as C names them.
func appendJSONMembers(b []byte, ms []btf.Member, data []byte, first bool, depth int) ([]byte, bool) {
	for _, m := range ms {
		f, ok := member(m, data)
		if !ok {
			continue
		}
		if m.Name == "" && m.BitfieldSize == 0 && depth < maxDepth {
			var inner []btf.Member
			switch u := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				inner = u.Members
			case *btf.Union:
				inner = u.Members
			}
			if inner != nil {
				b, first = appendJSONMembers(b, inner, f, first, depth+1)
				continue
			}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		name := m.Name
		if name == "" {
			name = "_"
		}
		b = jsonString(b, name)
		b = append(b, ':')
		if m.BitfieldSize != 0 {
			if _, isEnum := btf.UnderlyingType(m.Type).(*btf.Enum); isEnum {
				b = jsonString(b, string(appendBitfield(nil, m, data)))
			} else {
				b = appendBitfield(b, m, data)
			}
			continue
		}
		b = appendJSON(b, m.Type, f, m.Name, depth+1)
	}
	return b, first
}

func jsonUint(b []byte, v uint64) []byte {
	if v > 1<<53 {
		b = append(b, '"')
		b = strconv.AppendUint(b, v, 10)
		return append(b, '"')
	}
	return strconv.AppendUint(b, v, 10)
}

func jsonHex(b []byte, data []byte) []byte {
	b = append(b, '"')
	b = appendHex(b, data)
	return append(b, '"')
}

// jsonString quotes s, which is a C identifier or printable ASCII.
func jsonString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, `\u00`...)
			b = appendHex2(b, c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
