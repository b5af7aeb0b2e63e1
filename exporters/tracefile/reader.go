package tracefile

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"unsafe"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// MapImage is a map as the file stores it: its spec and initial entries.
type MapImage struct {
	Spec          *maps.Spec
	UserValueSize int
	Keys, Values  [][]byte
}

// Reader reads a trace file: NewReader reads the program and the maps;
// NextRun yields the runs (version 3) and Next their events, derived by
// running the program again (version 3) or read from the file (versions 1
// and 2; once Next has returned io.EOF, Env holds their environment log).
type Reader struct {
	r   *bufio.Reader
	off int64 // file offset of the next section

	version byte
	prog    *vm.Program
	progs   []*vm.Program // program arrays' programs (version 2)
	typ     ebpf.ProgramType
	cpus    int
	maps    []MapImage
	input   ctx.Input
	env     []helpers.EnvValue
	ended   bool

	// the current events section
	d      dec
	secOff int64

	// decoding state, mirroring the Writer's
	rec     hooks.Record
	regs    [11]uint64
	pc      int
	count   uint64
	depth   int
	addr    uint64
	curProg string
	strings []string
	where   string // Where of the latest access
	name    string // and its name (hooks.Namer), if recorded
	args    [5]uint64
	names   map[int32]string
	index   int

	// version 3: the runs section being read, and the re-execution
	rd         dec
	rdOff      int64
	runN       int
	prevCtx    []byte
	mapsSum    uint32
	producer   string // version 3: the bpfscope that wrote the file
	derive     *deriver
	opts       *Options // for re-executing version 3 runs
	keepRuns   bool     // ReadAll: keep the runs read
	eventLimit int64    // what the events of one version 3 run may hold
	kept       []*Run
}

// NewReader checks the header and reads the sections that precede the
// events.
func NewReader(r io.Reader) (*Reader, error) {
	t := &Reader{r: bufio.NewReaderSize(r, 64<<10), pc: -1, names: map[int32]string{}}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(t.r, hdr[:]); err != nil {
		return nil, &FormatError{Section: "header", At: -1, Msg: "file too short: " + err.Error()}
	}
	if string(hdr[:len(Magic)]) != Magic {
		return nil, &FormatError{Section: "header", At: -1, Msg: "not a trace file (bad magic)"}
	}
	t.version = hdr[len(Magic)]
	if t.version < 1 || t.version > Version {
		return nil, &FormatError{Section: "header", At: -1, Msg: fmt.Sprintf("version %d, this reader knows 1 to %d", t.version, Version)}
	}
	t.off = int64(headerSize)
	order := []byte{secProgram, secPrograms, secMaps, secInput}
	switch t.version {
	case 1:
		order = []byte{secProgram, secMaps, secInput}
	case 3: // inputs come with each run
		order = []byte{secProgram, secPrograms, secMaps}
	}
	for _, want := range order {
		kind, payload, off, err := t.section()
		if err != nil {
			return nil, err
		}
		if kind != want {
			return nil, &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: fmt.Sprintf("found where the %s section belongs", sectionName(want))}
		}
		d := dec{b: payload}
		switch kind {
		case secProgram:
			t.decodeProgram(&d)
		case secPrograms:
			for range d.n(len(d.b)) {
				p := decodeCode(&d, d.str())
				if d.err != nil {
					break
				}
				t.progs = append(t.progs, p)
			}
		case secMaps:
			t.decodeMaps(&d)
		case secInput:
			// Empty means absent, as a size of 0 does for test_run.
			if t.input.Data = d.bytes(); len(t.input.Data) == 0 {
				t.input.Data = nil
			}
			if t.input.Ctx = d.bytes(); len(t.input.Ctx) == 0 {
				t.input.Ctx = nil
			}
		}
		if d.err == nil && !d.done() {
			d.fail("%d bytes of trailing data", len(d.b)-d.off)
		}
		if err := sectionErr(kind, off, &d); err != nil {
			return nil, err
		}
	}
	// The optional types section.
	if b, err := t.r.Peek(1); err == nil && b[0] == secTypes {
		kind, payload, off, err := t.section()
		if err != nil {
			return nil, err
		}
		d := dec{b: payload}
		t.decodeTypes(&d)
		if d.err == nil && !d.done() {
			d.fail("%d bytes of trailing data", len(d.b)-d.off)
		}
		if err := sectionErr(kind, off, &d); err != nil {
			return nil, err
		}
	}
	t.curProg = t.prog.Name
	return t, nil
}

