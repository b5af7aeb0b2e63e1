package tracefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// Writer is a hook that writes one run to a trace file as it happens.
// NewWriter writes the program, maps and input at once; events are
// buffered and written in checksummed chunks of about 64 KiB; the run's
// exit writes the environment log and the end section. A Writer records
// one run: events after the first run's exit are ignored.
type Writer struct {
	w    io.Writer
	err  error
	cap  *Capture
	prog string

	buf    enc // the events chunk being built
	sec    enc
	closed bool
	runs   int
	events uint64

	// what the reader will believe, to write deltas
	regs    [11]uint64
	pc      int // pc of the last Before
	count   uint64
	depth   int
	addr    uint64
	strings map[string]uint64
}

// NewWriter starts a trace file on w for a run of c. The maps' contents
// are taken now, so create the Writer just before the run.
func NewWriter(w io.Writer, c *Capture) (*Writer, error) {
	if c == nil || c.Prog == nil {
		return nil, errors.New("tracefile: capture without a program")
	}
	t := &Writer{w: w, cap: c, prog: c.Prog.Name, strings: map[string]uint64{}, pc: -1}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, Magic...)
	hdr = append(hdr, Version, 0, 0)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	t.section(secProgram, encodeProgram(nil, c))
	refs, err := collectRefs(c)
	if err != nil {
		return nil, err
	}
	pb := enc(nil).u(uint64(len(refs.progs) - 1))
	for _, p := range refs.progs[1:] {
		pb = encodeCode(pb.str(p.Name), p)
	}
	t.section(secPrograms, pb)
	ms, err := encodeMaps(nil, refs)
	if err != nil {
		return nil, err
	}
	t.section(secMaps, ms)
	t.section(secInput, enc(nil).bytes(c.Input.Data).bytes(c.Input.Ctx))
	if ts := encodeTypes(refs); ts != nil {
		t.section(secTypes, ts)
	}
	t.buf = make(enc, 0, eventChunkSize+4096)
	return t, t.err
}

// section writes kind, length, payload and the CRC-32C of kind and payload.
func (t *Writer) section(kind byte, payload []byte) {
	if t.err != nil {
		return
	}
	s := append(t.sec[:0], kind)
	s = binary.AppendUvarint(s, uint64(len(payload)))
	crc := crc32.Update(crc32.Checksum([]byte{kind}, castagnoli), castagnoli, payload)
	if _, t.err = t.w.Write(s); t.err != nil {
		return
	}
	if _, t.err = t.w.Write(payload); t.err != nil {
		return
	}
	s = binary.LittleEndian.AppendUint32(s[:0], crc)
	_, t.err = t.w.Write(s)
	t.sec = s
}

func encodeProgram(b enc, c *Capture) enc {
	b = b.str(c.Prog.Name).u(uint64(c.Type))
	return encodeCode(b, c.Prog).u(uint64(c.CPUs))
}

// encodeCode writes what the program and programs sections hold of each
// program: code, function names, map references and line info.
func encodeCode(b enc, p *vm.Program) enc {
	b = b.u(uint64(len(p.Insns))).bytes(isa.Encode(p.Insns))
	b = b.u(uint64(len(p.Funcs)))
	for _, f := range p.Funcs {
		b = b.u(uint64(f.Start)).str(f.Name)
	}
	b = b.u(uint64(len(p.Maps)))
	for _, m := range p.Maps {
		b = b.str(m)
	}
	// Line info as runs of pcs sharing one position.
	type run struct {
		pc, n int
		l     *isa.Line
	}
	var runs []run
	for pc, l := range p.Lines {
		if l == nil {
			continue
		}
		if k := len(runs) - 1; k >= 0 && runs[k].pc+runs[k].n == pc && *runs[k].l == *l {
			runs[k].n++
			continue
		}
		runs = append(runs, run{pc, 1, l})
	}
	b = b.u(uint64(len(runs)))
	for _, r := range runs {
		b = b.u(uint64(r.pc)).u(uint64(r.n)).str(r.l.Func).str(r.l.File).u(uint64(r.l.Line)).u(uint64(r.l.Col)).str(r.l.Text)
	}
	return b
}

