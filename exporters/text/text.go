// Package text writes a run as a human-readable trace, one line per
// executed instruction, in the manner of the kernel verifier's log and
// `bpftool prog dump xlated`:
//
//	; xdp.c:14: if (data + sizeof(*eth) > data_end)
//	3: (2d) if r3 > r2 goto pc+4           ; r3=0x...
//	  12: (07) r0 += 3                     ; r0=13
//
// Each line holds the pc, the opcode and the instruction in kernel syntax,
// then after ";" what it did: the registers it changed, the memory it
// touched (by region name, with the old and new value of a store), the
// helper it called with arguments and result, map operations, output, and
// calls and returns between functions. Lines are indented two spaces per
// BPF-to-BPF call depth. A source line, when the program carries line
// info, precedes the first instruction compiled from it.
//
// What the program touches is named when the machine knows (hooks.Namer):
// globals by C name ("load u64 bytes_seen"), members of map values by
// element and member ("map flows[{saddr=10.0.0.2}].packets"), packet bytes
// by header field ("pkt+26 ipv4.src"), map keys and values decoded by
// their BTF; with SetLocals, C variables next to registers and stack slots
// ("r2=71 (len)", "store u64 fp-24 (len)"). Raw turns names off.
package text

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/bits"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/bpfscope/bpfscope/exporters/internal/num"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/cilium/ebpf/btf"
)

// Writer is a hook that writes the text trace to an io.Writer. Output is
// buffered and flushed when a run exits (or by Flush). Write errors stop
// the output and are reported by Err.
type Writer struct {
	w   io.Writer
	out []byte // output not yet written to w; a pending line is its end
	err error

	line    []byte // the instruction being written
	notes   []byte // what it did, so far
	scratch []byte
	pending bool // a Before was seen without its After
	start   int  // where the pending line begins in out
	pc      int
	next    int // the pc after the pending instruction's
	head    string
	headPad string
	depth   int
	src     *isa.Line

	// static text of the current program's instructions, by pc
	prog  string
	texts []staticText

	// Raw turns names from debug info and dissection off: regions and
	// offsets only ("map .bss[0]+8", "pkt+26"), keys and values in hex.
	Raw  bool
	insp hooks.Inspector // the Inspector of the latest step
	// namer is namerOf's hooks.Namer, found once rather than per access.
	namerOf hooks.Inspector
	namer   hooks.Namer
	// spanNamer is namer as a hooks.SpanNamer; span its last answer,
	// which holds until the batch written (PCs) is done.
	spanNamer hooks.SpanNamer
	span      nameSpan
	wheres    whereCache
	types     mapTypes

	locals map[string]*localNames // by program (SetLocals)
	cur    *localNames            // the running program's, nil if none
}

// New returns a Writer that writes to w.
func New(w io.Writer) *Writer {
	return &Writer{w: w, out: make([]byte, 0, bufSize+1024)}
}

// bufSize is how much output the writer collects before writing it.
const bufSize = 64 << 10

// Flush writes out buffered lines.
func (t *Writer) Flush() error {
	n := len(t.out)
	if t.pending { // the line being built stays
		n = t.start
	}
	if t.err == nil && n > 0 {
		_, t.err = t.w.Write(t.out[:n])
	}
	t.out = t.out[:copy(t.out, t.out[n:])]
	t.start = 0 // the pending line, if any, now begins out
	return t.err
}

// Err returns the first write error.
func (t *Writer) Err() error { return t.err }

func (t *Writer) write(b []byte) {
	t.out = append(t.out, b...)
	t.spill()
}

// spill writes the output out once a buffer's worth has collected.
func (t *Writer) spill() {
	if len(t.out) >= bufSize && !t.pending {
		t.Flush()
	}
}

func (t *Writer) Enter(ev *hooks.Run) {
	if t.pending { // a line never finished
		t.out = t.out[:t.start]
	}
	t.pending, t.src, t.notes = false, nil, t.notes[:0]
	if ev.M != nil { // helpers' events may come before the first batch
		t.insp = ev.M
	}
	b := append(t.line[:0], "; run "...)
	b = append(b, ev.Prog...)
	b = append(b, '(')
	n := len(ev.Args)
	for n > 0 && ev.Args[n-1] == 0 {
		n--
	}
	for i, a := range ev.Args[:n] {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, 'r', byte('1'+i), '=')
		b = appendValue(b, a)
	}
	b = append(b, ")\n"...)
	t.line = b
	t.write(b)
}

