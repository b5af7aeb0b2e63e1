// Package btfvalue reads bytes as a C type described by BTF: it prints a
// value as C-like text or as JSON, and names the member at an offset.
//
// Traces use it to show map keys and values, globals and the fields an
// instruction touches by the names the C source gave them; a debugger uses
// it to print variables. It never fails: a type it cannot read, or bytes
// whose size is not the type's, make AppendText and AppendJSON return false
// so the caller falls back to raw hex, and Path returns what it could name.
//
// Values are shown as a reader of the C source expects them:
//   - integers in decimal, chars and bools too; enums by name;
//   - big-endian typedefs (__be16, __be32, __be64) in host order;
//   - IPv4 and IPv6 addresses in their usual notation when the type and the
//     name say so: a 4-byte integer named like an address (saddr, daddr,
//     src_ip, addr, ...) or a __be32 with no name (a map's key or value),
//     struct in6_addr, or 16 bytes named like an address; MAC addresses for 6-byte arrays named like one (mac,
//     h_source, h_dest, ...);
//   - structs as {name=value, ...} (zero padding members left out), arrays as [a, b, ...] with runs of
//     equal elements folded ("0 x12"), printable char arrays as strings;
//   - pointers in hex.
package btfvalue

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// maxDepth bounds the nesting the package follows: BTF from a hostile
// object may nest types without end.
const maxDepth = 32

// Size returns the size of t in bytes, or -1 if it has none.
func Size(t btf.Type) int {
	if t == nil {
		return -1
	}
	n, err := btf.Sizeof(t)
	if err != nil {
		return -1
	}
	return n
}

// Fits reports whether data can be read as t: t has a size and it is len(data).
func Fits(t btf.Type, data []byte) bool {
	return t != nil && Size(t) == len(data)
}

// AppendText appends the C-like text of data read as t. It returns b
// unchanged and false when data is not the size of t.
func AppendText(b []byte, t btf.Type, data []byte) ([]byte, bool) {
	if !Fits(t, data) {
		return b, false
	}
	return appendText(b, t, data, "", 0), true
}

// AppendTextOrHex is AppendText, or data in hex when it does not fit t
// (or t is nil): how traces show a map key or value.
func AppendTextOrHex(b []byte, t btf.Type, data []byte) []byte {
	if d, ok := AppendText(b, t, data); ok {
		return d
	}
	return appendHex(b, data)
}

// Text is AppendText to a string, "" when data does not fit t.
func Text(t btf.Type, data []byte) string {
	b, ok := AppendText(nil, t, data)
	if !ok {
		return ""
	}
	return string(b)
}

// kind is what a value reads as, after typedefs and qualifiers.
type kind uint8

const (
	kindOther kind = iota
	kindInt
	kindBE // a big-endian integer typedef
	kindIPv4
	kindIPv6
	kindMAC
	kindString
)

// classify looks through typedefs and qualifiers to say how t is shown;
// name is the member or variable holding the value.
func classify(t btf.Type, name string) (btf.Type, kind) {
	be := false
	is6 := false
	for i := 0; i < maxDepth; i++ {
		switch v := t.(type) {
		case *btf.Typedef:
			if strings.HasPrefix(v.Name, "__be") {
				be = true
			}
			t = v.Type
			continue
		case *btf.Const, *btf.Volatile, *btf.Restrict, *btf.TypeTag:
			t = btf.UnderlyingType(v)
			if t == v {
				return t, kindOther
			}
			continue
		}
		break
	}
	switch v := t.(type) {
	case *btf.Int:
		// A __be32 named like an address is one, and so is a bare one:
		// the key of a map of addresses has no name.
		if v.Size == 4 && v.Encoding&btf.Signed == 0 && (namesAddress(name) || be && name == "") {
			return t, kindIPv4
		}
		if be && v.Size > 1 {
			return t, kindBE
		}
		return t, kindInt
	case *btf.Struct:
		is6 = v.Name == "in6_addr"
	case *btf.Union:
		is6 = v.Name == "in6_addr"
	case *btf.Array:
		elem := Size(v.Type)
		switch {
		case elem == 1 && v.Nelems == 6 && namesMAC(name):
			return t, kindMAC
		case elem > 0 && uint32(elem)*v.Nelems == 16 && namesAddress(name):
			return t, kindIPv6
		case elem == 1 && isChar(v.Type):
			return t, kindString
		}
	}
	if is6 && Size(t) == 16 {
		return t, kindIPv6
	}
	return t, kindOther
}

func isChar(t btf.Type) bool {
	i, ok := btf.UnderlyingType(t).(*btf.Int)
	return ok && i.Size == 1 && (i.Encoding&btf.Char != 0 || i.Name == "char")
}