func sectionErr(kind byte, off int64, d *dec) error {
	if d.err == nil {
		return nil
	}
	var de *decodeError
	if errors.As(d.err, &de) {
		return &FormatError{Section: sectionName(kind), Offset: off, At: de.at, Msg: de.msg}
	}
	return &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: d.err.Error()}
}

// section reads the next section and checks its checksum.
func (t *Reader) section() (kind byte, payload []byte, off int64, err error) {
	off = t.off
	kind, err = t.r.ReadByte()
	if err != nil {
		return 0, nil, off, &FormatError{Section: "file", Offset: off, At: -1, Msg: "truncated: no end section"}
	}
	size, err := binary.ReadUvarint(t.r)
	if err != nil || size > maxSection {
		return 0, nil, off, &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: "bad or truncated section length"}
	}
	n := int64(1 + uvarintLen(size))
	// Read in steps so a corrupt length cannot make us allocate a lot.
	payload, err = readN(t.r, int(size))
	if err != nil {
		return 0, nil, off, &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: fmt.Sprintf("truncated: %d payload bytes announced", size)}
	}
	var sum [4]byte
	if _, err := io.ReadFull(t.r, sum[:]); err != nil {
		return 0, nil, off, &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: "truncated checksum"}
	}
	want := binary.LittleEndian.Uint32(sum[:])
	if got := crc32.Update(crc32.Checksum([]byte{kind}, castagnoli), castagnoli, payload); got != want {
		return 0, nil, off, &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", want, got)}
	}
	t.off += n + int64(size) + 4
	return kind, payload, off, nil
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