func (t *Writer) Exit(ev *hooks.Run) {
	if t.pending {
		// The instruction that failed gets its line, with the error.
		t.flushLine(nil)
	}
	b := append(t.line[:0], "; "...)
	if ev.Err != nil {
		b = append(b, "error: "...)
		b = append(b, ev.Err.Error()...)
	} else {
		b = append(b, "exit r0="...)
		b = appendValue(b, ev.R0)
	}
	b = append(b, " ("...)
	b = strconv.AppendUint(b, ev.Insns, 10)
	b = append(b, " insns)\n"...)
	t.line = b
	t.write(b)
	t.Flush()
}

// BatchesOnly makes the Writer a hooks.BatchHook: attached to a machine,
// it takes instructions, registers and accesses from PC batches (PCs);
// its StepHook and AccessHook write events replayed from Records.
func (t *Writer) BatchesOnly() {}

// PCs writes the line of every instruction of the batch. The events
// reported before the batch (helper calls, calls, map operations, output,
// helpers' accesses) belong to its first instruction, which called out.
func (t *Writer) PCs(b *hooks.PCBatch) {
	if t.pending { // replayed events left a line open
		t.flushLine(nil)
	}
	t.insp = b.M
	if b.M != t.namerOf {
		t.namerOf, t.namer = b.M, namerOf(b.M)
		t.spanNamer, _ = t.namer.(hooks.SpanNamer)
	}
	// Memory stands still while the batch is written: a name found for
	// a span of addresses holds for the batch, not beyond.
	t.span = nameSpan{}
	t.wheres.start()
	defer t.wheres.stop()
	t.program(b.Prog)
	// The line of each instruction is written in one pass into out, kept
	// in a local rather than in t.out; the rare lines (a fault, notes
	// from replayed events, names of locals) take the general path.
	// What the loop reads of t is kept in locals: the compiler would
	// reload a field after every write to out.
	out, texts := t.out, t.texts
	general := len(t.notes) > 0 || t.cur != nil
	for c := b.Walk(); c.Next(); {
		var st *staticText
		if pc := c.PC; pc < len(texts) && texts[pc].done {
			st = &texts[pc]
		} else { // the first time at this pc
			before, _ := c.Steps()
			st = t.static(before, b)
			texts = t.texts
		}
		if general || c.Faulted {
			t.out = out
			t.begin(c.Depth, st)
			if c.Faulted {
				t.endLine(0, nil, c.Access)
			} else {
				t.endLine(c.Changed, c.Regs, c.Access)
			}
			t.notes = t.notes[:0]
			out, general = t.out, t.cur != nil
			continue
		}
		depth := c.Depth
		if l := st.line; l != nil && !sameLine(l, t.src) {
			t.src = l
			out = appendSource(out, depth, l)
		}
		changed, acc := c.Changed&0x7ff, c.Access
		switch {
		case depth == 0 && st.inPlace && changed&(changed-1) == 0:
			// The line is stored in place, a word at a time, in room
			// reserved at the end of out: the padded head, "rN=" and
			// the value of the one register it changed, if any.
			out = room(out, lineRoom)
			i := len(out)
			o := (*[lineRoom]byte)(out[i : i+lineRoom])
			w := &st.words
			le.PutUint64(o[0:], w[0])
			le.PutUint64(o[8:], w[1])
			le.PutUint64(o[16:], w[2])
			le.PutUint64(o[24:], w[3])
			le.PutUint64(o[32:], w[4])
			le.PutUint64(o[40:], w[5])
			k := len(st.headPad)
			if changed == 0 && acc == nil { // nothing to say
				k = len(st.head)
			} else if changed != 0 {
				r := bits.TrailingZeros16(changed)
				if v := c.Regs[r]; needsHex(v) {
					le.PutUint64(o[k:], regEqHexWord[r])
					k += len(regEqHex[r])
					// num.PutHex, inlined for the machine's addresses
					// (9 digits: a value in hex has at least 9).
					if v>>36 == 0 && k < lineRoom-16 {
						o[k] = hexDigits[v>>32]
						le.PutUint64(o[k+1:], bits.ReverseBytes64(num.Hex8(uint32(v))))
						k += 9
					} else {
						k += num.PutHex(o[k:k+16], v)
					}
				} else {
					le.PutUint64(o[k:], regEqWord[r])
					k += len(regEq[r])
					if v < 1000000 {
						k += num.Put6(o[k:], v)
					} else {
						k = len(num.AppendInt(o[:k], int64(v)))
					}
				}
			}
			if acc == nil {
				o[k] = '\n'
				out = out[:i+k+1]
				break
			}
			out = append(t.appendInsnAccess(out[:i+k], st, c, changed != 0), '\n')
		case changed == 0 && acc == nil: // nothing to say
			if depth > 0 {
				out = indent(out, depth)
			}
			out = append(out, st.headNL...)
		default:
			if depth == 0 {
				out = append(out, st.headPad...)
			} else {
				start := len(out)
				out = append(indent(out, depth), st.head...)
				if pad := 40 - (len(out) - start); pad > 0 {
					out = append(out, spaces[:pad]...)
				}
				out = append(out, "; "...)
			}
			if changed != 0 {
				regs := c.Regs
				for ch := changed; ; {
					r := bits.TrailingZeros16(ch)
					if v := regs[r]; needsHex(v) { // one call per value
						out = num.AppendHex(append(out, regEqHex[r]...), v)
					} else {
						out = num.AppendInt(append(out, regEq[r]...), int64(v))
					}
					if ch &= ch - 1; ch == 0 {
						break
					}
					out = append(out, ' ')
				}
			}
			if acc != nil {
				out = t.appendInsnAccess(out, st, c, changed != 0)
			}
			out = append(out, '\n')
		}
		if len(out) >= bufSize {
			t.out = out
			t.Flush()
			out = t.out
		}
	}
	t.out = out
}