// namesAddress reports a name that says "IP address": saddr, daddr,
// src_ip, dst_addr, ip, ipv4, addr, remote_ip4, ...
func namesAddress(name string) bool {
	n := strings.ToLower(name)
	if n == "" {
		return false
	}
	for _, w := range strings.FieldsFunc(n, func(r rune) bool { return r == '_' || (r >= '0' && r <= '9') }) {
		switch w {
		case "ip", "ipv", "ip4", "ip6", "sip", "dip", "vip", "src", "dst", "nexthop", "gw", "gateway":
			return true
		}
		if strings.HasSuffix(w, "addr") {
			return true
		}
	}
	return false
}

// namesMAC reports a name that says "MAC address": mac, h_source, h_dest,
// eth_src, smac, dmac, hwaddr, lladdr, ...
func namesMAC(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "h_source", "h_dest", "src", "dst", "source", "dest":
		return true
	}
	return strings.Contains(n, "mac") || strings.Contains(n, "hwaddr") || strings.Contains(n, "lladdr") ||
		strings.Contains(n, "eth") || strings.HasSuffix(n, "addr")
}

func appendText(b []byte, t btf.Type, data []byte, name string, depth int) []byte {
	if depth > maxDepth {
		return appendHex(b, data)
	}
	t, k := classify(t, name)
	switch k {
	case kindIPv4, kindIPv6, kindMAC:
		return appendAddr(b, k, data)
	case kindBE:
		return strconv.AppendUint(b, beUint(data), 10)
	case kindString:
		if s, ok := cString(data); ok {
			return strconv.AppendQuote(b, s)
		}
	}
	switch v := t.(type) {
	case *btf.Int:
		return appendInt(b, v, data)
	case *btf.Enum:
		return appendEnum(b, v, data)
	case *btf.Pointer:
		b = append(b, "0x"...)
		return strconv.AppendUint(b, leUint(data), 16)
	case *btf.Float:
		return appendFloat(b, data)
	case *btf.Struct:
		return appendMembers(b, v.Members, data, depth)
	case *btf.Union:
		return appendMembers(b, v.Members, data, depth)
	case *btf.Array:
		return appendArray(b, v, data, depth)
	case *btf.Datasec:
		b = append(b, '{')
		first := true
		for _, vs := range v.Vars {
			vr, ok := vs.Type.(*btf.Var)
			if !ok || uint64(vs.Offset)+uint64(vs.Size) > uint64(len(data)) || Size(vr.Type) != int(vs.Size) {
				continue
			}
			if !first {
				b = append(b, ", "...)
			}
			first = false
			b = append(b, vr.Name...)
			b = append(b, '=')
			b = appendText(b, vr.Type, data[vs.Offset:vs.Offset+vs.Size], vr.Name, depth+1)
		}
		return append(b, '}')
	case *btf.Var:
		return appendText(b, v.Type, data, v.Name, depth+1)
	}
	return appendHex(b, data)
}

// appendAddr prints an address of kind k in its usual notation.
func appendAddr(b []byte, k kind, data []byte) []byte {
	switch k {
	case kindIPv4:
		return netip.AddrFrom4([4]byte(data)).AppendTo(b)
	case kindIPv6:
		return netip.AddrFrom16([16]byte(data)).AppendTo(b)
	}
	for i, c := range data {
		if i > 0 {
			b = append(b, ':')
		}
		b = appendHex2(b, c)
	}
	return b
}

