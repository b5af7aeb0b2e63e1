package debuginfo

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// CType names a DWARF type as C declares it: "__u64", "struct ethhdr *",
// "unsigned char[6]", "const volatile __u32".
func CType(t dwarf.Type) string {
	return cDecl(t, "")
}

// cDecl writes the declaration of inner (a declarator: "", "*", "x") with type t.
func cDecl(t dwarf.Type, inner string) string {
	join := func(base, inner string) string {
		if inner == "" {
			return base
		}
		if strings.HasPrefix(inner, "*") {
			return base + " " + inner
		}
		return base + " " + inner
	}
	switch x := t.(type) {
	case nil:
		return join("void", inner)
	case *dwarf.PtrType:
		if _, ok := x.Type.(*dwarf.ArrayType); ok {
			return cDecl(x.Type, "(*"+inner+")")
		}
		return cDecl(x.Type, "*"+inner)
	case *dwarf.ArrayType:
		n := ""
		if x.Count >= 0 {
			n = strconv.FormatInt(x.Count, 10)
		}
		return cDecl(x.Type, inner+"["+n+"]")
	case *dwarf.QualType:
		return x.Qual + " " + cDecl(x.Type, inner)
	case *dwarf.VoidType:
		return join("void", inner)
	case *dwarf.FuncType:
		return join("func", inner)
	case *dwarf.StructType:
		name := x.StructName
		if name == "" {
			name = "{...}"
		}
		return join(x.Kind+" "+name, inner)
	case *dwarf.EnumType:
		name := x.EnumName
		if name == "" {
			name = "{...}"
		}
		return join("enum "+name, inner)
	default:
		return join(t.Common().Name, inner)
	}
}

// Strip removes typedefs and qualifiers down to the type that decides
// a value's layout.
func Strip(t dwarf.Type) dwarf.Type {
	for {
		switch x := t.(type) {
		case *dwarf.TypedefType:
			t = x.Type
		case *dwarf.QualType:
			t = x.Type
		default:
			return t
		}
	}
}

// TypedefName returns the innermost typedef's name ("__be32"), "" if none.
func TypedefName(t dwarf.Type) string {
	for {
		switch x := t.(type) {
		case *dwarf.TypedefType:
			return x.Name
		case *dwarf.QualType:
			t = x.Type
		default:
			return ""
		}
	}
}

// Format renders the bytes b of a value of type t in C notation. name is
// the variable's or field's name: with the type it tells addresses apart
// (a __be32 "saddr" prints as 10.0.0.2, a [6]u8 "h_source" as a MAC).
// Big-endian integers (__be16, __be32, __be64) print in host order.
func Format(t dwarf.Type, b []byte, name string) string {
	fm := formatter{left: maxNodes}
	fm.format(t, b, name, 0)
	return fm.sb.String()
}

// Bounds on what one value prints: nesting, and values visited (damaged
// or hostile types can nest empty structs exponentially).
const (
	maxDepth = 8
	maxNodes = 4096
)

type formatter struct {
	sb   strings.Builder
	left int
}