// appendInsnAccess is appendAccess for the access at the cursor, of an
// instruction (not a helper), whose kind and size are the same at every
// pass: its start ("load u8 ") is made once per pc.
func (t *Writer) appendInsnAccess(b []byte, st *staticText, c *hooks.Cursor, sep bool) []byte {
	acc := c.Access
	if acc.Helper != 0 || acc.Bytes != nil || acc.Kind > hooks.Atomic {
		if sep {
			b = append(b, " | "...)
		}
		return t.appendAccess(b, acc)
	}
	// The batch's machine names it, by span: memory stands still while
	// the batch is written.
	var name string
	sn := t.spanNamer
	if sn != nil && !t.Raw {
		sp := &t.span
		if acc.Addr < sp.lo || acc.Addr >= sp.hi || acc.Size != sp.size {
			sp.name, sp.lo, sp.hi = sn.NameSpan(acc.Addr, acc.Size)
			sp.size = acc.Size
		}
		name = sp.name
	}
	where, off, ok := c.Where()
	ok = ok && (sn != nil || t.Raw)
	if ok && off >= 0 && name == "" {
		return st.putAccess(b, acc, where, off, sep)
	}
	if !st.accOK || st.accKind != acc.Kind || st.accSize != acc.Size {
		st.acc = string(appendAccessHead([]byte(" | "), acc))
		st.accKind, st.accSize, st.accOK = acc.Kind, acc.Size, true
	}
	if sep {
		b = append(b, st.acc...)
	} else {
		b = append(b, st.acc[len(" | "):]...)
	}
	switch {
	case ok:
		b = appendWhereAt(b, where, off, name)
	case sn != nil && !t.Raw:
		b = AppendWhere(b, acc.Where(), name)
	default:
		b = t.appendWhere(b, acc)
	}
	if acc.Kind == hooks.Load {
		return appendValue(append(b, " = "...), acc.Value)
	}
	b = appendValue(append(b, ": "...), acc.Old)
	return appendValue(append(b, " -> "...), acc.Value)
}

