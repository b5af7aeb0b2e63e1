// Package jsonl writes a run as JSON Lines: one JSON object per event, with
// the stable, versioned field names documented in docs/jsonl-schema.md.
//
// Every object starts with "v" (the schema version, 1) and "ev" (the event
// kind). 64-bit quantities that may exceed 2^53 (registers, addresses,
// values, helper arguments and results) are strings in hex, "0x2a", so that
// JavaScript and jq read them exactly; counts and small fields are numbers;
// byte strings are lowercase hex.
package jsonl

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/bpfscope/bpfscope/exporters/internal/num"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/cilium/ebpf/btf"
)

// Version is the schema version every object carries in "v".
const Version = 1

// Writer is a hook that writes JSON Lines to an io.Writer. Output is
// buffered and flushed when a run exits (or by Flush).
type Writer struct {
	w   io.Writer
	err error
	out []byte // output not yet written to w

	pending bool // a Before without its After: a faulting instruction
	before  hooks.Step
	insp    hooks.Inspector // the running machine, or a replay's Inspector
	// namer is namerOf's hooks.Namer, found once rather than per access.
	namerOf hooks.Inspector
	namer   hooks.Namer
	// spanNamer is namer as a hooks.SpanNamer; span its last answer,
	// which holds until the batch written (PCs) is done.
	spanNamer hooks.SpanNamer
	span      nameSpan

	prog   string
	texts  []staticText
	packet int
	count  num.Counter // "n" of the step written last

	// Raw leaves out what debug info and dissection add: access names
	// and decoded map keys and values.
	Raw   bool
	types struct {
		m          hooks.Inspector
		name       string
		key, value btf.Type
	}
}

// New returns a Writer that writes to w.
func New(w io.Writer) *Writer {
	return &Writer{w: w, out: make([]byte, 0, bufSize+outSlack)}
}

// outSlack is the capacity of the output beyond bufSize: room for the
// window of a step line after an access line of up to 3 kB, without
// growing.
const outSlack = 4 << 10

// bufSize is how much output the writer collects before writing it.
const bufSize = 64 << 10

// Flush writes out buffered lines.
func (j *Writer) Flush() error {
	if j.err == nil && len(j.out) > 0 {
		_, j.err = j.w.Write(j.out)
	}
	j.out = j.out[:0]
	return j.err
}

// Err returns the first write error.
func (j *Writer) Err() error { return j.err }

// SetPacket numbers the runs that follow: from now on every object
// carries "packet": n after "v", so that a consumer of many runs' events
// can attribute each to its input. 0 (the default) leaves it out.
func (j *Writer) SetPacket(n int) { j.packet = n }

// Error writes an "error" event: the input of a run was refused (as
// BPF_PROG_TEST_RUN refuses it), so no "enter" or "exit" follows for it.
func (j *Writer) Error(err error) {
	b := j.start("error")
	j.end(str(b, "err", err.Error()))
}

func (j *Writer) start(ev string) []byte {
	b := append(j.out, `{"v":1,`...)
	if j.packet > 0 {
		b = append(b, `"packet":`...)
		b = num.AppendInt(b, int64(j.packet))
		b = append(b, ',')
	}
	b = append(b, `"ev":"`...)
	b = append(b, ev...)
	return append(b, '"')
}

func (j *Writer) end(b []byte) {
	j.out = append(b, "}\n"...)
	if len(j.out) >= bufSize {
		j.Flush()
	}
}

func (j *Writer) Enter(ev *hooks.Run) {
	j.pending = false
	if ev.M != nil { // helpers' events may come before the first batch
		j.insp = ev.M
	}
	b := j.start("enter")
	b = str(b, "prog", ev.Prog)
	b = append(b, `,"args":[`...)
	for i, a := range ev.Args {
		if i > 0 {
			b = append(b, ',')
		}
		b = hexq(b, a)
	}
	j.end(append(b, ']'))
}

func (j *Writer) Exit(ev *hooks.Run) {
	if j.pending {
		j.step(&j.before, nil, j.before.M)
	}
	b := j.start("exit")
	b = str(b, "prog", ev.Prog)
	b = append(b, `,"r0":`...)
	b = hexq(b, ev.R0)
	b = field(b, "insns", int64(ev.Insns))
	if ev.Err != nil {
		b = str(b, "err", ev.Err.Error())
	}
	j.end(b)
	j.Flush()
}