// refs numbers what program arrays and maps of maps refer to: programs
// (0 is the traced one) and maps (the capture's, then inner maps the
// capture does not list).
type refs struct {
	progs  []*vm.Program
	maps   []maps.Map
	progIx map[*vm.Program]int
	mapIx  map[maps.Map]int
}

func collectRefs(c *Capture) (*refs, error) {
	r := &refs{progs: []*vm.Program{c.Prog}, progIx: map[*vm.Program]int{c.Prog: 0}, mapIx: map[maps.Map]int{}}
	for _, m := range c.Maps { // all of them: the program's map indices
		if _, seen := r.mapIx[m]; !seen {
			r.mapIx[m] = len(r.maps)
		}
		r.maps = append(r.maps, m)
	}
	for i := 0; i < len(r.maps); i++ { // grows with inner maps
		switch m := r.maps[i].(type) {
		case *maps.ProgramArrayMap:
			for key := range m.Keys() {
				ref, ok := m.Program(binary.NativeEndian.Uint32(key))
				if !ok {
					continue
				}
				p, ok := ref.(*vm.Program)
				if !ok {
					return nil, fmt.Errorf("tracefile: program array %s holds a %T, not a *vm.Program", m.Name(), ref)
				}
				if _, seen := r.progIx[p]; !seen {
					r.progIx[p] = len(r.progs)
					r.progs = append(r.progs, p)
				}
			}
		case innerMaps:
			for key := range r.maps[i].Keys() {
				inner, ok := m.LookupMap(key)
				if _, seen := r.mapIx[inner]; ok && !seen {
					r.mapIx[inner] = len(r.maps)
					r.maps = append(r.maps, inner)
				}
			}
		}
	}
	return r, nil
}

// innerMaps is what maps of maps have in common.
type innerMaps interface {
	LookupMap(key []byte) (maps.Map, bool)
}

func encodeSpec(b enc, s *maps.Spec) enc {
	return b.str(s.Name).u(uint64(s.Type)).u(uint64(s.KeySize)).u(uint64(s.ValueSize)).u(uint64(s.MaxEntries)).u(uint64(s.Flags))
}

// hasContents reports whether a map type's entries are plain bytes that
// the syscall interface reads and writes: not references to programs or
// maps (stored as numbers, see refs), nor output channels.
func hasContents(t maps.Type) bool {
	switch t {
	case maps.ProgramArray, maps.ArrayOfMaps, maps.HashOfMaps, maps.PerfEventArray, maps.RingBuf:
		return false
	}
	return true
}

func encodeMaps(b enc, r *refs) (enc, error) {
	b = b.u(uint64(len(r.maps)))
	for _, m := range r.maps {
		spec := m.Spec()
		b = encodeSpec(b, spec)
		if spec.InnerMap != nil {
			b = encodeSpec(b.byte1(1), spec.InnerMap)
		} else {
			b = b.byte1(0)
		}
		var entries []byte
		n, vsize := 0, 4
		switch mm := m.(type) {
		case *maps.ProgramArrayMap:
			for key := range m.Keys() {
				if ref, ok := mm.Program(binary.NativeEndian.Uint32(key)); ok {
					entries = binary.LittleEndian.AppendUint32(append(entries, key...), uint32(r.progIx[ref.(*vm.Program)]))
					n++
				}
			}
		case innerMaps:
			for key := range m.Keys() {
				if inner, ok := mm.LookupMap(key); ok {
					entries = binary.LittleEndian.AppendUint32(append(entries, key...), uint32(r.mapIx[inner]))
					n++
				}
			}
		case *maps.RingBufMap: // one entry: positions and unconsumed bytes
			st := mm.State()
			v := binary.LittleEndian.AppendUint64(nil, st.Cons)
			v = binary.LittleEndian.AppendUint64(v, st.Prod)
			v = binary.LittleEndian.AppendUint64(v, st.Pending)
			entries, n, vsize = append(v, st.Live...), 1, 24+len(st.Live)
		case *maps.QueueMap: // no keys: the values, oldest first
			vsize = int(spec.ValueSize)
			for v := range mm.Values() {
				entries = append(entries, v...)
				n++
			}
		default:
			if !hasContents(spec.Type) {
				break
			}
			vsize = m.UserValueSize()
			val := make([]byte, vsize)
			for key := range m.Keys() {
				if err := m.Get(key, val); errors.Is(err, maps.ENOENT) {
					continue // an empty slot of a device or CPU map
				} else if err != nil {
					return nil, fmt.Errorf("tracefile: reading map %s: %w", spec.Name, err)
				}
				entries = append(entries, key...)
				entries = append(entries, val...)
				n++
			}
		}
		b = b.u(uint64(n))
		if n > 0 {
			b = append(b.u(uint64(vsize)), entries...)
		}
	}
	return b, nil
}