// putAccess appends the rest of the note of an instruction's access to
// memory named by where and an offset, with nothing beyond (no name),
// in place: its start " | load u8 pkt+", made once per pc and where, as
// words, then the offset and the values.
func (st *staticText) putAccess(b []byte, acc *hooks.Access, where string, off int64, sep bool) []byte {
	h := &st.accAt
	if h.where != where || h.kind != acc.Kind || h.size != acc.Size || h.n == 0 {
		head := appendAccessHead([]byte(" | "), acc)
		head = append(append(head, where...), '+')
		if len(head) > len(h.text)-8 { // too long for the words: appended
			*h = accAt{}
			if !sep {
				head = head[len(" | "):]
			}
			b = append(b, head...)
			b = num.AppendInt(b, off)
			return appendAccessValues(b, acc)
		}
		*h = accAt{where: where, kind: acc.Kind, size: acc.Size, n: len(head)}
		copy(h.text[:], head)
	}
	b = room(b, accRoom)
	i := len(b)
	o := (*[accRoom]byte)(b[i : i+accRoom])
	s := 0
	if !sep {
		s = len(" | ")
	}
	le.PutUint64(o[0:], le.Uint64(h.text[s:]))
	le.PutUint64(o[8:], le.Uint64(h.text[s+8:]))
	le.PutUint64(o[16:], le.Uint64(h.text[s+16:]))
	le.PutUint64(o[24:], le.Uint64(h.text[s+24:]))
	k := h.n - s
	if off < 1000 {
		k += num.Put3(o[k:], uint64(off))
	} else {
		k = len(num.AppendInt(o[:k], off))
	}
	if acc.Kind == hooks.Load {
		o[k], o[k+1], o[k+2] = ' ', '=', ' '
		k = putValue(o[:], k+3, acc.Value)
	} else {
		o[k], o[k+1] = ':', ' '
		k = putValue(o[:], k+2, acc.Old)
		le.PutUint32(o[k:], ' '|'-'<<8|'>'<<16|' '<<24)
		k = putValue(o[:], k+4, acc.Value)
	}
	return b[:i+k]
}

// accRoom is how much room putAccess reserves: the words of its start,
// an offset, two values of at most 18 bytes and what lies between them.
const accRoom = 32 + 20 + 2 + 18 + 4 + 18 + 8

// putValue writes v at o[k:] as appendValue appends it and returns the
// index after it; o has room for 18 bytes from k.
func putValue(o []byte, k int, v uint64) int {
	if v < 1000 {
		return k + num.Put3(o[k:], v)
	}
	if !needsHex(v) {
		return len(num.AppendInt(o[:k], int64(v)))
	}
	o[k], o[k+1] = '0', 'x'
	return k + 2 + num.PutHex(o[k+2:k+18], v)
}

// appendAccessValues appends what an instruction's access to memory
// read (" = 14") or wrote (": 0 -> 1").
func appendAccessValues(b []byte, acc *hooks.Access) []byte {
	if acc.Kind == hooks.Load {
		return appendValue(append(b, " = "...), acc.Value)
	}
	b = appendValue(append(b, ": "...), acc.Old)
	return appendValue(append(b, " -> "...), acc.Value)
}

// accAt is the start of the note of an instruction's access to memory
// named by where and an offset, " | load u8 pkt+", as putAccess stores
// it a word at a time: n bytes of text.
type accAt struct {
	text  [40]byte
	n     int
	where string
	kind  hooks.AccessKind
	size  int
}

// appendWhereAt is AppendWhere of a where given as a hooks.Cursor's
// Where does: its text and the signed offset that follows ("pkt", 14).
func appendWhereAt(b []byte, where string, off int64, name string) []byte {
	if name != "" {
		switch { // as AppendWhere: the offset's sign ends the prefixes
		case strings.HasPrefix(where, "map ."):
			return append(b, name...)
		case strings.HasPrefix(where, "map "):
			b = append(b, "map "...)
			return append(b, name...)
		}
	}
	b = append(b, where...)
	if off >= 0 {
		b = append(b, '+')
	}
	b = num.AppendInt(b, off)
	if name == "" {
		return b
	}
	b = append(b, ' ')
	return append(b, name...)
}

// appendSource writes the source line an instruction starts.
func appendSource(b []byte, depth int, l *isa.Line) []byte {
	b = indent(b, depth)
	b = append(b, "; "...)
	b = append(b, filepath.Base(l.File)...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(l.Line), 10)
	b = append(b, ": "...)
	b = append(b, l.Text...)
	return append(b, '\n')
}

func (t *Writer) BeforeStep(ev *hooks.Step) hooks.Action {
	if t.pending {
		t.flushLine(nil)
	}
	t.notes = t.notes[:0]
	t.insp = ev.M
	t.program(ev.Prog)
	st := t.staticAt(ev.PC)
	if st == nil {
		st = t.static(ev, ev.M)
	}
	t.begin(ev.Depth, st)
	return hooks.Continue
}

// liner knows source lines: a batch or a machine.
type liner interface{ Line(pc int) *isa.Line }