// BatchesOnly makes the Writer a hooks.BatchHook: attached to a machine,
// it takes instructions, registers and accesses from PC batches (PCs);
// its StepHook and AccessHook write events replayed from Records.
func (j *Writer) BatchesOnly() {}

// PCs writes every instruction of the batch: its access, then its step.
// The events reported before the batch belong to its first instruction.
func (j *Writer) PCs(b *hooks.PCBatch) {
	if j.pending { // replayed events left a step open
		j.step(&j.before, nil, j.before.M)
	}
	j.insp = b.M
	if b.M != j.namerOf {
		j.namerOf, j.namer = b.M, nil
		j.namer, _ = b.M.(hooks.Namer)
		j.spanNamer, _ = j.namer.(hooks.SpanNamer)
	}
	// Memory stands still while the batch is written: a name found for
	// a span of addresses holds for the batch, not beyond.
	j.span = nameSpan{}
	j.program(b.Prog)
	// The objects of each instruction are written in one pass into out,
	// kept in a local rather than in j.out; a fault, a packet number, a
	// call depth or a long source line take the general path.
	// What the loop reads of j is kept in locals: the compiler would
	// reload a field after every write to out.
	out, texts, numbered := j.out, j.texts, j.packet > 0
	// The count's digits, kept in a word from one instruction to the
	// next, which mostly counts one more (num.NextDigits).
	cv, cw, cn := ^uint64(0), uint64(0), 0
	for c := b.Walk(); c.Next(); {
		var st *staticText
		if pc := c.PC; pc < len(texts) && texts[pc].done {
			st = &texts[pc]
		} else { // the first time at this pc
			before, _ := c.Steps()
			st = j.static(before, b)
			texts = j.texts
		}
		if numbered || c.Faulted || c.Depth != 0 || len(st.step0) > maxStep0 {
			j.out = out
			if c.Access != nil {
				j.Access(c.Access)
			}
			regs := c.Regs
			if c.Faulted {
				regs = nil
			}
			j.writeStep(c.Count, c.PC, c.Depth, st, c.Changed, regs)
			out = j.out
			continue
		}
		if acc := c.Access; acc != nil {
			out = j.appendInsnAccess(out, st, c)
		}
		if v := c.Count; v == cv+1 && cn > 0 {
			cw, cn = num.NextDigits(cw, cn)
		} else if v != cv {
			cw, cn = num.Digits(v)
		}
		cv = c.Count
		// The line is stored in place, in a window of fixed size: its
		// end is below lineMask, so the stores at an index masked to it
		// need no bounds checks.
		out = room(out, lineWindow)
		i := len(out)
		o := (*[lineWindow]byte)(out[i : i+lineWindow])
		le.PutUint64(o[0:], stepHead[0])
		le.PutUint64(o[8:], stepHead[1])
		le.PutUint64(o[16:], stepHead[2])
		k := len(stepStart)
		if cn > 0 {
			binary.BigEndian.PutUint64(o[k:], cw<<(64-8*cn))
			k += cn
		} else { // more than 8 digits
			k = len(num.AppendInt(o[:k], int64(cv)))
		}
		k += copy(o[k:], st.step0)
		if ch := c.Changed & 0x7ff; ch != 0 {
			regs := c.Regs
			for ; ch != 0; ch &= ch - 1 {
				r := bits.TrailingZeros16(ch)
				k &= lineMask
				if r < 10 {
					le.PutUint64(o[k:], regKeyWord[r])
					k += 8
				} else {
					k += copy(o[k:], regKeyHex[r])
				}
				// num.PutHex, inlined for values of up to 9 digits (the
				// machine's addresses have 9).
				v := regs[r]
				k &= lineMask
				if n := (bits.Len64(v|1) + 3) / 4; n <= 9 {
					o[k] = hexDigits[v>>32&15] // the 9th digit, or overwritten
					w := num.Hex8(uint32(v))
					if n == 9 {
						le.PutUint64(o[k+1:], bits.ReverseBytes64(w))
					} else {
						le.PutUint64(o[k:], bits.ReverseBytes64(w<<(64-8*n)))
					}
					k += n
				} else {
					k += num.PutHex(o[k:], v)
				}
				k &= lineMask
				o[k], o[k+1] = '"', ','
				k += 2
			}
			k-- // the last comma
		}
		k &= lineMask
		o[k], o[k+1], o[k+2] = '}', '}', '\n'
		out = out[:i+k+3]
		if len(out) >= bufSize {
			j.out = out
			j.Flush()
			out = j.out
		}
	}
	j.out = out
}