func readN(r io.Reader, n int) ([]byte, error) {
	const step = 1 << 20
	var b []byte
	for len(b) < n {
		k := min(n-len(b), step)
		start := len(b)
		b = append(b, make([]byte, k)...)
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (t *Reader) decodeProgram(d *dec) {
	name := d.str()
	t.typ = ebpf.ProgramType(d.u())
	p := decodeCode(d, name)
	if t.cpus = d.small(); t.cpus > maxCPUs {
		d.fail("%d possible CPUs, more than Linux's %d", t.cpus, maxCPUs)
	}
	if t.version >= 3 {
		t.producer = d.str()
	}
	t.prog = p
}

// decodeCode reads what encodeCode wrote, or returns nil with d failed.
func decodeCode(d *dec, name string) *vm.Program {
	n := d.n(len(d.b) / isa.SlotSize)
	code := d.bytes()
	if d.err != nil {
		return nil
	}
	if len(code) != n*isa.SlotSize {
		d.fail("%d bytes of code for %d instructions", len(code), n)
		return nil
	}
	insns, err := isa.Decode(code)
	if err != nil {
		d.fail("code: %v", err)
		return nil
	}
	p, err := vm.NewProgram(name, insns)
	if err != nil {
		d.fail("program %s does not load: %v", name, err)
		return nil
	}
	// Names come sorted by start, as the writer keeps p.Funcs: one pass
	// names them, so a file cannot make naming quadratic.
	byStart := make(map[int]int, len(p.Funcs))
	for i, f := range p.Funcs {
		byStart[f.Start] = i
	}
	var added []vm.Func
	last := -1
	for range d.n(min(len(d.b)/2, len(insns))) { // a start and a length at least
		start, fn := d.small(), d.str()
		if d.err != nil {
			return nil
		}
		if start <= last || start >= len(insns) {
			d.fail("function %q starts at pc %d (after %d, program of %d)", fn, start, last, len(insns))
			return nil
		}
		last = start
		if i, ok := byStart[start]; ok {
			p.Funcs[i].Name = fn
		} else {
			added = append(added, vm.Func{Name: fn, Start: start})
		}
	}
	if len(added) > 0 {
		p.Funcs = append(p.Funcs, added...)
		slices.SortFunc(p.Funcs, func(a, b vm.Func) int { return cmp.Compare(a.Start, b.Start) })
	}
	for range d.n(len(d.b)) { // each name has its length byte
		p.Maps = append(p.Maps, d.str())
	}
	// Runs come in pc order and do not overlap, so filling them is linear.
	runs := d.n(min(len(d.b)/7, len(insns))) // seven fields of a byte at least
	if runs > 0 && d.err == nil {
		p.Lines = make([]*isa.Line, len(insns))
	}
	end := 0
	for range runs {
		pc, cnt := d.small(), d.small()
		l := &isa.Line{Func: d.str(), File: d.str(), Line: d.small(), Col: d.small(), Text: d.str()}
		if d.err != nil {
			return nil
		}
		if pc < end || pc+cnt > len(insns) || pc+cnt < pc {
			d.fail("line info for pcs %d..%d overlaps an earlier run or lies beyond the program of %d", pc, pc+cnt, len(insns))
			return nil
		}
		for i := pc; i < pc+cnt; i++ {
			p.Lines[i] = l
		}
		end = pc + cnt
	}
	return p
}

func decodeSpec(d *dec) *maps.Spec {
	return &maps.Spec{Name: d.str(), Type: maps.Type(d.u()), KeySize: uint32(d.n(1<<32 - 1)),
		ValueSize: uint32(d.n(1<<32 - 1)), MaxEntries: uint32(d.n(1<<32 - 1)), Flags: uint32(d.n(1<<32 - 1))}
}

func (t *Reader) decodeMaps(d *dec) {
	for range d.n(len(d.b)) {
		img := MapImage{Spec: decodeSpec(d)}
		if d.byte1() == 1 {
			img.Spec.InnerMap = decodeSpec(d)
		}
		n := d.n(len(d.b))
		if n > 0 {
			img.UserValueSize = d.n(len(d.b))
			// Every entry holds its key and value: a count the rest of the
			// section cannot hold is refused before anything is allocated.
			if per := uint64(img.Spec.KeySize) + uint64(img.UserValueSize); per == 0 || uint64(n) > uint64(len(d.b)-d.off)/per {
				d.fail("%d entries of %d-byte keys and %d-byte values in %d bytes", n, img.Spec.KeySize, img.UserValueSize, len(d.b)-d.off)
				return
			}
			img.Keys, img.Values = make([][]byte, 0, n), make([][]byte, 0, n)
		}
		for range n {
			k := d.raw(int(img.Spec.KeySize))
			v := d.raw(img.UserValueSize)
			if d.err != nil {
				return
			}
			img.Keys, img.Values = append(img.Keys, k), append(img.Values, v)
		}
		if d.err != nil {
			return
		}
		t.maps = append(t.maps, img)
	}
}

// Program returns the recorded program.
func (t *Reader) Program() *vm.Program { return t.prog }

// Programs returns the programs the recorded program arrays hold, besides
// the traced program itself.
func (t *Reader) Programs() []*vm.Program { return t.progs }

// Type returns the recorded program type.
func (t *Reader) Type() ebpf.ProgramType { return t.typ }

// Input returns the recorded test-run input (version 3: the first run's,
// once read).
func (t *Reader) Input() ctx.Input { return t.input }

// Maps returns the recorded maps.
func (t *Reader) Maps() []MapImage { return t.maps }

// Env returns the recorded environment log, complete once Next has
// returned io.EOF.
func (t *Reader) Env() []helpers.EnvValue { return t.env }

// Capture rebuilds the run's capture with fresh maps holding the recorded
// contents (Env is nil: use helpers.Replay(r.Env())). In a version 3 file
// the maps are those before the first run, and Input is the first run's
// once NextRun or Next has read it (Runner runs every run with its own). The maps share a
// budget of maps.DefaultMemoryLimit; a file whose maps need more fails
// with a *maps.MemoryLimitError.
func (t *Reader) Capture() (*Capture, error) { return t.CaptureLimit(0) }

// CaptureLimit is Capture with the maps' memory budget in bytes (0 means
// maps.DefaultMemoryLimit).
func (t *Reader) CaptureLimit(maxMapMemory uint64) (*Capture, error) {
	c := &Capture{Prog: t.prog, Type: t.typ, Input: t.input, CPUs: t.cpus}
	budget := maps.NewBudget(maxMapMemory)
	budget.Hint = "raise it with tracefile.Reader.CaptureLimit"
	opts := []maps.Option{maps.WithBudget(budget)}
	if t.cpus > 1 {
		opts = append(opts, maps.WithPossibleCPUs(t.cpus))
	}
	for _, img := range t.maps {
		spec := img.Spec.Copy()
		if spec.Type == maps.DevMap || spec.Type == maps.DevMapHash {
			// The map added this flag itself, as the kernel does; creating
			// a device map with it is refused.
			spec.Flags &^= maps.FlagRdOnlyProg
		}
		m, err := maps.New(spec, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracefile: map %s: %w", img.Spec.Name, err)
		}
		c.Maps = append(c.Maps, m)
	}
	// Contents, once every map exists: maps of maps refer to later ones.
	for i, img := range t.maps {
		m := c.Maps[i]
		for k := range img.Keys {
			if err := t.restore(c, m, img.Keys[k], img.Values[k]); err != nil {
				return nil, fmt.Errorf("tracefile: map %s: restoring entry %d: %w", img.Spec.Name, k, err)
			}
		}
	}
	return c, nil
}

// maxCPUs is Linux's largest NR_CPUS.
const maxCPUs = 8192

// MapMemory estimates the bytes the recorded maps take once full: keys
// and values of every entry they can hold, per CPU for per-CPU maps.
// Capture charges less: hash maps cost what their entries use.
func (t *Reader) MapMemory() uint64 {
	var total uint64
	for _, img := range t.maps {
		s := img.Spec
		n := uint64(s.MaxEntries) * (uint64(s.KeySize) + uint64(s.ValueSize))
		switch s.Type {
		case maps.PerCPUArray, maps.PerCPUHash, maps.LRUCPUHash:
			n *= uint64(max(t.cpus, 1))
		case maps.RingBuf: // max_entries is the size in bytes, mapped twice
			n = 2 * uint64(s.MaxEntries)
		}
		total += n
	}
	return total
}

// restore puts one recorded entry back: bytes, or for program arrays and
// maps of maps the number of a program or map.
func (t *Reader) restore(c *Capture, m maps.Map, key, val []byte) error {
	if rb, ok := m.(*maps.RingBufMap); ok {
		if len(val) < 24 {
			return fmt.Errorf("ring buffer state of %d bytes", len(val))
		}
		le := binary.LittleEndian
		return rb.SetState(maps.RingBufState{Cons: le.Uint64(val), Prod: le.Uint64(val[8:]), Pending: le.Uint64(val[16:]), Live: val[24:]})
	}
	pa, isProgs := m.(*maps.ProgramArrayMap)
	mm, isMaps := m.(interface {
		SetMap([]byte, maps.Map, uint64) error
	})
	if !isProgs && !isMaps {
		return m.Put(key, val, 0)
	}
	if len(val) != 4 {
		return fmt.Errorf("a reference of %d bytes", len(val))
	}
	ix := int(binary.LittleEndian.Uint32(val))
	switch {
	case isProgs && len(key) == 4 && ix <= len(t.progs):
		p := t.prog
		if ix > 0 {
			p = t.progs[ix-1]
		}
		return pa.SetProgram(binary.NativeEndian.Uint32(key), p)
	case isProgs:
		return fmt.Errorf("program %d of %d", ix, len(t.progs)+1)
	case ix < len(c.Maps) && c.Maps[ix] != m:
		return mm.SetMap(key, c.Maps[ix], maps.UpdateAny)
	}
	return fmt.Errorf("inner map %d of %d", ix, len(c.Maps))
}

// Producer names the bpfscope that wrote a version 3 file (see the
// variable Producer); "" for versions 1 and 2.
func (t *Reader) Producer() string { return t.producer }

// Version returns the file's format version.
func (t *Reader) Version() int { return int(t.version) }

// Next returns the next event. The Record is reused by the following call;
// Clone it to keep it. At the end of the events Next returns io.EOF; a
// damaged file gives a *FormatError. In a version 3 file the events come
// from running each run again (with the default helpers); a run that does
// not end as recorded gives a *Divergence.
func (t *Reader) Next() (*hooks.Record, error) {
	if t.version >= 3 {
		return t.nextDerived()
	}
	for t.d.done() || t.d.b == nil {
		if t.ended {
			return nil, io.EOF
		}
		kind, payload, off, err := t.section()
		if err != nil {
			return nil, err
		}
		d := dec{b: payload}
		switch kind {
		case secEvents:
			t.d, t.secOff = d, off
			continue
		case secEnv:
			for range d.n(len(d.b)) {
				v := helpers.EnvValue{Kind: helpers.EnvKind(d.byte1()), Value: d.u(), Data: d.bytes()}
				if len(v.Data) == 0 {
					v.Data = nil
				}
				t.env = append(t.env, v)
			}
		case secEnd:
			if n := d.u(); d.err == nil && n != uint64(t.index) {
				d.fail("%d events announced, %d read", n, t.index)
			}
			t.ended = true
		default:
			return nil, &FormatError{Section: sectionName(kind), Offset: off, At: -1, Msg: "unexpected section after the events began"}
		}
		if d.err == nil && !d.done() {
			d.fail("%d bytes of trailing data", len(d.b)-d.off)
		}
		if err := sectionErr(kind, off, &d); err != nil {
			return nil, err
		}
		t.d = dec{}
	}
	d := &t.d
	start := d.off
	t.decodeEvent(d)
	if d.err != nil {
		err := sectionErr(secEvents, t.secOff, d).(*FormatError)
		err.Msg = fmt.Sprintf("event %d (at byte %d): %s", t.index, start, err.Msg)
		return nil, err
	}
	t.index++
	return &t.rec, nil
}

func (t *Reader) string(d *dec) string {
	i := d.u()
	switch {
	case d.err != nil:
		return ""
	case i < uint64(len(t.strings)):
		return t.strings[i]
	case i == uint64(len(t.strings)):
		s := d.str()
		if d.err == nil {
			t.strings = append(t.strings, s)
		}
		return s
	}
	d.fail("string %d is not defined (%d known)", i, len(t.strings))
	return ""
}

func (t *Reader) regDiff(d *dec) uint16 {
	mask := d.u()
	if mask >= 1<<11 {
		d.fail("register mask %#x", mask)
		return 0
	}
	for r := range t.regs {
		if mask&(1<<r) != 0 {
			t.regs[r] = d.u()
		}
	}
	return uint16(mask)
}

func (t *Reader) relPC(d *dec) int {
	v := d.i()
	pc := int64(t.pc) + v
	if pc < -1 || pc > 1<<31 {
		d.fail("pc %d out of range", pc)
		return 0
	}
	return int(pc)
}

func (t *Reader) decodeEvent(d *dec) {
	r := &t.rec
	tag := d.byte1()
	switch tag {
	case tagBefore, tagBeforeInsn:
		var insn isa.Insn
		var imm64 uint64
		prog := t.prog.Name
		if tag == tagBeforeInsn {
			raw := d.raw(isa.SlotSize)
			if raw != nil {
				insn = isa.DecodeSlot(raw)
			}
			imm64 = d.u()
			prog = t.string(d)
		}
		pc := int64(t.pc+1) + d.i()
		depth := d.small()
		count := t.count + 1 + uint64(d.i())
		t.regDiff(d)
		if d.err != nil {
			return
		}
		if pc < 0 || tag == tagBefore && pc >= int64(len(t.prog.Insns)) {
			d.fail("pc %d outside the program", pc)
			return
		}
		if tag == tagBefore {
			insn = t.prog.Insns[pc]
			if insn.IsLdImm64() && pc+1 < int64(len(t.prog.Insns)) {
				imm64 = isa.Imm64(t.prog.Insns, int(pc))
				if insn.Src == isa.PseudoMapFD || insn.Src == isa.PseudoMapIdx {
					imm64 = uint64(uint32(insn.Imm))
				}
			}
		}
		t.pc, t.depth, t.count, t.curProg = int(pc), depth, count, prog
		r.Kind = hooks.KindBefore
		r.Regs = t.regs
		r.Step = hooks.Step{PC: int(pc), Insn: insn, Imm64: imm64, Regs: &r.Regs, Depth: depth, Count: count, Prog: prog, M: t}
	case tagAfter:
		pc := t.relPC(d)
		depth := t.depth + int(d.i())
		count := t.count + uint64(d.i())
		changed := t.regDiff(d)
		if d.err != nil {
			return
		}
		if depth < 0 || depth > 1<<20 {
			d.fail("depth %d", depth)
			return
		}
		r.Kind = hooks.KindAfter
		r.Regs = t.regs
		s := t.rec.Step // instruction of the matching Before
		if r.Step.PC != pc {
			s = hooks.Step{PC: pc, Prog: t.curProg}
			if pc >= 0 && pc < len(t.prog.Insns) && t.curProg == t.prog.Name {
				s.Insn = t.prog.Insns[pc]
			}
		}
		r.Step = hooks.Step{PC: pc, Insn: s.Insn, Imm64: s.Imm64, Regs: &r.Regs, Changed: changed, Depth: depth, Count: count, Prog: t.curProg, M: t}
	case tagAccess:
		flags := d.byte1()
		a := hooks.Access{Kind: hooks.AccessKind(flags & 3), PC: t.relPC(d), M: t}
		a.Addr = t.addr + uint64(d.i())
		a.Size = d.small()
		t.addr = a.Addr
		if flags&accessBytes != 0 {
			a.Bytes = d.bytes()
		} else {
			a.Value = d.u()
		}
		if a.Kind != hooks.Load {
			a.Old = d.u()
		}
		if flags&accessHelper != 0 {
			a.Helper = int32(d.i())
		}
		t.where, t.name = t.string(d), ""
		if flags&accessName != 0 {
			t.name = t.string(d)
		}
		if flags>>5 != 0 || a.Kind > hooks.Atomic {
			d.fail("access flags %#x", flags)
		}
		r.Kind, r.Access = hooks.KindAccess, a
	case tagHelper:
		h := hooks.HelperCall{PC: t.relPC(d), ID: int32(d.i())}
		h.Name = t.string(d)
		for i := range h.Args {
			h.Args[i] = d.u()
		}
		h.Ret, h.Depth = d.u(), d.small()
		h.Err = t.errStr(d)
		if d.err == nil {
			t.names[h.ID] = h.Name
		}
		r.Kind, r.Helper = hooks.KindHelper, h
	case tagCall:
		c := hooks.CallEvent{Kind: hooks.CallKind(d.byte1()), PC: t.relPC(d)}
		if t.version == 1 {
			c.Target = d.small()
		} else if c.Target = int(d.i()); c.Target < -1 || c.Target > 1<<31-1 {
			d.fail("call target %d", c.Target)
		}
		c.Func = t.string(d)
		c.Depth, c.R0 = d.small(), d.u()
		c.Prog = t.string(d)
		if c.Kind > hooks.TailCall {
			d.fail("call kind %d", c.Kind)
		}
		if c.Kind == hooks.TailCall {
			t.curProg = c.Prog
		}
		r.Kind, r.Call = hooks.KindCall, c
	case tagMapOp:
		m := hooks.MapOp{PC: t.relPC(d)}
		m.Map = t.string(d)
		m.Op = hooks.MapOpKind(d.byte1())
		flags := d.byte1()
		m.Hit = flags&mapHit != 0
		if flags&mapKey != 0 {
			m.Key = d.bytes()
		}
		if flags&mapValue != 0 {
			m.Value = d.bytes()
		}
		m.Flags = d.u()
		m.Errno = int32(d.i())
		if m.Op > hooks.MapPeek || flags>>3 != 0 {
			d.fail("map operation %d, flags %#x", m.Op, flags)
		}
		r.Kind, r.MapOp = hooks.KindMapOp, m
	case tagOutput:
		o := hooks.Output{PC: t.relPC(d)}
		o.Kind = t.string(d)
		o.Map = t.string(d)
		o.Data = d.bytes()
		if o.Kind == "perf_event" {
			o.RawSample = maps.Record{Data: o.Data}.RawSample()
		}
		r.Kind, r.Output = hooks.KindOutput, o
	case tagEnter:
		run := hooks.Run{Prog: t.string(d)}
		for i := range run.Args {
			run.Args[i] = d.u()
		}
		t.curProg, t.args = run.Prog, run.Args
		r.Kind, r.Run = hooks.KindEnter, run
	case tagExit:
		run := hooks.Run{Args: t.args, R0: d.u(), Insns: d.u()}
		run.Err = t.errStr(d)
		run.Prog = t.string(d)
		r.Kind, r.Run = hooks.KindExit, run
	default:
		d.fail("unknown event tag %d", tag)
	}
}

// recordedError is an error read back from a file: only its text survives.
type recordedError string

func (e recordedError) Error() string { return string(e) }

func (t *Reader) errStr(d *dec) error {
	switch d.byte1() {
	case 0:
		return nil
	case 1:
		return recordedError(t.string(d))
	}
	d.fail("bad error flag")
	return nil
}

// Describe implements hooks.Inspector: the region name recorded with the
// latest access (an address other than that access's is shown in hex).
func (t *Reader) Describe(addr uint64) string {
	if t.rec.Kind == hooks.KindAccess && addr == t.rec.Access.Addr {
		return t.where
	}
	return "0x" + strconv.FormatUint(addr, 16)
}

// Name implements hooks.Namer: the name recorded with the latest access.
func (t *Reader) Name(addr uint64, size int) string {
	if t.rec.Kind == hooks.KindAccess && addr == t.rec.Access.Addr {
		return t.name
	}
	return ""
}

// MapTypes implements hooks.Namer from the types section.
func (t *Reader) MapTypes(name string) (key, value btf.Type) {
	for _, img := range t.maps {
		if img.Spec.Name == name {
			return img.Spec.Key, img.Spec.Value
		}
	}
	return nil, nil
}

// Line implements hooks.Inspector from the recorded line info.
func (t *Reader) Line(pc int) *isa.Line {
	if t.curProg == t.prog.Name {
		return t.prog.Line(pc)
	}
	if t.version >= 3 { // events of re-executed tail calls
		for _, p := range t.progs {
			if p.Name == t.curProg {
				return p.Line(pc)
			}
		}
	}
	return nil
}

// HelperName implements hooks.Inspector with the names helper events
// carried, or the kernel's.
func (t *Reader) HelperName(id int32) string {
	if n, ok := t.names[id]; ok {
		return n
	}
	return isa.HelperName(id)
}

// Trace is a whole trace file in memory.
type Trace struct {
	Capture *Capture // with fresh maps; Env is nil; Input is the first run's
	Env     []helpers.EnvValue
	Events  []*hooks.Record
	// Runs are the runs of a version 3 file (nil for versions 1 and 2),
	// whose events, all runs' in order, Events holds.
	Runs []*Run

	end *Reader // the file's end, for the maps' final checksum
}

// DefaultMaxEventMemory is how much memory ReadAll lets the events it
// holds take. A held event costs a few hundred bytes however few the file
// spent on it, so a small file can describe gigabytes of events.
const DefaultMaxEventMemory = 1 << 30

// LimitError reports a file that needs more memory than a limit allows.
type LimitError struct {
	Limit string // the limit's name: "event memory"
	Max   int64  // the limit in bytes
	Need  int64  // what the file needed when it was refused (at least)
	Hint  string // how to raise the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("tracefile: the file needs more than %d bytes of %s (limit %d bytes; %s)", e.Need, e.Limit, e.Max, e.Hint)
}

// eventCost is what holding rec costs: the record and the bytes it owns.
func eventCost(rec *hooks.Record) int64 {
	return int64(unsafe.Sizeof(*rec)) + int64(len(rec.Access.Bytes)+len(rec.MapOp.Key)+len(rec.MapOp.Value)+len(rec.Output.Data))
}

// ReadAll reads a whole trace file, holding at most DefaultMaxEventMemory
// bytes of events.
func ReadAll(r io.Reader) (*Trace, error) { return ReadAllLimit(r, DefaultMaxEventMemory) }

// ReadAllLimit reads a whole trace file; the events it holds may take at
// most maxEventMemory bytes, or it fails with a *LimitError.
func ReadAllLimit(r io.Reader, maxEventMemory int64) (*Trace, error) {
	return ReadAllOptions(r, maxEventMemory, nil)
}

// ReadAllOptions is ReadAllLimit with the helpers (opts.Helpers) that
// derive a version 3 file's events.
func ReadAllOptions(r io.Reader, maxEventMemory int64, opts *Options) (*Trace, error) {
	tr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	tr.SetOptions(opts)
	return readAll(tr, maxEventMemory)
}

// SetOptions sets the helpers (opts.Helpers) with which Next derives the
// events of a version 3 file; call it before Next.
func (t *Reader) SetOptions(opts *Options) { t.opts = opts }

func readAll(tr *Reader, maxEventMemory int64) (*Trace, error) {
	t := new(Trace)
	tr.keepRuns, tr.eventLimit = true, maxEventMemory
	var held int64
	for {
		rec, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if held += eventCost(rec); held > maxEventMemory {
			return nil, &LimitError{Limit: "event memory", Max: maxEventMemory, Need: held,
				Hint: "read it event by event with NewReader and Next, or pass a larger limit to ReadAllLimit"}
		}
		c := rec.Clone()
		if c.Kind == hooks.KindAccess {
			c.Access.M = &recorded{tr, c.Access.Addr, tr.where, tr.name}
		}
		t.Events = append(t.Events, c)
	}
	t.Env = tr.Env()
	var err error
	t.Capture, err = tr.Capture()
	if err != nil {
		return nil, err
	}
	if tr.version >= 3 {
		t.Runs, t.end = tr.kept, tr
		if t.Runs == nil {
			t.Runs = []*Run{}
		}
	}
	return t, nil
}

// recorded is the Inspector of a kept access event: it names the accessed
// address as the file recorded it.
type recorded struct {
	*Reader
	addr  uint64
	where string
	name  string
}

func (r *recorded) Name(addr uint64, size int) string {
	if addr == r.addr {
		return r.name
	}
	return ""
}

func (r *recorded) Describe(addr uint64) string {
	if addr == r.addr {
		return r.where
	}
	return r.Reader.Describe(addr)
}

// Dump reads a trace file and delivers its events to h, in order: write a
// file out as text with exporters/text, or as JSON with exporters/jsonl.
// The events of a version 3 file come straight from running it again, with
// the machine as their Inspector, as in a live run; a run that does not
// end as recorded stops Dump with a *Divergence.
func Dump(r io.Reader, h any) error {
	tr, err := NewReader(r)
	if err != nil {
		return err
	}
	if tr.version >= 3 {
		return DumpRuns(tr, nil, h, nil)
	}
	for {
		rec, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rec.Deliver(h)
	}
}

// DumpRuns runs the runs of a version 3 file again, delivering the events
// of those want selects (nil: all) to h; each selected run's number is
// given to start first, if not nil. The runs not selected run untraced.
func DumpRuns(tr *Reader, want func(n int) bool, h any, start func(r *Run)) error {
	p, err := tr.NewRunner(nil)
	if err != nil {
		return err
	}
	for {
		run, err := tr.NextRun()
		if err == io.EOF {
			return p.Finish(tr)
		}
		if err != nil {
			return err
		}
		hook := h
		if want != nil && !want(run.N) {
			hook = nil
		} else if start != nil {
			start(run)
		}
		if _, err := p.Run(run, hook); err != nil {
			return err
		}
	}
}
