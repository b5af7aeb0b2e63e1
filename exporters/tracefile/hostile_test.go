package tracefile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/isa"
)

// Hostile files: small inputs whose counts claim far more than the bytes
// behind them, or whose structure makes a naive reader quadratic. Each test
// failed (allocated hundreds of megabytes, or ran for minutes) before the
// reader bounded counts by the bytes left and made its passes linear.

type rawSection struct {
	kind    byte
	payload []byte
}

// sectionsOf splits a real recording into its sections.
func sectionsOf(t *testing.T, name string) []rawSection {
	t.Helper()
	file, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := &Reader{r: bufioReader(file)}
	if _, err := io.ReadFull(r.r, make([]byte, headerSize)); err != nil {
		t.Fatal(err)
	}
	var out []rawSection
	for {
		kind, payload, _, err := r.section()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rawSection{kind, payload})
		if kind == secEnd {
			return out
		}
	}
}

// build writes a version 2 file from sections, with valid checksums.
func build(secs []rawSection) []byte {
	b := append([]byte(Magic), 2, 0, 0)
	for _, s := range secs {
		b = append(b, s.kind)
		b = binary.AppendUvarint(b, uint64(len(s.payload)))
		b = append(b, s.payload...)
		b = binary.LittleEndian.AppendUint32(b, crc32.Update(crc32.Checksum([]byte{s.kind}, castagnoli), castagnoli, s.payload))
	}
	return b
}

// replace returns secs with the first section of kind replaced.
func replace(secs []rawSection, kind byte, payload []byte) []rawSection {
	out := append([]rawSection(nil), secs...)
	for i := range out {
		if out[i].kind == kind {
			out[i].payload = payload
			return out
		}
	}
	panic("no such section")
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// guard fails the test if f runs past d, without waiting for it forever.
func guard(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}

// TestHostileMapEntryCount: a maps section announcing millions of entries
// of zero-byte keys and values, each costing the reader two slice headers
// and the file nothing.
func TestHostileMapEntryCount(t *testing.T) {
	const n = 4 << 20
	p := enc(nil).u(1).str("m").u(2).u(0).u(0).u(1).u(0).byte1(0) // one array map, key 0, value 0
	p = p.u(n).u(0)
	p = append(p, make([]byte, n)...) // room the count is checked against
	file := build(replace(sectionsOf(t, "tailcall.bpft"), secMaps, p))
	var err error
	got := allocated(func() { _, err = NewReader(bytes.NewReader(file)) })
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Section != "maps" {
		t.Fatalf("NewReader: %v, want a maps FormatError", err)
	}
	if max := uint64(4 * len(file)); got > max {
		t.Errorf("reading a %d-byte file allocated %d bytes, more than %d", len(file), got, max)
	}
}

// TestHostileFuncNamesAndLines: a program of n instructions with a
// function name at every pc and n line runs each covering the whole
// program; naming and line filling were quadratic.
func TestHostileFuncNamesAndLines(t *testing.T) {
	const n = 200_000
	insns := make([]isa.Insn, n)
	for i := range insns[:n-1] {
		insns[i] = isa.Insn{Op: isa.ClassALU64 | isa.ALUMov | isa.SrcK}
	}
	insns[n-1] = isa.Insn{Op: isa.ClassJMP | isa.JmpExit}
	code := isa.Encode(insns)
	prog := func(funcs, runs bool) []byte {
		p := enc(nil).str("p").u(6).u(n).bytes(code)
		if funcs {
			p = p.u(n)
			for i := range n {
				p = p.u(uint64(i)).str("f")
			}
		} else {
			p = p.u(0)
		}
		p = p.u(0) // maps
		if runs {
			p = p.u(n)
			for range n {
				p = p.u(0).u(n).str("f").str("x.c").u(1).u(1).str("")
			}
		} else {
			p = p.u(0)
		}
		return p.u(1) // cpus
	}
	secs := sectionsOf(t, "tailcall.bpft")
	limit := 10 * time.Second
	if raceEnabled {
		limit *= 10
	}
	guard(t, limit, func() {
		// Names at increasing pcs are valid and must be read in linear time.
		r, err := NewReader(bytes.NewReader(build(replace(secs, secProgram, prog(true, false)))))
		if err != nil {
			t.Errorf("function names: %v", err)
		} else if f := r.Program().Funcs; len(f) != n || f[n-1].Start != n-1 {
			t.Errorf("%d functions, last %+v", len(f), f[len(f)-1])
		}
		// Overlapping line runs are refused at the second run.
		_, err = NewReader(bytes.NewReader(build(replace(secs, secProgram, prog(false, true)))))
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Section != "program" {
			t.Errorf("overlapping line runs: %v, want a program FormatError", err)
		}
	})
}

// TestHostileEventMemory: a file of a million five-byte events would make
// ReadAll hold 784-byte records for each: ReadAllLimit refuses it once the
// events held pass the limit, with an error naming the limit.
func TestHostileEventMemory(t *testing.T) {
	const n = 1 << 20
	ev := enc(nil).byte1(tagEnter).u(0).str("p").u(0).u(0).u(0).u(0).u(0)
	for range n {
		ev = ev.byte1(tagExit).u(0).u(0).byte1(0).u(0)
	}
	var secs []rawSection
	for _, s := range sectionsOf(t, "tailcall.bpft") {
		switch s.kind {
		case secEvents:
		case secEnd:
			secs = append(secs, rawSection{secEvents, ev}, rawSection{secEnd, enc(nil).u(n + 1)})
		default:
			secs = append(secs, s)
		}
	}
	file := build(secs)
	const limit = 64 << 20
	var err error
	got := allocated(func() { _, err = ReadAllLimit(bytes.NewReader(file), limit) })
	var le *LimitError
	if !errors.As(err, &le) || le.Max != limit || le.Hint == "" {
		t.Fatalf("ReadAllLimit: %v, want a *LimitError for %d bytes", err, limit)
	}
	if got > 3*limit {
		t.Errorf("allocated %d bytes under a %d-byte limit", got, limit)
	}
	// The same file streams through Next in constant memory.
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	got = allocated(func() {
		for {
			if _, err = r.Next(); err != nil {
				break
			}
			events++
		}
	})
	if err != io.EOF || events != n+1 {
		t.Fatalf("Next: %d events, then %v", events, err)
	}
	if max := uint64(8 * len(file)); got > max {
		t.Errorf("streaming a %d-byte file allocated %d bytes", len(file), got)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