// stepStart is how every "step" line at call depth 0 starts, without a
// packet number; stepHead is its text in three little-endian words (the
// last byte is overwritten by the count).
const stepStart = `{"v":1,"ev":"step","n":`

var stepHead = words3(stepStart)

// A step line at call depth 0 is stored in a window of lineWindow bytes
// reserved at the end of the output. It ends before lineMask+1, where
// its text of the pc leaves stepRoom: its start, the count, 11 registers
// and the end; the window has room for a 16-byte store from any index
// below that. What is stored past the line is overwritten by the next.
// A line whose text of the pc is longer than maxStep0 (a long source
// line) takes the general path.
const (
	lineMask   = 1<<10 - 1
	lineWindow = lineMask + 1 + 32
	stepRoom   = len(stepStart) + 20 + 11*(len(`"r10":"0x`)+16+2) + 3
	maxStep0   = lineMask + 1 - stepRoom
)

// regKeyWord is regKeyHex of r0 to r9, each 8 bytes, as a little-endian
// word.
var regKeyWord = func() (w [10]uint64) {
	for r := range w {
		w[r] = le.Uint64([]byte(regKeyHex[r]))
	}
	return w
}()

var le = binary.LittleEndian

const hexDigits = "0123456789abcdef"

func words3(s string) (w [3]uint64) {
	var b [24]byte
	copy(b[:], s)
	for i := range w {
		w[i] = le.Uint64(b[8*i:])
	}
	return w
}

// room returns b with room for n more bytes.
func room(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = slices.Grow(b, n)
	}
	return b
}

// appendInsnAccess appends the "access" object of an instruction's own
// access (not a helper's), whose pc, kind and size are the same at every
// pass: the text up to the address, and from it to "where", is made
// once per pc; the where, from the cursor's span (Cursor.Where), once
// per pc and region.
func (j *Writer) appendInsnAccess(b []byte, st *staticText, c *hooks.Cursor) []byte {
	ev := c.Access
	if ev.Helper != 0 || ev.Bytes != nil || ev.M == nil || j.packet > 0 {
		j.out = b
		j.Access(ev)
		return j.out
	}
	if !st.accOK || st.accKind != ev.Kind || st.accSize != ev.Size {
		h := append([]byte(`{"v":1,"ev":"access"`), `,"pc":`...)
		h = num.AppendInt(h, int64(ev.PC))
		if ev.Kind < hooks.AccessKind(len(accessKind)) {
			h = append(h, accessKind[ev.Kind]...)
		} else {
			h = str(h, "kind", ev.Kind.String())
		}
		st.accHead = string(append(h, `,"addr":"0x`...))
		st.accSizeText = string(append(num.AppendInt([]byte(`","size":`), int64(ev.Size)), `,"where":`...))
		st.accKind, st.accSize, st.accOK = ev.Kind, ev.Size, true
	}
	b = room(b, len(st.accHead)+16)
	b = append(b, st.accHead...)
	i := len(b)
	b = b[:i+num.PutHex(b[i:cap(b)], ev.Addr)]
	if where, off, ok := c.Where(); ok {
		if st.accWhere != where || st.accWhereText == "" {
			st.accWhere = where
			w := appendJSONString(append([]byte(nil), st.accSizeText...), where)
			st.accWhereText = string(w[:len(w)-1]) // without its closing quote
		}
		b = append(b, st.accWhereText...)
		if off >= 0 {
			b = append(b, '+')
		}
		b = append(num.AppendInt(b, off), '"')
	} else {
		b = appendJSONString(append(b, st.accSizeText...), ev.Where())
	}
	if !j.Raw {
		if name := j.spanName(ev); name != "" {
			b = str(b, "name", name)
		}
	}
	// The value, the old value, the end.
	b = room(b, 2*(len(`,"value":"0x`)+16)+8)
	i = len(b)
	o := b[i:cap(b)]
	k := copy(o, `,"value":"0x`)
	k += num.PutHex(o[k:], ev.Value)
	if ev.Kind != hooks.Load {
		k += copy(o[k:], `","old":"0x`)
		k += num.PutHex(o[k:], ev.Old)
	}
	o[k], o[k+1], o[k+2] = '"', '}', '\n'
	return b[:i+k+3]
}