// begin starts the line of an instruction: its source line first, when it
// is the first instruction compiled from it.
func (t *Writer) begin(depth int, st *staticText) {
	t.pending, t.pc, t.next, t.depth = true, st.pc, st.next, depth
	b := t.out
	if l := st.line; l != nil && !sameLine(l, t.src) {
		t.src = l
		b = appendSource(b, depth, l)
	}
	t.start = len(b)
	b = indent(b, depth)
	t.out = append(b, st.head...)
	t.head, t.headPad = st.head, st.headPad
}

func (t *Writer) AfterStep(ev *hooks.Step) hooks.Action {
	if !t.pending || ev.PC != t.pc {
		return hooks.Continue
	}
	t.flushLine(ev)
	return hooks.Continue
}

// flushLine writes the pending instruction: the registers After reports
// (none when the instruction failed) and the notes collected meanwhile.
func (t *Writer) flushLine(ev *hooks.Step) {
	if ev == nil {
		t.endLine(0, nil, nil)
	} else {
		t.endLine(ev.Changed, ev.Regs, nil)
	}
}

// endLine ends the pending line with the registers changed, from regs
// (nil when the instruction failed), the notes and the access acc, if
// any: what t.Access would have added to the notes.
func (t *Writer) endLine(changed uint16, regs *[11]uint64, acc *hooks.Access) {
	t.pending = false
	b := t.out
	if regs == nil {
		changed = 0
	}
	if changed == 0 && len(t.notes) == 0 && acc == nil { // nothing to say
		t.out = append(b, '\n')
		t.spill()
		return
	}
	if t.depth == 0 && len(b)-t.start == len(t.head) { // the head padded, made once
		b = append(b[:t.start], t.headPad...)
	} else {
		b = t.comment(b)
	}
	var said bool
	if regs != nil {
		for ch := changed & 0x7ff; ch != 0; ch &= ch - 1 {
			r := bits.TrailingZeros16(ch)
			if said {
				b = append(b, ' ')
			}
			said = true
			b = append(b, regEq[r]...)
			b = appendValue(b, regs[r])
			if t.cur != nil && r < 10 {
				b = t.appendRegName(b, r)
			}
		}
	}
	if len(t.notes) > 0 {
		if said {
			b = append(b, " | "...)
		}
		said = true
		b = append(b, t.notes...)
	}
	if acc != nil {
		if said {
			b = append(b, " | "...)
		}
		b = t.appendAccess(b, acc)
	}
	b = append(b, '\n')
	t.out = b
	t.spill()
}

const spaces = "                                        " // 40

// comment pads the line to column 40 and starts its comment.
func (t *Writer) comment(b []byte) []byte {
	if pad := 40 - (len(b) - t.start); pad > 0 {
		b = append(b, spaces[:pad]...)
	}
	return append(b, "; "...)
}

func (t *Writer) note() []byte {
	if len(t.notes) > 0 {
		t.notes = append(t.notes, " | "...)
	}
	return t.notes
}

var sizeName = [9]string{1: "u8", 2: "u16", 4: "u32", 8: "u64"}

func (t *Writer) Access(ev *hooks.Access) hooks.Action {
	t.notes = t.appendAccess(t.note(), ev)
	return hooks.Continue
}

// appendAccess appends the note of an access: "load u8 pkt+12 eth.type = 8".
func (t *Writer) appendAccess(b []byte, ev *hooks.Access) []byte {
	b = appendAccessHead(b, ev)
	b = t.appendWhere(b, ev)
	if t.cur != nil {
		b = t.appendSlotName(b, ev)
	}
	switch {
	case ev.Bytes != nil:
		b = append(b, " = "...)
		b = hex.AppendEncode(b, ev.Bytes)
	case ev.Kind == hooks.Load:
		b = append(b, " = "...)
		b = appendValue(b, ev.Value)
	default:
		b = append(b, ": "...)
		b = appendValue(b, ev.Old)
		b = append(b, " -> "...)
		b = appendValue(b, ev.Value)
	}
	return b
}

// appendAccessHead appends what an access did, before where: "load u8 ".
func appendAccessHead(b []byte, ev *hooks.Access) []byte {
	if ev.Helper != 0 { // the helper call's note comes first and names it
		b = append(b, "helper "...)
	}
	b = append(b, ev.Kind.String()...)
	b = append(b, ' ')
	if ev.Size < len(sizeName) && sizeName[ev.Size] != "" {
		b = append(b, sizeName[ev.Size]...)
	} else {
		b = strconv.AppendInt(b, int64(ev.Size), 10)
		b = append(b, 'B')
	}
	return append(b, ' ')
}

