package tracefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// Writer writes a trace file: the program, the programs its program
// arrays reach, the maps' layouts and initial contents (once, when the
// Writer is created), then one record per run holding only what the run
// depends on besides them: its input, the environment's answers, and its
// results with a checksum of the state it left. Every event is derived at
// read time by running the program again (Reader.Next, Dump, Replay).
//
// Record appends a run. A Writer attached to the machine as a hook
// (hooks.RunHook) records each run itself when it exits, with the
// Capture's Input and the values its Env logged since the previous run;
// the run must have been started with Capture.Start (or Machine) so that
// its data_out and ctx_out can be read. Close writes the end.
type Writer struct {
	w    io.Writer
	err  error
	cap  *Capture
	opts WriterOptions
	refs *refs

	buf     enc // the runs chunk being built
	sec     enc
	closed  bool
	runs    uint64
	prevCtx []byte // ctx_in of the previous run
	envUsed int    // hook mode: values of cap.Env earlier runs took

	producer string // for the program section; default Producer()

	pcs     pcRecorder // WriterOptions.PCs
	scratch []byte     // the maps' encoding, for checksums
	lens    [8]byte
}

// WriterOptions choose what a Writer stores besides the runs.
type WriterOptions struct {
	// PCs stores the pcs every run executed, taken from the machine's
	// batched path (hooks.PCHook): attach Hook() to the machine. Readers
	// get them without running the program again (Run.PCs); replay checks
	// them.
	PCs bool
	// MapsEveryRun makes each run's state checksum cover the contents of
	// every map, not just data_out and ctx_out: a replay then names the
	// first run whose maps differ, at the cost of reading every map after
	// every run. Without it the maps are checked once, at the end.
	MapsEveryRun bool
}

// NewWriter starts a trace file on w for runs of c. The maps' contents
// are taken now, so create the Writer just before the first run.
func NewWriter(w io.Writer, c *Capture) (*Writer, error) { return NewWriterOptions(w, c, nil) }

// NewWriterOptions is NewWriter with options.
func NewWriterOptions(w io.Writer, c *Capture, opts *WriterOptions) (*Writer, error) {
	return newWriter(w, c, opts, "")
}

// newWriter is NewWriterOptions naming the producer (default Producer()).
func newWriter(w io.Writer, c *Capture, opts *WriterOptions, producer string) (*Writer, error) {
	if c == nil || c.Prog == nil {
		return nil, errors.New("tracefile: capture without a program")
	}
	t := &Writer{w: w, cap: c, producer: producer}
	if opts != nil {
		t.opts = *opts
	}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, Magic...)
	hdr = append(hdr, Version, 0, 0)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	producer = t.producer
	if producer == "" {
		producer = Producer()
	}
	t.section(secProgram, encodeProgram(nil, c, producer))
	refs, err := collectRefs(c)
	if err != nil {
		return nil, err
	}
	t.refs = refs
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
	if ts := encodeTypes(refs); ts != nil {
		t.section(secTypes, ts)
	}
	t.buf = make(enc, 0, runChunkSize+4096)
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

func encodeProgram(b enc, c *Capture, producer string) enc {
	b = b.str(c.Prog.Name).u(uint64(c.Type))
	return encodeCode(b, c.Prog).u(uint64(c.CPUs)).str(producer)
}

// Producer names the bpfscope that writes and re-executes files: its
// module version and VCS revision, as the Go toolchain recorded them. A
// run that replays differently under another producer points at a change
// of bpfscope rather than a damaged file.
var Producer = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "bpfscope"
	}
	v := ""
	if bi.Main.Path == module {
		v = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == module {
			v = d.Version
		}
	}
	for _, st := range bi.Settings {
		switch st.Key {
		case "vcs.revision":
			v += " " + st.Value[:min(12, len(st.Value))]
		case "vcs.modified":
			if st.Value == "true" {
				v += "+modified"
			}
		}
	}
	return strings.TrimSpace("bpfscope " + v)
})

const module = "github.com/bpfscope/bpfscope"

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