func (j *Writer) BeforeStep(ev *hooks.Step) hooks.Action {
	if j.pending {
		j.step(&j.before, nil, j.before.M)
	}
	j.pending = true
	j.before = *ev
	j.insp = ev.M
	return hooks.Continue
}

func (j *Writer) AfterStep(ev *hooks.Step) hooks.Action {
	if !j.pending || ev.PC != j.before.PC {
		return hooks.Continue
	}
	j.step(&j.before, ev, j.before.M)
	return hooks.Continue
}

// step writes an instruction's "step" object: where it ran from before
// (the depth and index it started at: a call's After already sees the
// callee's depth and counts the call), the registers it changed from
// after, or "faulted" when after is nil.
func (j *Writer) step(before, after *hooks.Step, lines liner) {
	j.program(before.Prog)
	st := j.staticAt(before.PC)
	if st == nil {
		st = j.static(before, lines)
	}
	if after == nil {
		j.writeStep(before.Count, before.PC, before.Depth, st, 0, nil)
	} else {
		j.writeStep(before.Count, before.PC, before.Depth, st, after.Changed, after.Regs)
	}
}

// writeStep writes a "step" object; regs nil means the instruction faulted.
func (j *Writer) writeStep(count uint64, pc, depth int, st *staticText, changed uint16, regs *[11]uint64) {
	j.pending = false
	b := append(j.startStep(), `,"n":`...)
	b = j.count.Append(b, count)
	b = num.AppendInt(append(b, `,"pc":`...), int64(pc))
	b = num.AppendInt(append(b, `,"depth":`...), int64(depth))
	b = append(b, st.json...)
	if regs == nil {
		b = append(b, `,"faulted":true`...)
	} else {
		b = append(b, `,"regs":{`...)
		first := true
		for ch := changed & 0x7ff; ch != 0; ch &= ch - 1 {
			r := bits.TrailingZeros16(ch)
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, regKey[r]...)
			b = hexq(b, regs[r])
		}
		b = append(b, '}')
	}
	j.end(b)
}

// startStep is start("step"), from a prefix made once.
func (j *Writer) startStep() []byte {
	if j.packet > 0 {
		return j.start("step")
	}
	return append(j.out, `{"v":1,"ev":"step"`...)
}

// accessKind is str(b, "kind", k.String()) for each AccessKind.
var accessKind = [...]string{hooks.Load: `,"kind":"load"`, hooks.Store: `,"kind":"store"`, hooks.Atomic: `,"kind":"atomic"`}

// regKeyHex is regKey and the start of a hex string value.
var regKeyHex = [11]string{`"r0":"0x`, `"r1":"0x`, `"r2":"0x`, `"r3":"0x`, `"r4":"0x`, `"r5":"0x`, `"r6":"0x`, `"r7":"0x`, `"r8":"0x`, `"r9":"0x`, `"r10":"0x`}

var regKey = [11]string{`"r0":`, `"r1":`, `"r2":`, `"r3":`, `"r4":`, `"r5":`, `"r6":`, `"r7":`, `"r8":`, `"r9":`, `"r10":`}

// liner knows source lines: a batch or an Inspector.
type liner interface{ Line(pc int) *isa.Line }

// staticText is the part of an instruction's step that does not change
// from run to run: "op", "insn" and "src", built once per program and pc.
type staticText struct {
	json  []byte
	step0 []byte // at call depth 0: from "pc" to the opening of "regs"
	done  bool

	// The start of its access object, to "addr", and the text from the
	// address to "where", made the first time it accesses memory.
	accHead, accSizeText string
	// accWhereText is accSizeText and the start of the string of a
	// where given as a hooks.Cursor's Where does: accWhere and its
	// offset ("pkt" and 14: "pkt+14").
	accWhere, accWhereText string
	accKind                hooks.AccessKind
	accSize                int
	accOK                  bool
}

