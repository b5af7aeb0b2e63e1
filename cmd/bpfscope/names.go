package main

import (
	"bytes"
	"debug/dwarf"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/bpfscope/bpfscope/debuginfo"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/loader"
)

// mapListing writes what a trace starts from: the elements --map set,
// decoded by the maps' BTF ("map blocked_v4[192.0.2.66] = 0"), and the
// global data sections by variable ("global .rodata {max_frame_len=1514,
// answer_ping=1}"). c is nil for raw bytecode: the sets are shown as given.
func mapListing(w io.Writer, c *loader.Collection, sets []string) {
	for _, s := range sets {
		fmt.Fprintf(w, "  map %s\n", mapSetText(c, s))
	}
	if c == nil {
		return
	}
	for _, name := range c.MapNames() {
		if !strings.HasPrefix(name, ".") {
			continue
		}
		m := c.Maps[name]
		vt := m.Spec().Value
		val := make([]byte, m.UserValueSize())
		if vt == nil || m.Get(make([]byte, m.KeySize()), val) != nil {
			continue
		}
		if txt := btfvalue.Text(vt, val); txt != "" && txt != "{}" {
			fmt.Fprintf(w, "  global %s %s\n", name, txt)
		}
	}
}

// mapSetText shows a --map NAME:KEY=VALUE set with the key and value
// decoded, or as given when the map has no BTF.
func mapSetText(c *loader.Collection, s string) string {
	name, kv, _ := strings.Cut(s, ":")
	k, v, _ := strings.Cut(kv, "=")
	if c == nil {
		return s
	}
	m, ok := c.Maps[name]
	if !ok {
		return s
	}
	spec := m.Spec()
	key, err1 := hex.DecodeString(k)
	val, err2 := hex.DecodeString(v)
	if err1 != nil || err2 != nil || spec.Key == nil && spec.Value == nil {
		return s
	}
	b := append([]byte(name), '[')
	b = btfvalue.AppendTextOrHex(b, spec.Key, key)
	b = append(b, "] = "...)
	if d, ok := btfvalue.AppendText(b, spec.Value, val); ok {
		b = d
	} else {
		b = append(b, v...)
	}
	return string(b)
}

// setLocals lets t name C variables next to registers and stack slots,
// from the object's DWARF, for every program of the collection (a tail
// call may reach any). Objects without DWARF name none.
func setLocals(t *text.Writer, p *program, c *loader.Collection) {
	if p.elf == nil || c == nil {
		return
	}
	info, err := debuginfo.Load(bytes.NewReader(p.elf))
	if err != nil || !info.HasDWARF() {
		return
	}
	for name, lp := range c.Programs {
		t.SetLocals(name, dwarfLocals{info.Program(lp.Prog)})
	}
}

// dwarfLocals adapts debuginfo.Prog to text.Locals: it names the bytes
// of a stack slot by the variable and the member they lie in ("key.daddr",
// "init.mac[5]"), from the variable's DWARF type.
type dwarfLocals struct{ *debuginfo.Prog }

func (d dwarfLocals) SlotName(pc int, off int64, size int) string {
	name, at := d.Prog.SlotName(pc, off)
	if name == "" {
		return ""
	}
	v, ok := d.Prog.Local(pc, name)
	if !ok {
		return name + offSuffix(at)
	}
	path, rest := memberPath(v.Type, at, int64(max(size, 1)))
	return name + path + offSuffix(rest)
}

func offSuffix(off int64) string {
	if off == 0 {
		return ""
	}
	return "+" + strconv.FormatInt(off, 10)
}

// memberPath walks structs and arrays of a DWARF type down to the member
// holding the size bytes at off, as btfvalue.Path does for BTF: its path
// and the offset left inside it. An access covering a whole struct or
// array stops there; one spanning members is named where it starts.
func memberPath(t dwarf.Type, off, size int64) (string, int64) {
	var b strings.Builder
	for range 16 {
		if off == 0 && size >= t.Size() {
			break
		}
		switch tt := t.(type) {
		case *dwarf.TypedefType:
			t = tt.Type
			continue
		case *dwarf.QualType:
			t = tt.Type
			continue
		case *dwarf.StructType:
			// Which member of a union is meant is anyone's guess; an
			// in6_addr is an address, not its union.
			if tt.Kind == "union" || tt.StructName == "in6_addr" {
				return b.String(), off
			}
			var found *dwarf.StructField
			for _, f := range tt.Field {
				if size := f.Type.Size(); f.BitSize == 0 && off >= f.ByteOffset && off < f.ByteOffset+size {
					found = f
					break
				}
			}
			if found == nil {
				return b.String(), off
			}
			if found.Name != "" {
				b.WriteString("." + found.Name)
			}
			t, off = found.Type, off-found.ByteOffset
			continue
		case *dwarf.ArrayType:
			elem := tt.Type.Size()
			if elem <= 0 {
				return b.String(), off
			}
			fmt.Fprintf(&b, "[%d]", off/elem)
			t, off = tt.Type, off%elem
			continue
		}
		break
	}
	return b.String(), off
}
