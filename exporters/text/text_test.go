package text_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/isa"
)

// goldenConformance lists conformance programs whose traces are kept:
// BPF-to-BPF calls, a helper that unwinds, atomics, stores, ld_imm64 and a
// packet-like memory input.
var goldenConformance = []string{
	"call_local.data", "call_unwind_fail.data", "lock_cmpxchg.data",
	"stxb-chain.data", "subnet.data", "lddw.data",
}

func TestGoldenConformance(t *testing.T) {
	for _, name := range goldenConformance {
		t.Run(name, func(t *testing.T) {
			c := exptest.Conformance(t, name)
			var buf bytes.Buffer
			w := text.New(&buf)
			if _, err := c.Run(t, w); err != nil {
				t.Fatal(err)
			}
			if err := w.Err(); err != nil {
				t.Fatal(err)
			}
			exptest.Golden(t, strings.TrimSuffix(name, ".data")+".txt", buf.Bytes())
		})
	}
}

func TestGoldenXDP(t *testing.T) {
	c := exptest.XDP(t)
	var buf bytes.Buffer
	r0, err := c.Run(t, text.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if r0 != 3 { // XDP_TX
		t.Fatalf("r0 = %d", r0)
	}
	exptest.Golden(t, "xdp_count.txt", buf.Bytes())
}

// Source lines precede the first instruction of each line; the lines
// here are attached by hand, as a loader does from BTF line info.
func TestSourceLines(t *testing.T) {
	c := exptest.XDP(t)
	p := c.Capture.Prog
	p.Lines = make([]*isa.Line, p.Len())
	src := []struct {
		from, to int
		line     isa.Line
	}{
		{0, 5, isa.Line{Func: "xdp_count", File: "/src/xdp_count.c", Line: 12, Col: 2, Text: "if (data + 34 > data_end)"}},
		{6, 9, isa.Line{Func: "xdp_count", File: "/src/xdp_count.c", Line: 14, Col: 8, Text: "__u32 key = bpf_ntohs(eth->h_proto) & 3;"}},
		{23, 27, isa.Line{Func: "ttl", File: "/src/xdp_count.c", Line: 5, Col: 2, Text: "ip->ttl--;"}},
	}
	for _, s := range src {
		for pc := s.from; pc <= s.to; pc++ {
			l := s.line
			p.Lines[pc] = &l
		}
	}
	var buf bytes.Buffer
	if _, err := c.Run(t, text.New(&buf)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"; xdp_count.c:12: if (data + 34 > data_end)\n0: (bf) r6 = r1",
		"; xdp_count.c:14: __u32 key = bpf_ntohs(eth->h_proto) & 3;\n6: (69)",
		"  ; xdp_count.c:5: ip->ttl--;\n  23: (71)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	// One source line per run of instructions from the same line.
	if n := strings.Count(out, "xdp_count.c:12"); n != 1 {
		t.Errorf("line 12 printed %d times", n)
	}
}