// str writes s through the string table: its index, followed by the
// string itself the first time.
func (t *Writer) str(b enc, s string) enc {
	if i, ok := t.strings[s]; ok {
		return b.u(i)
	}
	i := uint64(len(t.strings))
	t.strings[s] = i
	return b.u(i).str(s)
}

func (t *Writer) live() bool { return !t.closed && t.runs == 1 && t.err == nil }

// flush writes the events buffered so far as one section.
func (t *Writer) flush() {
	if len(t.buf) > 0 {
		t.section(secEvents, t.buf)
		t.buf = t.buf[:0]
	}
}

func (t *Writer) record() {
	t.events++
	if len(t.buf) >= eventChunkSize {
		t.flush()
	}
}

// regDiff writes the mask of registers that differ from what the reader
// believes, and their values.
func (t *Writer) regDiff(b enc, regs *[11]uint64, mask uint16) enc {
	if mask == 0xffff {
		mask = 0
		for r := range regs {
			if regs[r] != t.regs[r] {
				mask |= 1 << r
			}
		}
	}
	b = b.u(uint64(mask))
	for r := range regs {
		if mask&(1<<r) != 0 {
			b = b.u(regs[r])
			t.regs[r] = regs[r]
		}
	}
	return b
}

func (t *Writer) BeforeStep(ev *hooks.Step) hooks.Action {
	if !t.live() {
		return hooks.Continue
	}
	b := t.buf
	if ev.Prog == t.prog {
		b = b.byte1(tagBefore)
	} else {
		b = b.byte1(tagBeforeInsn)
		b = append(b, isa.Encode([]isa.Insn{ev.Insn})...)
		b = b.u(ev.Imm64)
		b = t.str(b, ev.Prog)
	}
	b = b.i(int64(ev.PC - (t.pc + 1))).u(uint64(ev.Depth)).i(int64(ev.Count - (t.count + 1)))
	b = t.regDiff(b, ev.Regs, 0xffff)
	t.pc, t.count, t.depth = ev.PC, ev.Count, ev.Depth
	t.buf = b
	t.record()
	return hooks.Continue
}

func (t *Writer) AfterStep(ev *hooks.Step) hooks.Action {
	if !t.live() {
		return hooks.Continue
	}
	b := t.buf.byte1(tagAfter)
	b = b.i(int64(ev.PC - t.pc)).i(int64(ev.Depth - t.depth)).i(int64(ev.Count - t.count))
	b = t.regDiff(b, ev.Regs, ev.Changed)
	t.buf = b
	t.record()
	return hooks.Continue
}

const (
	accessBytes  = 1 << 2
	accessHelper = 1 << 3
	accessName   = 1 << 4 // the name of what lies there follows (hooks.Namer)
)

func (t *Writer) Access(ev *hooks.Access) hooks.Action {
	if !t.live() {
		return hooks.Continue
	}
	flags := byte(ev.Kind)
	if ev.Bytes != nil {
		flags |= accessBytes
	}
	if ev.Helper != 0 {
		flags |= accessHelper
	}
	name := ""
	if n, ok := ev.M.(hooks.Namer); ok {
		if name = n.Name(ev.Addr, ev.Size); name != "" {
			flags |= accessName
		}
	}
	b := t.buf.byte1(tagAccess).byte1(flags).i(int64(ev.PC - t.pc))
	b = b.i(int64(ev.Addr - t.addr)).u(uint64(ev.Size))
	t.addr = ev.Addr
	if ev.Bytes != nil {
		b = b.bytes(ev.Bytes)
	} else {
		b = b.u(ev.Value)
	}
	if ev.Kind != hooks.Load {
		b = b.u(ev.Old)
	}
	if ev.Helper != 0 {
		b = b.i(int64(ev.Helper))
	}
	where := ""
	if ev.M != nil {
		where = ev.Where()
	}
	b = t.str(b, where)
	if name != "" {
		b = t.str(b, name)
	}
	t.buf = b
	t.record()
	return hooks.Continue
}

