package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

const mapFlagHelp = "before the first run, set an element: `NAME:KEY=VALUE` (repeatable). " +
	"KEY and VALUE are numbers where the map's BTF says they are integers (decimal or 0x..., " +
	"written in the type's size and byte order: little-endian, big-endian for __be types; an IPv4 address for __be32), " +
	"else raw bytes in hex in memory order; hex:... forces raw bytes. A per-CPU map takes one value for every CPU, or one per CPU"

// mapBTF is the key and value type of each map of an object, from its BTF.
type mapBTF map[string][2]btf.Type

// mapTypes parses the object's map specs for their BTF, once.
func (p *program) mapTypes() mapBTF {
	if p.btf != nil || p.elf == nil {
		return p.btf
	}
	p.btf = mapBTF{}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(p.elf))
	if err != nil {
		return p.btf
	}
	for name, ms := range spec.Maps {
		p.btf[name] = [2]btf.Type{ms.Key, ms.Value}
	}
	return p.btf
}

// setMap applies one --map NAME:KEY=VALUE setting.
func setMap(c *loader.Collection, types mapBTF, s string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("--map %q: %s", s, fmt.Sprintf(format, args...))
	}
	name, kv, ok := strings.Cut(s, ":")
	k, v, ok2 := strings.Cut(kv, "=")
	if !ok || !ok2 {
		return fail("want NAME:KEY=VALUE")
	}
	m, found := c.Maps[name]
	if !found {
		return fail("no map %q; maps: %s", name, strings.Join(c.MapNames(), ", "))
	}
	t := types[name]
	key, err := encodeValue(k, m.KeySize(), t[0])
	if err != nil {
		return fail("key: %v", err)
	}
	if len(key) != m.KeySize() {
		return fail("key is %d bytes, got %d", m.KeySize(), len(key))
	}
	val, err := encodeValue(v, m.ValueSize(), t[1])
	if err != nil {
		return fail("value: %v", err)
	}
	if n := m.UserValueSize(); n != m.ValueSize() {
		// Per-CPU: one value for every CPU, or one per CPU, each padded to 8.
		slot := (m.ValueSize() + 7) &^ 7
		switch {
		case len(val) == m.ValueSize():
			one := append(val, make([]byte, slot-len(val))...)
			val = bytes.Repeat(one, n/slot)
		case len(val) != n:
			return fail("value is %d bytes per CPU (%d CPUs: give one value, or %d bytes), got %d", m.ValueSize(), n/slot, n, len(val))
		}
	} else if len(val) != m.ValueSize() {
		return fail("value is %d bytes, got %d", m.ValueSize(), len(val))
	}
	spec := m.Spec()
	if isArray(spec.Type) {
		if i := binary.LittleEndian.Uint32(key); i >= spec.MaxEntries {
			return fail("index %d >= max_entries %d", i, spec.MaxEntries)
		}
	}
	if err := m.Put(key, val, 0); err != nil {
		if errors.Is(err, maps.E2BIG) {
			return fail("map is full (max_entries %d): %v", spec.MaxEntries, err)
		}
		return fail("%v", err)
	}
	return nil
}

func isArray(t maps.Type) bool {
	switch t {
	case maps.Array, maps.PerCPUArray, maps.ProgramArray, maps.PerfEventArray, maps.ArrayOfMaps, maps.DevMap, maps.CPUMap, maps.XSKMap:
		return true
	}
	return false
}

var number = regexp.MustCompile(`^([+-]?[0-9]+|0[xX][0-9a-fA-F]+)$`)

// encodeValue turns text into the bytes of a key or value of size bytes:
// a number when t is an integer or enum type, else raw hex.
func encodeValue(text string, size int, t btf.Type) ([]byte, error) {
	if raw, ok := strings.CutPrefix(text, "hex:"); ok {
		return hex.DecodeString(raw)
	}
	bits, signed, bigEndian, isInt := intType(t)
	if a, err := netip.ParseAddr(text); err == nil && a.Is4() && isInt && bigEndian && bits == 32 {
		return a.AsSlice(), nil // a __be32 address, as traces print it
	}
	if !isInt || !number.MatchString(text) {
		b, err := hex.DecodeString(text)
		if err != nil && isInt {
			return nil, fmt.Errorf("%q is neither a number nor hex bytes", text)
		}
		return b, err
	}
	if bits/8 != size {
		return nil, fmt.Errorf("the BTF type is %d bytes, the map's %d", bits/8, size)
	}
	var u uint64
	if signed {
		n, err := strconv.ParseInt(text, 0, bits)
		if err != nil {
			return nil, fmt.Errorf("%s does not fit a %d-bit signed integer", text, bits)
		}
		u = uint64(n)
	} else {
		n, err := strconv.ParseUint(strings.TrimPrefix(text, "+"), 0, bits)
		if err != nil {
			return nil, fmt.Errorf("%s does not fit a %d-bit unsigned integer", text, bits)
		}
		u = n
	}
	b := binary.LittleEndian.AppendUint64(nil, u)[:size]
	if bigEndian {
		for i, j := 0, size-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	return b, nil
}

// intType describes an integer or enum BTF type (through typedefs and
// qualifiers): its width, signedness, and byte order (__be16, __be32 and
// __be64 typedefs are big-endian).
func intType(t btf.Type) (bits int, signed, bigEndian, ok bool) {
	for t != nil {
		switch v := t.(type) {
		case *btf.Typedef:
			if strings.HasPrefix(v.Name, "__be") {
				bigEndian = true
			}
			t = v.Type
		case *btf.Volatile:
			t = v.Type
		case *btf.Const:
			t = v.Type
		case *btf.Int:
			n := int(v.Size) * 8
			return n, v.Encoding == btf.Signed, bigEndian, n == 8 || n == 16 || n == 32 || n == 64
		case *btf.Enum:
			n := int(v.Size) * 8
			return n, v.Signed, bigEndian, n == 8 || n == 16 || n == 32 || n == 64
		default:
			return 0, false, false, false
		}
	}
	return 0, false, false, false
}
