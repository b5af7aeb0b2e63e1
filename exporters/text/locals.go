package text

import (
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/hooks"
)

// Locals names the C variables and parameters a program keeps in
// registers and stack slots at a pc, from DWARF (objects built with -g;
// cmd/bpfscope adapts package debuginfo's Prog).
type Locals interface {
	// RegName names the variable in register reg at pc, "" if none.
	RegName(pc, reg int) string
	// SlotName names the size bytes at r10+off at pc: the variable and the
	// member they lie in ("len", "key.daddr", "mac[4]", "buf+3"), "" if
	// none.
	SlotName(pc int, off int64, size int) string
}

// SetLocals makes the writer name the variables of program prog next to
// register values and stack slots: "r2=71 (len)", "store u64 fp-24 (len)".
// A nil l forgets prog's. Names are looked up once per pc.
func (t *Writer) SetLocals(prog string, l Locals) {
	if t.locals == nil {
		t.locals = map[string]*localNames{}
	}
	if l == nil {
		delete(t.locals, prog)
	} else {
		t.locals[prog] = &localNames{l: l, regs: map[int]*[11]string{}, slots: map[[3]int64]string{}}
	}
	t.prog, t.cur = "", nil // picked again at the next step
}

// localNames caches a Locals' answers: DWARF scopes are walked per query.
type localNames struct {
	l     Locals
	regs  map[int]*[11]string
	slots map[[3]int64]string
}

func (c *localNames) reg(pc, r int) string {
	names, ok := c.regs[pc]
	if !ok {
		names = new([11]string)
		for i := range 10 { // r10 is the frame pointer
			names[i] = c.l.RegName(pc, i)
		}
		c.regs[pc] = names
	}
	return names[r]
}

func (c *localNames) slot(pc int, off int64, size int) string {
	k := [3]int64{int64(pc), off, int64(size)}
	if s, ok := c.slots[k]; ok {
		return s
	}
	name := c.l.SlotName(pc, off, size)
	c.slots[k] = name
	return name
}

// appendRegName adds " (name)" after the value of register r changed by
// the instruction at pc: the variable the register holds from the next
// instruction on.
func (t *Writer) appendRegName(b []byte, r int) []byte {
	if name := t.cur.reg(t.next, r); name != "" {
		b = append(b, " ("...)
		b = append(b, name...)
		b = append(b, ')')
	}
	return b
}

// appendSlotName adds " (name)" after a stack slot the instruction at pc
// touched: the variable stored there after the instruction, or before it.
func (t *Writer) appendSlotName(b []byte, ev *hooks.Access) []byte {
	off, ok := ev.Region.Offset, ev.Region.Kind == hooks.RegionStack
	if !ok && ev.Region.Kind != hooks.RegionOther {
		return b // located, not on the stack
	}
	if !ok { // a trace file keeps only the name: "fp-24"
		where := t.where(ev)
		if !strings.HasPrefix(where, "fp") {
			return b
		}
		n, err := strconv.ParseInt(where[2:], 10, 64)
		if err != nil {
			return b
		}
		off = n
	}
	name := t.cur.slot(ev.PC+1, off, ev.Size)
	if name == "" {
		name = t.cur.slot(ev.PC, off, ev.Size)
	}
	if name != "" {
		b = append(b, " ("...)
		b = append(b, name...)
		b = append(b, ')')
	}
	return b
}