// Run is one run of a trace file: what the Writer records of it, and
// what a Reader gives back.
type Run struct {
	// N is the run's number in the file, from 1 (set by the Reader).
	N int
	// Input is the test-run input: data_in and ctx_in.
	Input ctx.Input
	// WantCtxOut is testrun.Options.WantCtxOut: the caller passed a
	// ctx_out buffer, which changes the run of some types without ctx_in.
	WantCtxOut bool
	// NotRun says the input never reached BPF_PROG_TEST_RUN (a frame the
	// capture could not hold): Err says why, and a replay skips it.
	NotRun bool
	// Env holds the answers the environment gave during the run, in order.
	Env []helpers.EnvValue
	// Retval is the run's result (r0; its low 32 bits for program types
	// test_run reports a u32 for), Insns the instructions executed, Err
	// why the run failed (read back, only its text survives).
	Retval uint64
	Insns  uint64
	Err    error
	// DataOut and CtxOut are the run's data_out and ctx_out; the Writer
	// stores only their checksum (State).
	DataOut, CtxOut []byte

	// State is the recorded checksum (CRC-32C) of data_out, ctx_out and,
	// with WriterOptions.MapsEveryRun, the maps after the run.
	State uint32
	// PCs are the executed pcs, when the file stores them
	// (WriterOptions.PCs): one span per stretch of one program.
	PCs []PCSpan

	flags byte
}

// PCSpan is a stretch of executed instructions of one program.
type PCSpan struct {
	Prog string
	PCs  []uint32
}

// Run record flags.
const (
	runErr        = 1 << 0 // an error text follows
	runNotRun     = 1 << 1 // the input never reached the program
	runCtxSame    = 1 << 2 // ctx_in is the previous run's (not stored)
	runWantCtxOut = 1 << 3
	runMaps       = 1 << 4 // the state checksum covers the maps
	runPCs        = 1 << 5 // the executed pcs follow
	runNoOutputs  = 1 << 6 // the state checksum does not cover data_out and ctx_out
	runFlagsMask  = 1<<7 - 1
)

// Record appends a run. The Writer keeps none of r's slices.
func (t *Writer) Record(r *Run) error {
	if t.closed {
		return errors.New("tracefile: Record after Close")
	}
	if t.err != nil {
		return t.err
	}
	flags := r.flags & runNoOutputs
	if r.Err != nil {
		flags |= runErr
	}
	if r.NotRun {
		flags |= runNotRun | runErr
	}
	if r.WantCtxOut {
		flags |= runWantCtxOut
	}
	var sum uint32
	if flags&runNoOutputs == 0 {
		sum = outputSum(&t.lens, r.DataOut, r.CtxOut)
	}
	if t.opts.MapsEveryRun && !r.NotRun {
		flags |= runMaps
		mb, err := encodeMaps(t.scratch[:0], t.refs)
		if err != nil {
			t.err = err
			return err
		}
		t.scratch = mb
		sum = crc32.Update(sum, castagnoli, mb)
	}
	var spans []PCSpan
	if t.opts.PCs && !r.NotRun {
		flags |= runPCs
		spans = t.pcs.spans[:t.pcs.n]
	}
	t.put(flags, r, sum, spans)
	t.pcs.reset()
	return t.err
}

// put encodes one run record.
func (t *Writer) put(flags byte, r *Run, sum uint32, spans []PCSpan) {
	flags &^= runCtxSame
	ctxSame := bytes.Equal(r.Input.Ctx, t.prevCtx)
	if ctxSame {
		flags |= runCtxSame
	}
	b := t.buf.byte1(flags).bytes(r.Input.Data)
	if !ctxSame {
		b = b.bytes(r.Input.Ctx)
		t.prevCtx = append(t.prevCtx[:0], r.Input.Ctx...)
	}
	b = b.u(uint64(len(r.Env)))
	for _, v := range r.Env {
		b = b.byte1(byte(v.Kind)).u(v.Value).bytes(v.Data)
	}
	b = b.u(r.Retval).u(r.Insns)
	if flags&runErr != 0 {
		msg := "not run"
		if r.Err != nil {
			msg = r.Err.Error()
		}
		b = b.str(msg)
	}
	b = binary.LittleEndian.AppendUint32(b, sum)
	if flags&runPCs != 0 {
		b = encodeSpans(b, spans, t.refs.progs)
	}
	t.buf = b
	t.runs++
	if len(t.buf) >= runChunkSize {
		t.flush()
	}
}

// copyRun appends a run read from another file as it was stored: its
// flags, checksum and pcs.
func (t *Writer) copyRun(r *Run) error {
	if t.closed || t.err != nil {
		return errors.New("tracefile: copyRun on a closed Writer")
	}
	t.put(r.flags, r, r.State, r.PCs)
	return t.err
}