func (fm *formatter) format(t dwarf.Type, b []byte, name string, depth int) {
	sb := &fm.sb
	if fm.left--; depth > maxDepth || fm.left < 0 {
		sb.WriteString("...")
		return
	}
	td := TypedefName(t)
	u := Strip(t)
	size := int(u.Size())
	if size > len(b) || size < 0 {
		fmt.Fprintf(sb, "<%d of %d bytes>", len(b), size)
		return
	}
	b = b[:max(size, 0)]
	lname := strings.ToLower(name)
	switch x := u.(type) {
	case *dwarf.StructType:
		if x.StructName == "in6_addr" && size == 16 {
			sb.WriteString(netip.AddrFrom16([16]byte(b)).String())
			return
		}
		sb.WriteString("{")
		for i, f := range x.Field {
			if i > 0 {
				sb.WriteString(", ")
			}
			if f.Name != "" {
				sb.WriteString(f.Name + " = ")
			}
			if f.BitSize > 0 {
				sb.WriteString(bitfield(f, b))
				continue
			}
			off := int(f.ByteOffset)
			if off > len(b) {
				sb.WriteString("?")
				continue
			}
			if x.Kind == "union" {
				off = 0
			}
			fm.format(f.Type, b[off:], f.Name, depth+1)
		}
		sb.WriteString("}")
	case *dwarf.ArrayType:
		el := Strip(x.Type)
		esz := int(el.Size())
		if esz <= 0 || x.Count < 0 {
			sb.WriteString("[]")
			return
		}
		if esz == 1 && x.Count == 6 && isMACName(lname) {
			sb.WriteString(mac(b))
			return
		}
		if esz == 1 && x.Count == 4 && isAddrName(lname) {
			sb.WriteString(netip.AddrFrom4([4]byte(b[:4])).String())
			return
		}
		if c, ok := el.(*dwarf.CharType); ok && c.Size() == 1 {
			sb.WriteString(strconv.Quote(strings.TrimRight(string(b), "\x00")))
			return
		}
		sb.WriteString("{")
		for i := 0; i < int(x.Count) && (i+1)*esz <= len(b); i++ {
			if i > 0 {
				sb.WriteString(", ")
			}
			if i >= 64 {
				fmt.Fprintf(sb, "... (%d elements)", x.Count)
				break
			}
			fm.format(x.Type, b[i*esz:], "", depth+1)
		}
		sb.WriteString("}")
	case *dwarf.PtrType:
		fmt.Fprintf(sb, "0x%x", le(b))
	case *dwarf.EnumType:
		v := int64(le(b))
		if size < 8 {
			v = v << (64 - 8*size) >> (64 - 8*size)
		}
		for _, e := range x.Val {
			if e.Val == v {
				sb.WriteString(e.Name)
				return
			}
		}
		fmt.Fprintf(sb, "%d", v)
	case *dwarf.BoolType:
		sb.WriteString(strconv.FormatBool(le(b) != 0))
	case *dwarf.IntType, *dwarf.CharType:
		v := le(b)
		if size < 8 {
			v = uint64(int64(v<<(64-8*size)) >> (64 - 8*size))
		}
		sb.WriteString(strconv.FormatInt(int64(v), 10))
	case *dwarf.UintType, *dwarf.UcharType:
		sb.WriteString(formatUint(b, td, lname))
	default:
		fmt.Fprintf(sb, "0x%x", b)
	}
}

func formatUint(b []byte, typedef, lname string) string {
	be := strings.HasPrefix(typedef, "__be")
	if be && len(b) == 4 && isAddrName(lname) {
		return netip.AddrFrom4([4]byte(b)).String()
	}
	if be {
		var v uint64
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		return strconv.FormatUint(v, 10)
	}
	return strconv.FormatUint(le(b), 10)
}

func le(b []byte) uint64 {
	var v [8]byte
	copy(v[:], b)
	return binary.LittleEndian.Uint64(v[:])
}

func bitfield(f *dwarf.StructField, b []byte) string {
	// DataBitOffset counts from the start of the struct (DWARF 4+);
	// little-endian storage: bit n is bit n%8 of byte n/8.
	off := f.DataBitOffset
	if off == 0 && f.BitOffset != 0 { // DWARF 2/3 big-endian-style offset
		off = f.ByteOffset*8 + (f.ByteSize*8 - f.BitOffset - f.BitSize)
	}
	var v uint64
	for i := int64(0); i < f.BitSize; i++ {
		bit := off + i
		if int(bit/8) < len(b) && b[bit/8]&(1<<(bit%8)) != 0 {
			v |= 1 << i
		}
	}
	if _, signed := Strip(f.Type).(*dwarf.IntType); signed && f.BitSize < 64 && v&(1<<(f.BitSize-1)) != 0 {
		return strconv.FormatInt(int64(v)-int64(1)<<f.BitSize, 10)
	}
	return strconv.FormatUint(v, 10)
}

func isMACName(n string) bool {
	return strings.Contains(n, "mac") || n == "h_source" || n == "h_dest" || strings.Contains(n, "ether") || strings.Contains(n, "hwaddr")
}

func isAddrName(n string) bool {
	return strings.Contains(n, "addr") || strings.HasSuffix(n, "ip") || strings.HasPrefix(n, "ip") ||
		n == "src" || n == "dst" || n == "saddr" || n == "daddr" || strings.HasSuffix(n, "_ip4") || strings.HasSuffix(n, "ipv4")
}

func mac(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}
