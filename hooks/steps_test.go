package hooks_test

import (
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
)

// A batch as the interpreter builds it for
//
//	0: r1 = 5
//	1: r1 += 2
//	2: call 7 (a helper: r0 = 9, r1..r5 scrambled -> snapshot)
//	3: r0 += 1   (faults here in the second case)
func batch() *hooks.PCBatch {
	return &hooks.PCBatch{
		Prog: "p", First: 10,
		PC:    []uint32{0, 1, 2, 3},
		Old:   []uint64{0, 5, 0, 9},
		Snaps: []hooks.Snapshot{{Index: 2, Depth: 0, Regs: [11]uint64{1: 7, 10: 512}}},
		End:   [11]uint64{0: 10, 1: 3, 10: 512},
		Insns: []isa.Insn{
			{Op: isa.ClassALU64 | isa.ALUMov | isa.SrcK, Dst: 1, Imm: 5},
			{Op: isa.ClassALU64 | isa.ALUAdd | isa.SrcK, Dst: 1, Imm: 2},
			{Op: isa.ClassJMP | isa.JmpCall, Imm: 7},
			{Op: isa.ClassALU64 | isa.ALUAdd | isa.SrcK, Dst: 0, Imm: 1},
		},
	}
}

func TestStepsRebuild(t *testing.T) {
	type step struct {
		pc             int
		count          uint64
		r0, r1, a0, a1 uint64
		changed        uint16
	}
	var got []step
	for before, after := range batch().Steps() {
		got = append(got, step{before.PC, before.Count, before.Regs[0], before.Regs[1], after.Regs[0], after.Regs[1], after.Changed})
	}
	want := []step{
		{0, 10, 0, 0, 0, 5, 1 << 1},
		{1, 11, 0, 5, 0, 7, 1 << 1},
		{2, 12, 0, 7, 9, 3, 1<<0 | 1<<1},
		{3, 13, 9, 3, 10, 3, 1 << 0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d steps, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestStepsFaultedAndEmpty(t *testing.T) {
	b := batch()
	b.Faulted, b.End[0] = true, 9 // r0 += 1 did not complete
	n := 0
	for before, after := range b.Steps() {
		n++
		if before.PC == 3 && (after != nil || before.Regs[0] != 9) {
			t.Errorf("faulted step: before r0 = %d, after %v; want 9 and nil", before.Regs[0], after)
		}
		if before.PC != 3 && after == nil {
			t.Errorf("step at pc %d has no after", before.PC)
		}
	}
	if n != 4 {
		t.Errorf("%d steps, want 4", n)
	}

	// A batch without register data (built by hand) yields nothing, and
	// stopping early is honoured.
	for range (&hooks.PCBatch{PC: []uint32{0}}).Steps() {
		t.Error("a batch without Old yielded a step")
	}
	n = 0
	for range batch().Steps() {
		n++
		break
	}
	if n != 1 {
		t.Errorf("break after the first step ran %d bodies", n)
	}
}

// A cursor asked for its steps before its first instruction, or after
// its last, answers without panicking.
func TestCursorStepsOutOfPlace(t *testing.T) {
	c := batch().Walk()
	c.Steps()
	for c.Next() {
	}
	c.Steps()
	c.Next()
}