// Helper puts the call first among the notes of its instruction: the map
// operations and accesses the helper made were reported before it returned.
func (t *Writer) Helper(ev *hooks.HelperCall) hooks.Action {
	b := t.scratch[:0]
	b = append(b, ev.Name...)
	b = append(b, '(')
	// The arguments the helper takes, in one base with its result.
	args := ev.Arguments()
	inHex := needsHex(ev.Ret)
	for _, a := range args {
		inHex = inHex || needsHex(a)
	}
	for i, a := range args {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendBase(b, a, inHex)
	}
	b = append(b, ")"...)
	if ev.Err != nil {
		b = append(b, " failed: "...)
		b = append(b, ev.Err.Error()...)
	} else {
		b = append(b, " = "...)
		b = appendBase(b, ev.Ret, inHex)
	}
	if len(t.notes) > 0 {
		b = append(b, " | "...)
	}
	t.scratch = b
	t.notes = slices.Insert(t.notes, 0, b...)
	return hooks.Continue
}

func (t *Writer) Call(ev *hooks.CallEvent) hooks.Action {
	if ev.Kind == hooks.TailCall && !t.pending {
		// The call's line is out: the new program gets a line of its own.
		b := indent(t.line[:0], ev.Depth)
		b = append(b, "; tail call "...)
		b = append(b, ev.Prog...)
		b = append(b, '\n')
		t.line = b
		t.write(b)
		return hooks.Continue
	}
	b := t.note()
	switch ev.Kind {
	case hooks.Call:
		b = append(b, "call "...)
		b = append(b, ev.Func...)
	case hooks.Return:
		b = append(b, "return to "...)
		b = strconv.AppendInt(b, int64(ev.Target), 10)
		if ev.Func != "" {
			b = append(b, " in "...)
			b = append(b, ev.Func...)
		}
	case hooks.TailCall:
		b = append(b, "tail call "...)
		b = append(b, ev.Prog...)
	}
	t.notes = b
	return hooks.Continue
}

var mapOpResult = [...]string{hooks.MapLookup: "lookup", hooks.MapUpdate: "update", hooks.MapDelete: "delete",
	hooks.MapPush: "push", hooks.MapPop: "pop", hooks.MapPeek: "peek"}

// appendWhere names the memory an access touched: the region and offset,
// and what lies there when the Inspector knows (hooks.Namer). A global
// reads as its C name ("cfg.max_frame_len"), a map value's member as the
// element and member ("map flows[{saddr=10.0.0.2}].packets"), packet
// bytes as the offset and the header field ("pkt+26 ipv4.src").
func (t *Writer) appendWhere(b []byte, ev *hooks.Access) []byte {
	where := t.where(ev)
	if t.Raw {
		return append(b, where...)
	}
	var name string
	if ev.M == t.namerOf { // the batch's machine: its Namer is known
		if t.namer != nil {
			name = t.namer.Name(ev.Addr, ev.Size)
		}
	} else {
		name = Name(ev)
	}
	return AppendWhere(b, where, name)
}

// Name returns what lies in the memory an access touched, from its
// Inspector if that is a hooks.Namer, or "".
func Name(ev *hooks.Access) string {
	if n, ok := ev.M.(hooks.Namer); ok {
		return n.Name(ev.Addr, ev.Size)
	}
	return ""
}

// AppendWhere appends the text trace's name of accessed memory: where is
// the raw region and offset (Inspector.Describe), name what lies there
// (hooks.Namer.Name) or "".
func AppendWhere(b []byte, where, name string) []byte {
	switch {
	case name == "":
		return append(b, where...)
	case strings.HasPrefix(where, "map ."): // a global data section
		return append(b, name...)
	case strings.HasPrefix(where, "map "):
		b = append(b, "map "...)
		return append(b, name...)
	}
	b = append(b, where...)
	b = append(b, ' ')
	return append(b, name...)
}

// nameSpan is a hooks.SpanNamer's answer: the name of size bytes at
// any address in [lo, hi).
// where is ev.Where(), remembered for the batch being written (see
// whereCache).
func (t *Writer) where(ev *hooks.Access) string {
	if !t.wheres.on || ev.M != t.insp {
		return ev.Where()
	}
	return t.wheres.get(ev)
}