// program makes prog the program whose instructions are written.
func (j *Writer) program(prog string) {
	if prog != j.prog {
		j.prog = prog
		clear(j.texts)
	}
}

// staticAt returns the static part of the step of the instruction at pc,
// or nil if it is not built yet.
func (j *Writer) staticAt(pc int) *staticText {
	if pc >= 0 && pc < len(j.texts) && j.texts[pc].done {
		return &j.texts[pc]
	}
	return nil
}

func (j *Writer) static(ev *hooks.Step, lines liner) *staticText {
	if st := j.staticAt(ev.PC); st != nil {
		return st
	}
	if ev.PC >= len(j.texts) {
		j.texts = append(j.texts, make([]staticText, ev.PC+1-len(j.texts))...)
	}
	b := field(nil, "op", int64(ev.Insn.Op))
	b = str(b, "insn", text.Disasm(ev))
	if lines != nil {
		if l := lines.Line(ev.PC); l != nil {
			b = appendLine(b, l)
		}
	}
	s0 := num.AppendInt([]byte(`,"pc":`), int64(ev.PC))
	s0 = append(append(s0, `,"depth":0`...), b...)
	j.texts[ev.PC] = staticText{json: b, step0: append(s0, `,"regs":{`...), done: true}
	return &j.texts[ev.PC]
}

func appendLine(b []byte, l *isa.Line) []byte {
	b = append(b, `,"src":{`...)
	b = append(b, `"func":`...)
	b = appendJSONString(b, l.Func)
	b = str(b, "file", l.File)
	b = field(b, "line", int64(l.Line))
	b = field(b, "col", int64(l.Col))
	b = str(b, "text", l.Text)
	return append(b, '}')
}

func (j *Writer) Access(ev *hooks.Access) hooks.Action {
	b := j.start("access")
	b = num.AppendInt(append(b, `,"pc":`...), int64(ev.PC))
	if ev.Kind < hooks.AccessKind(len(accessKind)) {
		b = append(b, accessKind[ev.Kind]...)
	} else {
		b = str(b, "kind", ev.Kind.String())
	}
	b = append(b, `,"addr":`...)
	b = hexq(b, ev.Addr)
	b = num.AppendInt(append(b, `,"size":`...), int64(ev.Size))
	if ev.M != nil {
		b = str(b, "where", ev.Where())
		if !j.Raw {
			if name := j.name(ev); name != "" {
				b = str(b, "name", name)
			}
		}
	}
	if ev.Bytes != nil {
		b = append(b, `,"bytes":"`...)
		b = hex.AppendEncode(b, ev.Bytes)
		b = append(b, '"')
	} else {
		b = append(b, `,"value":`...)
		b = hexq(b, ev.Value)
	}
	if ev.Kind != hooks.Load {
		b = append(b, `,"old":`...)
		b = hexq(b, ev.Old)
	}
	if ev.Helper != 0 {
		b = field(b, "helper", int64(ev.Helper))
	}
	j.end(b)
	return hooks.Continue
}

func (j *Writer) Helper(ev *hooks.HelperCall) hooks.Action {
	b := j.start("helper")
	b = field(b, "pc", int64(ev.PC))
	b = field(b, "depth", int64(ev.Depth))
	b = field(b, "id", int64(ev.ID))
	b = str(b, "name", ev.Name)
	b = append(b, `,"args":[`...)
	for i, a := range ev.Args {
		if i > 0 {
			b = append(b, ',')
		}
		b = hexq(b, a)
	}
	b = append(b, `],"ret":`...)
	b = hexq(b, ev.Ret)
	if ev.Err != nil {
		b = str(b, "err", ev.Err.Error())
	}
	j.end(b)
	return hooks.Continue
}