func appendMembers(b []byte, ms []btf.Member, data []byte, depth int) []byte {
	b = append(b, '{')
	first := true
	for _, m := range ms {
		f, ok := member(m, data)
		if !ok || isPadding(m.Name) && isZero(f) {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		if m.Name != "" {
			b = append(b, m.Name...)
			b = append(b, '=')
		}
		if m.BitfieldSize != 0 {
			b = appendBitfield(b, m, data)
			continue
		}
		b = appendText(b, m.Type, f, m.Name, depth+1)
	}
	return append(b, '}')
}

// isPadding reports a member named as padding (pad, __pad1, reserved):
// text leaves it out while it is zero.
func isPadding(name string) bool {
	n := strings.TrimLeft(name, "_")
	return strings.HasPrefix(n, "pad") || strings.HasPrefix(n, "reserved")
}

// member returns the bytes of m in data: for a bitfield, the bytes its bits
// lie in.
func member(m btf.Member, data []byte) ([]byte, bool) {
	if m.BitfieldSize != 0 {
		lo := uint64(m.Offset) / 8
		hi := (uint64(m.Offset) + uint64(m.BitfieldSize) + 7) / 8
		if hi > uint64(len(data)) || m.BitfieldSize > 64 {
			return nil, false
		}
		return data[lo:hi], true
	}
	if m.Offset%8 != 0 {
		return nil, false
	}
	n := Size(m.Type)
	off := uint64(m.Offset) / 8
	if n < 0 || off+uint64(n) > uint64(len(data)) {
		return nil, false
	}
	return data[off : off+uint64(n)], true
}

// bitfield reads a bitfield as the little-endian target lays it out: bit
// offsets count from the least significant bit of the storage unit.
func bitfield(m btf.Member, data []byte) uint64 {
	var v uint64
	for i := uint64(m.Offset); i < uint64(m.Offset)+uint64(m.BitfieldSize); i++ {
		bit := (data[i/8] >> (i % 8)) & 1
		v |= uint64(bit) << (i - uint64(m.Offset))
	}
	return v
}

func appendBitfield(b []byte, m btf.Member, data []byte) []byte {
	v := bitfield(m, data)
	t, _ := classify(m.Type, m.Name)
	switch t := t.(type) {
	case *btf.Int:
		if t.Encoding&btf.Signed != 0 && m.BitfieldSize < 64 && v>>(m.BitfieldSize-1)&1 != 0 {
			return strconv.AppendInt(b, int64(v|^(1<<m.BitfieldSize-1)), 10)
		}
	case *btf.Enum:
		for _, e := range t.Values {
			if e.Value == v {
				return append(b, e.Name...)
			}
		}
	}
	return strconv.AppendUint(b, v, 10)
}

func appendInt(b []byte, t *btf.Int, data []byte) []byte {
	if t.Encoding&btf.Bool != 0 {
		return strconv.AppendBool(b, !isZero(data))
	}
	if len(data) > 8 { // __int128
		return appendHex(append(b, "0x"...), reversed(data))
	}
	v := leUint(data)
	if t.Encoding&btf.Signed != 0 {
		return strconv.AppendInt(b, signExtend(v, len(data)), 10)
	}
	return strconv.AppendUint(b, v, 10)
}

func appendEnum(b []byte, t *btf.Enum, data []byte) []byte {
	v := leUint(data)
	if t.Signed {
		v = uint64(signExtend(v, len(data)))
	}
	for _, e := range t.Values {
		if e.Value == v || (len(data) < 8 && e.Value&(1<<(8*len(data))-1) == v) {
			return append(b, e.Name...)
		}
	}
	if t.Signed {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendUint(b, v, 10)
}

func appendFloat(b []byte, data []byte) []byte {
	switch len(data) {
	case 4:
		return strconv.AppendFloat(b, float64(math.Float32frombits(binary.LittleEndian.Uint32(data))), 'g', -1, 32)
	case 8:
		return strconv.AppendFloat(b, math.Float64frombits(binary.LittleEndian.Uint64(data)), 'g', -1, 64)
	}
	return appendHex(b, data)
}

// appendArray prints [a, b, c], folding a run of four or more equal
// elements into "a x4".
func appendArray(b []byte, t *btf.Array, data []byte, depth int) []byte {
	n := Size(t.Type)
	if n <= 0 || uint64(n)*uint64(t.Nelems) != uint64(len(data)) {
		return appendHex(b, data)
	}
	b = append(b, '[')
	for i := 0; i < int(t.Nelems); {
		e := data[i*n : (i+1)*n]
		run := 1
		for i+run < int(t.Nelems) && string(data[(i+run)*n:(i+run+1)*n]) == string(e) {
			run++
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendText(b, t.Type, e, "", depth+1)
		if run >= 4 {
			b = append(b, " x"...)
			b = strconv.AppendInt(b, int64(run), 10)
			i += run
		} else {
			i++
		}
	}
	return append(b, ']')
}

// cString reads a char array as a NUL-terminated printable string.
func cString(data []byte) (string, bool) {
	end := len(data)
	for i, c := range data {
		if c == 0 {
			end = i
			break
		}
	}
	if !isZero(data[end:]) {
		return "", false
	}
	for _, c := range data[:end] {
		if c < 0x20 || c >= 0x7f {
			return "", false
		}
	}
	return string(data[:end]), true
}

func leUint(data []byte) uint64 {
	var v uint64
	for i := len(data) - 1; i >= 0 && i < 8; i-- {
		v = v<<8 | uint64(data[i])
	}
	return v
}

func beUint(data []byte) uint64 {
	var v uint64
	for _, c := range data {
		v = v<<8 | uint64(c)
	}
	return v
}

func signExtend(v uint64, n int) int64 {
	if n >= 8 {
		return int64(v)
	}
	shift := 64 - 8*n
	return int64(v<<shift) >> shift
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i, c := range b {
		r[len(b)-1-i] = c
	}
	return r
}

func appendHex(b []byte, data []byte) []byte { return hex.AppendEncode(b, data) }

func appendHex2(b []byte, v byte) []byte {
	const digits = "0123456789abcdef"
	return append(b, digits[v>>4], digits[v&15])
}
