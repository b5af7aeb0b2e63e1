// Package tracefile stores runs of an eBPF program in one self-contained
// binary file and reads them back, so that runs captured in one place can
// be studied and replayed in another. The format is specified in
// docs/trace-format.md.
//
// A run is a function of the program, its input, the maps and the answers
// of the environment (helpers.Env). A file (version 3) stores exactly
// those — the program and the maps once, then per run its input, the
// environment's answers, its results and a checksum of the state it left
// — and nothing that follows from them: every event is derived when the
// file is read, by running the program again, and the checksums say
// whether that run is the recorded one (*Divergence otherwise). Recording
// costs little more than running untraced. Optionally the file also keeps
// each run's executed pcs (WriterOptions.PCs).
//
// A Writer records runs (Record, or attached to the machine as a hook). A
// Reader gives the runs (NextRun) and their events as hooks.Records
// (Next), which can be delivered to any hook (a text or JSON exporter, a
// counter); Dump delivers them straight from the re-execution. Replay
// re-executes a file and checks every run. Versions 1 and 2, which stored
// every event of one run, are read too.
package tracefile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Magic starts every trace file, like ELF's "\x7fELF".
const Magic = "\x7fBPFTRC"

// Version is the format version this package writes. It reads versions 1
// and 2 too: one run with every event stored (version 1 without the
// programs section, its program arrays and maps of maps stored empty).
const Version = 3

// Section kinds.
const (
	secProgram  = 1
	secMaps     = 2
	secInput    = 3
	secEvents   = 4
	secEnv      = 5
	secEnd      = 6
	secPrograms = 7 // version 2
	secRuns     = 9 // version 3
)

var sectionNames = map[byte]string{
	secProgram: "program", secMaps: "maps", secInput: "input",
	secEvents: "events", secEnv: "env", secEnd: "end", secPrograms: "programs", secRuns: "runs",
}

func sectionName(k byte) string {
	if n, ok := sectionNames[k]; ok {
		return n
	}
	return fmt.Sprintf("section %d", k)
}

// Event record tags. The values are those of hooks.Kind, plus one for a
// Before whose instruction is not in the stored program (after a tail
// call).
const (
	tagBefore     = 1
	tagAfter      = 2
	tagAccess     = 3
	tagHelper     = 4
	tagCall       = 5
	tagMapOp      = 6
	tagOutput     = 7
	tagEnter      = 8
	tagExit       = 9
	tagBeforeInsn = 10
	headerSize    = len(Magic) + 3 // magic, version, 2 bytes of flags (0)
	maxSection    = 1 << 30
	runChunkSize  = 64 << 10
)

// Flags of version 1 and 2 records.
const (
	accessBytes  = 1 << 2 // access: bytes follow instead of a value
	accessHelper = 1 << 3 // access: a helper id follows
	accessName   = 1 << 4 // access: the name of what lies there follows
	mapHit       = 1      // map op: the key was found
	mapKey       = 2      // map op: a key follows
	mapValue     = 4      // map op: a value follows
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("malformed trace file")

// FormatError locates a problem in a trace file.
type FormatError struct {
	Section string // "header", "program", "events", ...
	Offset  int64  // of the section (or header) in the file
	At      int    // byte offset inside the section's payload, -1 if none
	Msg     string
}

func (e *FormatError) Error() string {
	if e.At >= 0 {
		return fmt.Sprintf("tracefile: %s section at offset %d, byte %d: %s", e.Section, e.Offset, e.At, e.Msg)
	}
	return fmt.Sprintf("tracefile: %s at offset %d: %s", e.Section, e.Offset, e.Msg)
}

func (e *FormatError) Unwrap() error { return ErrFormat }

// enc appends the primitive encodings of the format.
type enc []byte

func (b enc) u(v uint64) enc   { return binary.AppendUvarint(b, v) }
func (b enc) i(v int64) enc    { return binary.AppendVarint(b, v) }
func (b enc) byte1(v byte) enc { return append(b, v) }
func (b enc) bytes(v []byte) enc {
	return append(b.u(uint64(len(v))), v...)
}
func (b enc) str(s string) enc { return append(b.u(uint64(len(s))), s...) }

// dec reads a section payload; the first error sticks and later reads
// return zero values, so decoders check err once per record.
type dec struct {
	b   []byte
	off int
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &decodeError{at: d.off, msg: fmt.Sprintf(format, args...)}
	}
}

type decodeError struct {
	at  int
	msg string
}

func (e *decodeError) Error() string { return e.msg }

func (d *dec) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.off += n
	return v
}

func (d *dec) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.off += n
	return v
}

// n reads a count or length no larger than limit.
func (d *dec) n(limit int) int {
	v := d.u()
	if v > uint64(limit) {
		d.fail("length %d exceeds %d", v, limit)
		return 0
	}
	return int(v)
}

// small reads a non-negative int that must fit 32 bits.
func (d *dec) small() int {
	return d.n(1<<31 - 1)
}

func (d *dec) byte1() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *dec) raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail("%d bytes needed, %d left", n, len(d.b)-d.off)
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

func (d *dec) bytes() []byte { return d.raw(d.n(len(d.b) - d.off)) }
func (d *dec) str() string   { return string(d.bytes()) }
func (d *dec) done() bool    { return d.err == nil && d.off == len(d.b) }