// whereCache remembers Describe's answers while a batch is written, when
// memory stands still and an address is described alike at every
// access: a loop's accesses to one stack slot, context field or map value
// are described (a string built) once per batch, not per access.
type whereCache struct {
	on   bool
	gen  uint32 // the batch's; entries of older batches do not count
	ents [64]whereEntry
}

type whereEntry struct {
	addr  uint64
	gen   uint32
	where string
}

func (c *whereCache) start() {
	if c.gen++; c.gen == 0 { // wrapped: entries could look current
		c.ents = [64]whereEntry{}
		c.gen = 1
	}
	c.on = true
}

func (c *whereCache) stop() { c.on = false }

func (c *whereCache) get(ev *hooks.Access) string {
	e := &c.ents[(ev.Addr^ev.Addr>>6)%uint64(len(c.ents))]
	if e.gen != c.gen || e.addr != ev.Addr {
		*e = whereEntry{ev.Addr, c.gen, ev.Where()}
	}
	return e.where
}

type nameSpan struct {
	lo, hi uint64
	size   int
	name   string
}

// mapTypes remembers the BTF of the map last named, so a run that works on
// one map asks the Namer once.
type mapTypes struct {
	m          hooks.Inspector // the last access's Inspector
	name       string
	known      bool
	key, value btf.Type
}

// use makes m the Inspector map types come from.
func (c *mapTypes) use(m hooks.Inspector) {
	if m != c.m {
		*c = mapTypes{m: m}
	}
}

func (c *mapTypes) of(name string, n hooks.Namer) (key, value btf.Type) {
	if n == nil {
		return nil, nil
	}
	if name != c.name || !c.known {
		c.name, c.known = name, true
		c.key, c.value = n.MapTypes(name)
	}
	return c.key, c.value
}

func namerOf(m hooks.Inspector) hooks.Namer {
	n, _ := m.(hooks.Namer)
	return n
}

func (t *Writer) MapOp(ev *hooks.MapOp) hooks.Action {
	b := t.note()
	b = append(b, "map "...)
	b = append(b, ev.Map...)
	b = append(b, ' ')
	if int(ev.Op) < len(mapOpResult) {
		b = append(b, mapOpResult[ev.Op]...)
	}
	var kt, vt btf.Type
	if !t.Raw {
		t.types.use(t.insp)
		kt, vt = t.types.of(ev.Map, namerOf(t.insp))
	}
	if ev.Key != nil {
		b = append(b, " key="...)
		b = btfvalue.AppendTextOrHex(b, kt, ev.Key)
	}
	if ev.Op == hooks.MapLookup {
		if ev.Hit {
			b = append(b, " hit"...)
		} else {
			b = append(b, " miss"...)
		}
	}
	if ev.Value != nil {
		b = append(b, " value="...)
		b = btfvalue.AppendTextOrHex(b, vt, ev.Value)
	}
	if ev.Flags != 0 {
		b = append(b, " flags="...)
		b = strconv.AppendUint(b, ev.Flags, 10)
	}
	if ev.Errno != 0 {
		b = append(b, " errno="...)
		b = strconv.AppendInt(b, int64(ev.Errno), 10)
	}
	t.notes = b
	return hooks.Continue
}

func (t *Writer) Output(ev *hooks.Output) {
	b := t.note()
	b = append(b, ev.Kind...)
	if ev.Map != "" {
		b = append(b, ' ')
		b = append(b, ev.Map...)
	}
	b = append(b, ' ')
	if ev.Kind == "trace_printk" {
		b = strconv.AppendQuote(b, string(ev.Data))
	} else {
		b = hex.AppendEncode(b, ev.Data)
	}
	t.notes = b
}

var regEq = [11]string{"r0=", "r1=", "r2=", "r3=", "r4=", "r5=", "r6=", "r7=", "r8=", "r9=", "r10="}

var regEqHex = [11]string{"r0=0x", "r1=0x", "r2=0x", "r3=0x", "r4=0x", "r5=0x", "r6=0x", "r7=0x", "r8=0x", "r9=0x", "r10=0x"}

// staticText is what an instruction's line holds whatever the run: its
// head ("12: (07) r0 += 3") and source line, built once per program and pc.
type staticText struct {
	head    string
	headNL  string // head and a newline: the line of an instruction with nothing to say
	headPad string // head padded to column 40, and "; "
	line    *isa.Line
	pc      int
	next    int // the pc after it
	done    bool

	// The start of the note of its memory access, " | load u8 ", made
	// the first time it accesses memory.
	acc     string
	accKind hooks.AccessKind
	accSize int
	accOK   bool
	accAt   accAt

	// headPad in little-endian words, when it fits (inPlace): PCs stores
	// the lines at call depth 0 a word at a time.
	words   [6]uint64
	inPlace bool
}

