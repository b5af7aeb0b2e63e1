package ctx

import (
	"testing"

	"github.com/bpfscope/bpfscope/isa"
)

// TestMaxCtxOffset: the furthest context access, followed through moves,
// constant offsets, spills, branches and bpf-to-bpf calls, as the
// verifier's max_ctx_offset records it.
func TestMaxCtxOffset(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want int
	}{
		{"none", "r0 = 0\nexit", 0},
		{"direct", "r0 = *(u64 *)(r1 + 8)\nexit", 16},
		{"moved", "r6 = r1\nr0 = *(u32 *)(r6 + 16)\nexit", 20},
		{"offset", "r1 += 16\nr0 = *(u64 *)(r1 + 8)\nexit", 32},
		{"spilled", "*(u64 *)(r10 - 8) = r1\nr1 = 0\nr2 = *(u64 *)(r10 - 8)\nr0 = *(u64 *)(r2 + 40)\nexit", 48},
		{"branch", "r0 = 0\nif r0 == 0 goto pc+1\nr0 = *(u64 *)(r1 + 88)\nexit", 96},
		{"clobbered by a helper", "call 5\nr0 = *(u64 *)(r1 + 8)\nexit", 0},
		{"kept in r6 across a helper", "r6 = r1\ncall 5\nr0 = *(u64 *)(r6 + 8)\nexit", 16},
		{"into a subprogram", "r2 = 0\ncall pc+2\nr0 = 0\nexit\nr0 = *(u64 *)(r1 + 24)\nexit", 32},
		{"not ctx", "r1 = 0\nr0 = *(u64 *)(r10 - 8)\nexit", 0},
	} {
		insns, err := isa.Assemble(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := MaxCtxOffset(insns); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzMaxCtxOffset: any instruction stream, valid or not, is analysed
// without a panic and in bounded time.
func FuzzMaxCtxOffset(f *testing.F) {
	f.Add([]byte{0x79, 0x10, 0x08, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		insns := make([]isa.Insn, 0, len(b)/8)
		for i := 0; i+8 <= len(b) && len(insns) < 4096; i += 8 {
			insns = append(insns, isa.DecodeSlot(b[i:]))
		}
		if n := MaxCtxOffset(insns); n < 0 {
			t.Fatalf("negative offset %d", n)
		}
	})
}
