package jsonl_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
)

// live is a Writer without BatchesOnly and PCs: the machine reports every
// step and access to it as it happens, and the Writer writes them on its
// general path, one event at a time.
type live struct {
	hooks.StepHook
	hooks.AccessHook
	hooks.HelperHook
	hooks.CallHook
	hooks.RunHook
	hooks.MapHook
	hooks.OutputHook
}

func liveWriter(w *jsonl.Writer) *live { return &live{w, w, w, w, w, w, w} }

// byteSumCase adds up the bytes of a 1500-byte packet, a bounds check
// and a load per byte: a sizeable trace (10 thousand lines) with packet
// accesses named past the headers, registers that are pointers, and
// counts of five digits.
func byteSumCase(tb testing.TB) *exptest.Case {
	pkt := make([]byte, 1500)
	for i := range pkt {
		pkt[i] = byte(i * 7)
	}
	copy(pkt[12:], []byte{0x08, 0x00, 0x45}) // IPv4, so that fields have names
	return exptest.ByteSum(tb, pkt)
}

// withLines gives c's program source lines: short ones, long ones around
// the length at which a step line leaves the batch path's fixed window
// (what the text of a pc may take in it, about 700 bytes), and ones to
// escape.
func withLines(c *exptest.Case) *exptest.Case {
	p := c.Capture.Prog
	p.Lines = make([]*isa.Line, len(p.Insns))
	for pc := range p.Lines {
		text := strings.Repeat("x", 450+pc*25) // 450 to 725 bytes
		switch pc {
		case 0:
			text = "int sum = 0;"
		case 4:
			text = "s = \"\\\u00e9\t\x01\""
		}
		p.Lines[pc] = &isa.Line{Func: "byte_sum", File: "byte_sum.c", Line: 10 + pc, Col: 2, Text: text}
	}
	return c
}

// TestBatchesMatchLive checks that the lines written from PC batches, in
// one pass per instruction, are byte for byte those written from live
// events on the general path: over the conformance suite, the XDP case
// and byte_sum, raw and named, with and without a packet number.
func TestBatchesMatchLive(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(exptest.Root(), "testdata", "conformance", "tests", "*.data"))
	if err != nil || len(names) == 0 {
		t.Fatal("no conformance tests", err)
	}
	cases := []func() *exptest.Case{
		func() *exptest.Case { return exptest.XDP(t) },
		func() *exptest.Case { return byteSumCase(t) },
		func() *exptest.Case { return withLines(byteSumCase(t)) },
	}
	for _, n := range names {
		cases = append(cases, func() *exptest.Case { return exptest.Conformance(t, filepath.Base(n)) })
	}
	for _, newCase := range cases {
		for _, raw := range []bool{false, true} {
			for _, packet := range []int{0, 3} {
				var batched, unbatched bytes.Buffer
				bw, lw := jsonl.New(&batched), jsonl.New(&unbatched)
				bw.Raw, lw.Raw = raw, raw
				bw.SetPacket(packet)
				lw.SetPacket(packet)
				c := newCase() // runs may change maps and packets: one case each
				_, err1 := c.Run(t, bw)
				_, err2 := newCase().Run(t, liveWriter(lw))
				if (err1 == nil) != (err2 == nil) {
					t.Fatalf("%s: batched %v, live %v", c.Name, err1, err2)
				}
				checkLines(t, batched.Bytes())
				if !bytes.Equal(batched.Bytes(), unbatched.Bytes()) {
					a, b := bytes.Split(batched.Bytes(), []byte("\n")), bytes.Split(unbatched.Bytes(), []byte("\n"))
					for i := range min(len(a), len(b)) {
						if !bytes.Equal(a[i], b[i]) {
							t.Fatalf("%s raw=%v packet=%d: line %d:\nbatched %s\nlive    %s", c.Name, raw, packet, i+1, a[i], b[i])
						}
					}
					t.Fatalf("%s raw=%v packet=%d: %d lines batched, %d live", c.Name, raw, packet, len(a), len(b))
				}
			}
		}
	}
}

// Counts past 8 digits, which the batch path no longer keeps in a word:
// runs of up to vm.DefaultMaxInsns reach them. The instructions of a run
// are numbered from just below 10^8 on both paths.
func TestBatchesMatchLiveNineDigits(t *testing.T) {
	const by = 99999990
	var batched, unbatched bytes.Buffer
	if _, err := byteSumCase(t).Run(t, &shiftedBatches{jsonl.New(&batched), by}); err != nil {
		t.Fatal(err)
	}
	lw := jsonl.New(&unbatched)
	if _, err := byteSumCase(t).Run(t, &shiftedLive{liveWriter(lw), by}); err != nil {
		t.Fatal(err)
	}
	checkLines(t, batched.Bytes())
	for _, n := range []string{`"n":99999990,`, `"n":99999999,`, `"n":100000000,`, `"n":100010000,`} {
		if !bytes.Contains(batched.Bytes(), []byte(n)) {
			t.Errorf("no step with %s", n)
		}
	}
	if !bytes.Equal(batched.Bytes(), unbatched.Bytes()) {
		t.Error("lines written from batches and from live events differ")
	}
}

// shiftedBatches numbers the instructions of its batches from by on.
type shiftedBatches struct {
	*jsonl.Writer
	by uint64
}

func (s *shiftedBatches) PCs(b *hooks.PCBatch) {
	b.First += s.by
	s.Writer.PCs(b)
	b.First -= s.by
}

// shiftedLive numbers the steps it sees from by on.
type shiftedLive struct {
	*live
	by uint64
}

func (s *shiftedLive) BeforeStep(ev *hooks.Step) hooks.Action {
	e := *ev
	e.Count += s.by
	return s.live.BeforeStep(&e)
}

func (s *shiftedLive) AfterStep(ev *hooks.Step) hooks.Action {
	e := *ev
	e.Count += s.by
	return s.live.AfterStep(&e)
}
