package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
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
		t.SetLocals(name, info.Program(lp.Prog))
	}
}