// outputSum is the CRC-32C of the lengths of data_out and ctx_out (4
// bytes each, little-endian), data_out and ctx_out. lens is scratch space
// that outlives the call (crc32.Update's argument escapes).
func outputSum(lens *[8]byte, data, ctxOut []byte) uint32 {
	binary.LittleEndian.PutUint32(lens[:4], uint32(len(data)))
	binary.LittleEndian.PutUint32(lens[4:], uint32(len(ctxOut)))
	sum := crc32.Update(0, castagnoli, lens[:])
	sum = crc32.Update(sum, castagnoli, data)
	return crc32.Update(sum, castagnoli, ctxOut)
}

// Hook returns what to attach to the machine (next to any other hook)
// for what the Writer stores besides the runs' results: the pc stream
// (WriterOptions.PCs). It is nil when there is nothing to attach.
func (t *Writer) Hook() any {
	if !t.opts.PCs {
		return nil
	}
	return &t.pcs
}

// Enter implements hooks.RunHook; see Exit.
func (t *Writer) Enter(*hooks.Run) {}

// Exit implements hooks.RunHook: a Writer attached to the machine records
// each run as it ends (see Writer).
func (t *Writer) Exit(ev *hooks.Run) {
	if t.closed || t.err != nil {
		return
	}
	r := Run{Input: t.cap.Input, Retval: ev.R0, Insns: ev.Insns, Err: ev.Err}
	if t.cap.Env != nil {
		log := t.cap.Env.Log()
		if len(log) < t.envUsed { // Reset since
			t.envUsed = 0
		}
		r.Env, t.envUsed = log[t.envUsed:], len(log)
	}
	if out, ok := t.cap.output(); ok {
		r.DataOut, r.CtxOut = out.Data, out.Ctx
	} else {
		r.flags = runNoOutputs
	}
	t.Record(&r)
}

// flush writes the runs buffered so far as one section.
func (t *Writer) flush() {
	if len(t.buf) > 0 {
		t.section(secRuns, t.buf)
		t.buf = t.buf[:0]
	}
}

// Close writes the remaining runs and the end: the number of runs and
// the checksum of the maps as the last run left them. It returns the
// first write error.
func (t *Writer) Close() error {
	if t.closed {
		return t.err
	}
	t.closed = true
	t.flush()
	mb, err := encodeMaps(nil, t.refs)
	if err != nil && t.err == nil {
		t.err = err
	}
	end := enc(nil).u(t.runs)
	t.section(secEnd, binary.LittleEndian.AppendUint32(end, crc32.Checksum(mb, castagnoli)))
	return t.err
}

// Runs returns the number of runs recorded so far.
func (t *Writer) Runs() int { return int(t.runs) }

// Started reports whether a run was recorded.
func (t *Writer) Started() bool { return t.runs > 0 }

// Err returns the first write error.
func (t *Writer) Err() error { return t.err }

// pcRecorder keeps the pcs of the current run from the machine's batches.
type pcRecorder struct {
	spans []PCSpan
	n     int // spans in use
}

// PCs implements hooks.PCHook.
func (p *pcRecorder) PCs(b *hooks.PCBatch) {
	if p.n == 0 || p.spans[p.n-1].Prog != b.Prog {
		if p.n == len(p.spans) {
			p.spans = append(p.spans, PCSpan{})
		}
		p.spans[p.n].Prog, p.spans[p.n].PCs = b.Prog, p.spans[p.n].PCs[:0]
		p.n++
	}
	s := &p.spans[p.n-1]
	s.PCs = append(s.PCs, b.PC...)
}

func (p *pcRecorder) reset() { p.n = 0 }

// encodeSpans writes the spans: their count, then per span the program
// (an index into the file's programs; one past them: a name follows), the
// number of pcs and each pc as a varint of pc - (previous pc + 1).
func encodeSpans(b enc, spans []PCSpan, progs []*vm.Program) enc {
	b = b.u(uint64(len(spans)))
	for _, s := range spans {
		ix := len(progs)
		for i, pr := range progs {
			if pr.Name == s.Prog {
				ix = i
				break
			}
		}
		b = b.u(uint64(ix))
		if ix == len(progs) {
			b = b.str(s.Prog)
		}
		b = b.u(uint64(len(s.PCs)))
		prev := int64(-1)
		for _, pc := range s.PCs {
			b = b.i(int64(pc) - (prev + 1))
			prev = int64(pc)
		}
	}
	return b
}