func (t *Writer) Helper(ev *hooks.HelperCall) hooks.Action {
	if !t.live() {
		return hooks.Continue
	}
	b := t.buf.byte1(tagHelper).i(int64(ev.PC - t.pc)).i(int64(ev.ID))
	b = t.str(b, ev.Name)
	for _, a := range ev.Args {
		b = b.u(a)
	}
	b = b.u(ev.Ret).u(uint64(ev.Depth))
	b = t.errStr(b, ev.Err)
	t.buf = b
	t.record()
	return hooks.Continue
}

func (t *Writer) errStr(b enc, err error) enc {
	if err == nil {
		return b.byte1(0)
	}
	return t.str(b.byte1(1), err.Error())
}

func (t *Writer) Call(ev *hooks.CallEvent) hooks.Action {
	if !t.live() {
		return hooks.Continue
	}
	b := t.buf.byte1(tagCall).byte1(byte(ev.Kind)).i(int64(ev.PC - t.pc)).i(int64(ev.Target)) // -1: a callback returns to its helper
	b = t.str(b, ev.Func)
	b = b.u(uint64(ev.Depth)).u(ev.R0)
	t.buf = t.str(b, ev.Prog)
	t.record()
	return hooks.Continue
}

const (
	mapHit   = 1
	mapKey   = 2
	mapValue = 4
)

func (t *Writer) MapOp(ev *hooks.MapOp) hooks.Action {
	if !t.live() {
		return hooks.Continue
	}
	var flags byte
	if ev.Hit {
		flags |= mapHit
	}
	if ev.Key != nil {
		flags |= mapKey
	}
	if ev.Value != nil {
		flags |= mapValue
	}
	b := t.buf.byte1(tagMapOp).i(int64(ev.PC - t.pc))
	b = t.str(b, ev.Map)
	b = b.byte1(byte(ev.Op)).byte1(flags)
	if ev.Key != nil {
		b = b.bytes(ev.Key)
	}
	if ev.Value != nil {
		b = b.bytes(ev.Value)
	}
	t.buf = b.u(ev.Flags).i(int64(ev.Errno))
	t.record()
	return hooks.Continue
}

func (t *Writer) Output(ev *hooks.Output) {
	if !t.live() {
		return
	}
	b := t.buf.byte1(tagOutput).i(int64(ev.PC - t.pc))
	b = t.str(b, ev.Kind)
	b = t.str(b, ev.Map)
	t.buf = b.bytes(ev.Data)
	t.record()
}

func (t *Writer) Enter(ev *hooks.Run) {
	t.runs++
	if !t.live() {
		return
	}
	b := t.str(t.buf.byte1(tagEnter), ev.Prog)
	for _, a := range ev.Args {
		b = b.u(a)
	}
	t.buf = b
	t.record()
}

func (t *Writer) Exit(ev *hooks.Run) {
	if !t.live() {
		return
	}
	b := t.buf.byte1(tagExit).u(ev.R0).u(ev.Insns)
	b = t.errStr(b, ev.Err)
	t.buf = t.str(b, ev.Prog)
	t.record()
	t.finish()
}

// finish writes the remaining events, the environment and the end.
func (t *Writer) finish() {
	if t.closed {
		return
	}
	t.closed = true
	t.flush()
	if t.cap.Env != nil {
		log := t.cap.Env.Log()
		b := enc(nil).u(uint64(len(log)))
		for _, v := range log {
			b = b.byte1(byte(v.Kind)).u(v.Value).bytes(v.Data)
		}
		t.section(secEnv, b)
	}
	t.section(secEnd, enc(nil).u(t.events))
}

// Close completes the file if the run did not (it was paused or never
// exited) and returns the first write error.
func (t *Writer) Close() error {
	t.finish()
	return t.err
}

// Started reports whether the run began (its Enter event came): a run
// test_run refuses (bad input) leaves a file with nothing to replay.
func (t *Writer) Started() bool { return t.runs > 0 }

// Err returns the first write error.
func (t *Writer) Err() error { return t.err }