// lineRoom is how much room PCs reserves for a line it stores in place:
// the words of the head, "r10=0x" and 16 hex digits, and the newline.
const lineRoom = 6*8 + 8 + 16 + 8

func room(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = slices.Grow(b, n)
	}
	return b
}

var le = binary.LittleEndian

const hexDigits = "0123456789abcdef"

// regEqWord and regEqHexWord are regEq and regEqHex as little-endian
// words.
var regEqWord, regEqHexWord = func() (eq, eqHex [11]uint64) {
	for r := range eq {
		var b [2][8]byte
		copy(b[0][:], regEq[r])
		copy(b[1][:], regEqHex[r])
		eq[r], eqHex[r] = le.Uint64(b[0][:]), le.Uint64(b[1][:])
	}
	return eq, eqHex
}()

// staticAt returns the static text of the instruction at pc, or nil if
// it is not built yet.
func (t *Writer) staticAt(pc int) *staticText {
	if pc >= 0 && pc < len(t.texts) && t.texts[pc].done {
		return &t.texts[pc]
	}
	return nil
}

// program makes prog the program whose instructions are written.
func (t *Writer) program(prog string) {
	if prog != t.prog {
		t.prog = prog
		clear(t.texts)
		t.cur = t.locals[prog]
	}
}

// static returns the instruction's static text.
func (t *Writer) static(ev *hooks.Step, lines liner) *staticText {
	if ev.PC < len(t.texts) && t.texts[ev.PC].done {
		return &t.texts[ev.PC]
	}
	if ev.PC >= len(t.texts) {
		t.texts = append(t.texts, make([]staticText, ev.PC+1-len(t.texts))...)
	}
	b := strconv.AppendInt(nil, int64(ev.PC), 10)
	b = append(b, ": ("...)
	b = appendHex2(b, ev.Insn.Op)
	b = append(b, ") "...)
	b = append(b, Disasm(ev)...)
	st := &t.texts[ev.PC]
	*st = staticText{head: string(b), headNL: string(append(b, '\n')), pc: ev.PC, next: ev.PC + 1, done: true}
	for len(b) < 40 {
		b = append(b, ' ')
	}
	st.headPad = string(append(b, "; "...))
	if len(st.headPad) <= 8*len(st.words) {
		var w [8 * len(st.words)]byte
		copy(w[:], st.headPad)
		for i := range st.words {
			st.words[i] = le.Uint64(w[8*i:])
		}
		st.inPlace = true
	}
	if ev.Insn.IsLdImm64() {
		st.next++
	}
	if lines != nil {
		st.line = lines.Line(ev.PC)
	}
	return st
}

// Disasm formats the instruction of a step in kernel syntax. The second
// slot of an ld_imm64 is rebuilt from Step.Imm64.
func Disasm(ev *hooks.Step) string {
	slots := [2]isa.Insn{ev.Insn, {Imm: int32(ev.Imm64 >> 32)}}
	if ev.Insn.IsLdImm64() && ev.Insn.Src == 0 {
		slots[0].Imm = int32(uint32(ev.Imm64))
	}
	return isa.Format(slots[:], 0)
}

func sameLine(a, b *isa.Line) bool {
	return b != nil && a.Line == b.Line && a.File == b.File
}

func indent(b []byte, depth int) []byte {
	for range depth {
		b = append(b, "  "...)
	}
	return b
}

// appendValue prints a register or memory value: in decimal when it reads
// as a small signed or unsigned 32-bit number, in hex otherwise (pointers,
// wide constants).
func appendValue(b []byte, v uint64) []byte { return appendBase(b, v, needsHex(v)) }

// needsHex reports a value appendValue writes in hex: one that is not a
// small signed or unsigned 32-bit number, such as an address.
func needsHex(v uint64) bool {
	s := int64(v)
	return s < -1<<31 || s >= 1<<32
}

func appendBase(b []byte, v uint64, inHex bool) []byte {
	if !inHex {
		return num.AppendInt(b, int64(v))
	}
	return num.AppendHex(append(b, "0x"...), v)
}

func appendHex2(b []byte, v uint8) []byte {
	const digits = "0123456789abcdef"
	return append(b, digits[v>>4], digits[v&15])
}