func (j *Writer) Call(ev *hooks.CallEvent) hooks.Action {
	b := j.start(ev.Kind.String())
	b = field(b, "pc", int64(ev.PC))
	b = field(b, "target", int64(ev.Target))
	b = str(b, "func", ev.Func)
	b = field(b, "depth", int64(ev.Depth))
	switch ev.Kind {
	case hooks.Return:
		b = append(b, `,"r0":`...)
		b = hexq(b, ev.R0)
	case hooks.TailCall:
		b = str(b, "prog", ev.Prog)
	}
	j.end(b)
	return hooks.Continue
}

func (j *Writer) MapOp(ev *hooks.MapOp) hooks.Action {
	b := j.start("map")
	b = field(b, "pc", int64(ev.PC))
	b = str(b, "map", ev.Map)
	b = str(b, "op", ev.Op.String())
	kt, vt := j.mapTypes(ev.Map)
	if ev.Key != nil {
		b = hexBytes(b, "key", ev.Key)
		b = decoded(b, "key_decoded", kt, ev.Key)
	}
	if ev.Value != nil {
		b = hexBytes(b, "value", ev.Value)
		b = decoded(b, "value_decoded", vt, ev.Value)
	}
	b = field(b, "flags", int64(ev.Flags))
	if ev.Op == hooks.MapLookup {
		b = append(b, `,"hit":`...)
		b = strconv.AppendBool(b, ev.Hit)
	}
	b = field(b, "errno", int64(ev.Errno))
	j.end(b)
	return hooks.Continue
}

// spanName is name for an access of the batch written: asked once per
// span of addresses when the machine is a hooks.SpanNamer.
func (j *Writer) spanName(ev *hooks.Access) string {
	sn := j.spanNamer
	if sn == nil || ev.M != j.namerOf {
		return j.name(ev)
	}
	sp := &j.span
	if ev.Addr < sp.lo || ev.Addr >= sp.hi || ev.Size != sp.size {
		sp.name, sp.lo, sp.hi = sn.NameSpan(ev.Addr, ev.Size)
		sp.size = ev.Size
	}
	return sp.name
}

// nameSpan is a hooks.SpanNamer's answer: the name of size bytes at
// any address in [lo, hi).
type nameSpan struct {
	lo, hi uint64
	size   int
	name   string
}

// name is text.Name(ev), with the batch's Namer found once.
func (j *Writer) name(ev *hooks.Access) string {
	if ev.M != j.namerOf {
		return text.Name(ev)
	}
	if j.namer == nil {
		return ""
	}
	return j.namer.Name(ev.Addr, ev.Size)
}

// mapTypes returns the BTF of a map's keys and values from the running
// machine, when it knows them (hooks.Namer).
func (j *Writer) mapTypes(name string) (key, value btf.Type) {
	m := j.insp
	n, ok := m.(hooks.Namer)
	if j.Raw || !ok {
		return nil, nil
	}
	c := &j.types
	if c.m != m || c.name != name {
		c.m, c.name = m, name
		c.key, c.value = n.MapTypes(name)
	}
	return c.key, c.value
}

// decoded adds data decoded by its BTF type under key, if it fits.
func decoded(b []byte, key string, t btf.Type, data []byte) []byte {
	if t == nil {
		return b
	}
	n := len(b)
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	if d, ok := btfvalue.AppendJSON(b, t, data); ok {
		return d
	}
	return b[:n]
}

func (j *Writer) Output(ev *hooks.Output) {
	b := j.start("output")
	b = field(b, "pc", int64(ev.PC))
	b = str(b, "kind", ev.Kind)
	if ev.Map != "" {
		b = str(b, "map", ev.Map)
	}
	b = hexBytes(b, "data", ev.Data)
	if utf8.Valid(ev.Data) && ev.Kind == "trace_printk" {
		b = str(b, "text", string(ev.Data))
	}
	j.end(b)
}

func str(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

func field(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return num.AppendInt(b, v)
}

func hexq(b []byte, v uint64) []byte {
	b = append(b, `"0x`...)
	b = num.AppendHex(b, v)
	return append(b, '"')
}

func hexBytes(b []byte, key string, v []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = hex.AppendEncode(b, v)
	return append(b, '"')
}

// appendJSONString quotes s as a JSON string. strconv.AppendQuote is not
// JSON: it writes \x escapes.
func appendJSONString(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	plain := true // the common case: nothing to escape
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', digits[c>>4], digits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
