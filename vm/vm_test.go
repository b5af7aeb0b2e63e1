package vm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Raw instruction builders, named after RFC 9669's encodings.
func i(op uint8, dst, src uint8, off int16, imm int32) isa.Insn {
	return isa.Insn{Op: op, Dst: dst, Src: src, Off: off, Imm: imm}
}

const (
	movK   = isa.ClassALU64 | isa.ALUMov | isa.SrcK // 0xb7
	movX   = isa.ClassALU64 | isa.ALUMov | isa.SrcX // 0xbf
	addK   = isa.ClassALU64 | isa.ALUAdd | isa.SrcK
	exit   = isa.ClassJMP | isa.JmpExit // 0x95
	ja     = isa.ClassJMP | isa.JmpJA
	jneK   = isa.ClassJMP | isa.JmpJNE | isa.SrcK
	call   = isa.ClassJMP | isa.JmpCall
	lddw   = isa.ClassLD | isa.ModeIMM | isa.SizeDW
	ldxdw  = isa.ClassLDX | isa.ModeMEM | isa.SizeDW
	ldxw   = isa.ClassLDX | isa.ModeMEM | isa.SizeW
	stxdw  = isa.ClassSTX | isa.ModeMEM | isa.SizeDW
	stdw   = isa.ClassST | isa.ModeMEM | isa.SizeDW
	stw    = isa.ClassST | isa.ModeMEM | isa.SizeW
	subK   = isa.ClassALU64 | isa.ALUSub | isa.SrcK
	neg64  = isa.ClassALU64 | isa.ALUNeg
	alu64X = isa.ClassALU64 | isa.SrcX
)

func load(t *testing.T, insns ...isa.Insn) *vm.Program {
	t.Helper()
	p, err := vm.NewProgram("test", insns)
	if err != nil {
		t.Fatalf("NewProgram: %v", err)
	}
	return p
}

func machine(t *testing.T, p *vm.Program, cfg vm.Config) *vm.Machine {
	t.Helper()
	m, err := vm.New(p, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name  string
		insns []isa.Insn
		pc    int
		want  error
	}{
		{"empty", nil, -1, vm.ErrEmptyProgram},
		{"unknown opcode", []isa.Insn{i(0xff, 0, 0, 0, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrUnknownOpcode},
		{"ALU K with src set", []isa.Insn{i(movK, 0, 1, 0, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrReservedField},
		{"ALU X with imm set", []isa.Insn{i(movX, 0, 1, 0, 5), i(exit, 0, 0, 0, 0)}, 0, vm.ErrReservedField},
		{"bad offset on add", []isa.Insn{i(addK, 0, 0, 3, 1), i(exit, 0, 0, 0, 0)}, 0, vm.ErrReservedField},
		{"neg with imm", []isa.Insn{i(neg64, 0, 0, 0, 1), i(exit, 0, 0, 0, 0)}, 0, vm.ErrReservedField},
		{"write to r10", []isa.Insn{i(movK, 10, 0, 0, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrBadRegister},
		{"register r11", []isa.Insn{i(movX, 0, 11, 0, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrBadRegister},
		{"jump past the end", []isa.Insn{i(ja, 0, 0, 5, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrJumpOutOfRange},
		{"jump before the start", []isa.Insn{i(ja, 0, 0, -2, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrJumpOutOfRange},
		{"jump into ld_imm64", []isa.Insn{i(ja, 0, 0, 1, 0), i(lddw, 0, 0, 0, 1), i(0, 0, 0, 0, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrJumpIntoLdImm64},
		{"fall off the end", []isa.Insn{i(movK, 0, 0, 0, 0)}, 0, vm.ErrFallThrough},
		{"conditional jump last", []isa.Insn{i(exit, 0, 0, 0, 0), i(jneK, 0, 0, -2, 0)}, 1, vm.ErrFallThrough},
		{"ld_imm64 truncated", []isa.Insn{i(exit, 0, 0, 0, 0), i(lddw, 0, 0, 0, 1)}, 1, vm.ErrTruncated},
		{"ld_imm64 second slot dirty", []isa.Insn{i(lddw, 0, 0, 0, 1), i(0, 1, 0, 0, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrReservedField},
		{"exit with dst", []isa.Insn{i(exit, 1, 0, 0, 0)}, 0, vm.ErrReservedField},
		{"kfunc call", []isa.Insn{i(call, 0, isa.PseudoKfuncCall, 0, 7), i(exit, 0, 0, 0, 0)}, 0, vm.ErrUnsupported},
		{"ldxdw with imm", []isa.Insn{i(ldxdw, 0, 10, -8, 1), i(exit, 0, 0, 0, 0)}, 0, vm.ErrReservedField},
		{"atomic on a byte", []isa.Insn{i(isa.ClassSTX|isa.ModeATOMIC|isa.SizeB, 10, 1, -8, 0), i(exit, 0, 0, 0, 0)}, 0, vm.ErrUnknownOpcode},
		{"unknown atomic op", []isa.Insn{i(isa.ClassSTX|isa.ModeATOMIC|isa.SizeDW, 10, 1, -8, 0x10), i(exit, 0, 0, 0, 0)}, 0, vm.ErrUnknownOpcode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vm.NewProgram("bad", tt.insns)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var le *vm.LoadError
			if !errors.As(err, &le) || le.PC != tt.pc {
				t.Fatalf("err = %#v, want a LoadError at pc %d", err, tt.pc)
			}
		})
	}
}

// TestLoadBytecodeErrors: bytecode that is not a whole number of
// instructions, or none, is a *LoadError like any other refusal.
func TestLoadBytecodeErrors(t *testing.T) {
	for _, tt := range []struct {
		code []byte
		want error
		text string
	}{
		{[]byte{1, 2, 3}, vm.ErrBytecodeLength, "bytecode length is not a multiple of 8: 3 bytes"},
		{make([]byte, 17), vm.ErrBytecodeLength, "bytecode length is not a multiple of 8: 17 bytes"},
		{nil, vm.ErrEmptyProgram, "empty program"},
	} {
		_, err := vm.Load("bad", tt.code)
		var le *vm.LoadError
		if !errors.As(err, &le) || !errors.Is(err, tt.want) || le.PC != -1 || err.Error() != tt.text {
			t.Errorf("Load(%d bytes) = %#v (%v), want a *LoadError %q", len(tt.code), err, err, tt.text)
		}
	}
}

func TestUnknownHelperAtLoad(t *testing.T) {
	p := load(t, i(call, 0, 0, 0, 1234), i(exit, 0, 0, 0, 0))
	_, err := vm.New(p, vm.Config{})
	var le *vm.LoadError
	if !errors.Is(err, vm.ErrUnknownHelper) || !errors.As(err, &le) || le.PC != 0 {
		t.Fatalf("err = %v, want ErrUnknownHelper at pc 0", err)
	}
}

func TestMemoryFaults(t *testing.T) {
	tests := []struct {
		name   string
		insns  []isa.Insn
		want   error
		pc     int
		region string
	}{
		{"NULL load", []isa.Insn{i(movK, 1, 0, 0, 0), i(ldxdw, 0, 1, 0, 0), i(exit, 0, 0, 0, 0)}, vm.ErrUnmapped, 1, "NULL"},
		{"above the stack", []isa.Insn{i(ldxdw, 0, 10, 0, 0), i(exit, 0, 0, 0, 0)}, vm.ErrOutOfBounds, 0, "fp+0"},
		{"below all frames", []isa.Insn{i(stdw, 10, 0, -4104, 1), i(movK, 0, 0, 0, 0), i(exit, 0, 0, 0, 0)}, vm.ErrUnmapped, 0, ""},
		{"straddles the top", []isa.Insn{i(stw, 10, 0, -2, 1), i(movK, 0, 0, 0, 0), i(exit, 0, 0, 0, 0)}, vm.ErrOutOfBounds, 0, "fp-2"},
		{"wild pointer", []isa.Insn{i(lddw, 1, 0, 0, 0x1000), i(0, 0, 0, 0, 0x77), i(ldxw, 0, 1, 0, 0), i(exit, 0, 0, 0, 0)}, vm.ErrUnmapped, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := machine(t, load(t, tt.insns...), vm.Config{})
			_, err := m.Run(context.Background())
			var re *vm.RunError
			if !errors.Is(err, tt.want) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if re.PC != tt.pc || re.Size == 0 || (tt.region != "" && re.Region != tt.region) {
				t.Fatalf("RunError = pc %d size %d region %q, want pc %d region %q", re.PC, re.Size, re.Region, tt.pc, tt.region)
			}
		})
	}
}

func TestReadOnlyRegion(t *testing.T) {
	p := load(t, i(stw, 1, 0, 0, 7), i(movK, 0, 0, 0, 0), i(exit, 0, 0, 0, 0))
	m := machine(t, p, vm.Config{})
	addr := m.Map(&vm.Region{Name: ".rodata", Data: make([]byte, 8), ReadOnly: true})
	_, err := m.Run(context.Background(), addr)
	var re *vm.RunError
	if !errors.Is(err, vm.ErrReadOnly) || !errors.As(err, &re) || re.Region != ".rodata" {
		t.Fatalf("err = %v, want ErrReadOnly on .rodata", err)
	}
}

func TestStrideForbidsCrossingElements(t *testing.T) {
	// Two 8-byte values; a 8-byte load at offset 4 straddles them.
	p := load(t, i(ldxdw, 0, 1, 4, 0), i(exit, 0, 0, 0, 0))
	m := machine(t, p, vm.Config{})
	addr := m.Map(&vm.Region{Name: "map v", Data: make([]byte, 16), Stride: 8})
	if _, err := m.Run(context.Background(), addr); !errors.Is(err, vm.ErrOutOfBounds) {
		t.Fatalf("err = %v, want ErrOutOfBounds", err)
	}
}

// loop is an endless loop: r0 += 1; goto -2.
var loop = []isa.Insn{i(addK, 0, 0, 0, 1), i(ja, 0, 0, -2, 0), i(exit, 0, 0, 0, 0)}

func TestBudget(t *testing.T) {
	m := machine(t, load(t, loop...), vm.Config{MaxInsns: 1001})
	_, err := m.Run(context.Background())
	var re *vm.RunError
	if !errors.Is(err, vm.ErrBudget) || !errors.As(err, &re) {
		t.Fatalf("err = %v, want ErrBudget", err)
	}
	// The budget is enforced at taken jumps and calls, so the run stops at
	// the first jump after 1001 instructions: the 1002nd.
	if re.Insns != 1002 || re.Regs[0] != 501 {
		t.Fatalf("stopped after %d insns with r0=%d, want 1002 and 501", re.Insns, re.Regs[0])
	}
}

func TestCancel(t *testing.T) {
	m := machine(t, load(t, loop...), vm.Config{MaxInsns: 1 << 62})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := m.Run(ctx)
	if !errors.Is(err, vm.ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled", err)
	}
}

func TestCallDepth(t *testing.T) {
	// f calls itself forever: the 8-frame limit stops it.
	p := load(t, i(call, 0, isa.PseudoCall, 0, -1), i(exit, 0, 0, 0, 0))
	m := machine(t, p, vm.Config{})
	_, err := m.Run(context.Background())
	var re *vm.RunError
	if !errors.Is(err, vm.ErrCallDepth) || !errors.As(err, &re) || re.Depth != vm.MaxCallDepth-1 {
		t.Fatalf("err = %v, want ErrCallDepth at depth %d", err, vm.MaxCallDepth-1)
	}
}

func TestCallPreservesCalleeSaved(t *testing.T) {
	p := load(t,
		i(movK, 6, 0, 0, 6),
		i(movK, 1, 0, 0, 40),
		i(call, 0, isa.PseudoCall, 0, 2), // -> pc 5
		i(alu64X|isa.ALUAdd, 0, 6, 0, 0), // r0 += r6
		i(exit, 0, 0, 0, 0),
		i(movK, 6, 0, 0, 100), // callee clobbers r6
		i(stxdw, 10, 1, -8, 0),
		i(ldxdw, 0, 10, -8, 0),
		i(addK, 0, 0, 0, 2),
		i(exit, 0, 0, 0, 0),
	)
	m := machine(t, p, vm.Config{})
	r0, err := m.Run(context.Background())
	if err != nil || r0 != 48 {
		t.Fatalf("r0 = %d, %v; want 48", r0, err)
	}
}

func TestHelperCallAndErrors(t *testing.T) {
	boom := errors.New("boom")
	hs := vm.Helpers{
		1: {Name: "double", Fn: func(_ *vm.Machine, a vm.Args) (uint64, error) { return a[0] * 2, nil }},
		2: {Name: "fail", Fn: func(*vm.Machine, vm.Args) (uint64, error) { return 0, boom }},
	}
	p := load(t, i(movK, 1, 0, 0, 21), i(call, 0, 0, 0, 1), i(exit, 0, 0, 0, 0))
	if r0, err := machine(t, p, vm.Config{Helpers: hs}).Run(context.Background()); err != nil || r0 != 42 {
		t.Fatalf("r0 = %d, %v; want 42", r0, err)
	}
	p = load(t, i(call, 0, 0, 0, 2), i(exit, 0, 0, 0, 0))
	_, err := machine(t, p, vm.Config{Helpers: hs}).Run(context.Background())
	var re *vm.RunError
	if !errors.Is(err, vm.ErrHelperFailed) || !errors.As(err, &re) || re.PC != 0 || !strings.Contains(err.Error(), "fail: boom") {
		t.Fatalf("err = %v, want ErrHelperFailed naming the helper at pc 0", err)
	}
}

// recorder keeps what a trace would show.
type recorder struct {
	steps    []int
	changed  []uint16
	accesses []string
	stopAt   int
}

func (r *recorder) BeforeStep(s *hooks.Step) hooks.Action {
	if s.PC == r.stopAt {
		r.stopAt = -1
		return hooks.Stop
	}
	return hooks.Continue
}

func (r *recorder) AfterStep(s *hooks.Step) hooks.Action {
	r.steps = append(r.steps, s.PC)
	r.changed = append(r.changed, s.Changed)
	return hooks.Continue
}

func (r *recorder) Access(a *hooks.Access) hooks.Action {
	r.accesses = append(r.accesses, a.Kind.String()+" "+a.Where())
	return hooks.Continue
}

func TestTraceStepsAndAccesses(t *testing.T) {
	p := load(t,
		i(movK, 1, 0, 0, 7),     // 0
		i(stxdw, 10, 1, -16, 0), // 1
		i(ldxdw, 0, 10, -16, 0), // 2
		i(exit, 0, 0, 0, 0),     // 3
	)
	m := machine(t, p, vm.Config{})
	rec := &recorder{stopAt: -1}
	m.Attach(rec)
	r0, err := m.Run(context.Background())
	if err != nil || r0 != 7 {
		t.Fatalf("r0 = %d, %v", r0, err)
	}
	if want := []int{0, 1, 2, 3}; !equal(rec.steps, want) {
		t.Fatalf("steps %v, want %v", rec.steps, want)
	}
	if want := []uint16{1 << 1, 0, 1 << 0, 0}; !equal(rec.changed, want) {
		t.Fatalf("changed %v, want %v", rec.changed, want)
	}
	if want := []string{"store fp-16", "load fp-16"}; !equal(rec.accesses, want) {
		t.Fatalf("accesses %v, want %v", rec.accesses, want)
	}
	// Untraced again after Attach(nil): same result, no events.
	m.Attach(nil)
	rec.steps = nil
	if r0, err := m.Run(context.Background()); err != nil || r0 != 7 || rec.steps != nil {
		t.Fatalf("after detach: r0 = %d, %v, steps %v", r0, err, rec.steps)
	}
}

func TestBreakpointResumeAndStep(t *testing.T) {
	p := load(t,
		i(movK, 0, 0, 0, 1), // 0
		i(addK, 0, 0, 0, 2), // 1
		i(addK, 0, 0, 0, 3), // 2
		i(exit, 0, 0, 0, 0), // 3
	)
	m := machine(t, p, vm.Config{})
	rec := &recorder{stopAt: 1}
	m.Attach(rec)
	ctx := context.Background()
	if _, err := m.Run(ctx); !errors.Is(err, vm.ErrPaused) || m.PC() != 1 || m.Regs()[0] != 1 {
		t.Fatalf("Run: %v at pc %d r0=%d; want paused at pc 1 with r0=1", err, m.PC(), m.Regs()[0])
	}
	if _, err := m.Step(ctx); !errors.Is(err, vm.ErrPaused) || m.PC() != 2 || m.Regs()[0] != 3 {
		t.Fatalf("Step: %v at pc %d r0=%d; want paused at pc 2 with r0=3", err, m.PC(), m.Regs()[0])
	}
	m.SetReg(0, 10)
	r0, err := m.Resume(ctx)
	if err != nil || r0 != 13 {
		t.Fatalf("Resume: r0 = %d, %v; want 13", r0, err)
	}
	if want := []int{0, 1, 2, 3}; !equal(rec.steps, want) {
		t.Fatalf("steps %v, want %v", rec.steps, want)
	}
}

func TestAbort(t *testing.T) {
	m := machine(t, load(t, loop...), vm.Config{})
	m.Attach(abortAfter{n: 10})
	_, err := m.Run(context.Background())
	var re *vm.RunError
	if !errors.Is(err, vm.ErrAborted) || !errors.As(err, &re) || re.Insns != 11 {
		t.Fatalf("err = %v, want ErrAborted after 10 instructions", err)
	}
}

type abortAfter struct{ n uint64 }

func (a abortAfter) BeforeStep(s *hooks.Step) hooks.Action {
	if s.Count >= a.n {
		return hooks.Abort
	}
	return hooks.Continue
}
func (abortAfter) AfterStep(*hooks.Step) hooks.Action { return hooks.Continue }

// loop3 is helper 181: it calls the function at r1 three times with
// i = 0, 1, 2 and ctx = 10 and sums the results, as bpf_loop-style helpers do.
var loop3 = vm.Helpers{181: {Name: "loop3", Fn: func(m *vm.Machine, a vm.Args) (uint64, error) {
	var sum uint64
	for k := range uint64(3) {
		r, err := m.CallFunc(a[0], k, 10)
		if err != nil {
			return 0, err
		}
		sum += r
	}
	return sum, nil
}}}

func TestCallbackFromHelper(t *testing.T) {
	hs := loop3
	p := load(t,
		i(lddw, 1, isa.PseudoFunc, 0, 5), // -> pc 0+5+1
		i(0, 0, 0, 0, 0),
		i(movK, 6, 0, 0, 1000),
		i(call, 0, 0, 0, 181),
		i(alu64X|isa.ALUAdd, 0, 6, 0, 0),
		i(exit, 0, 0, 0, 0),
		i(movX, 0, 1, 0, 0), // callback: r0 = i + ctx
		i(alu64X|isa.ALUAdd, 0, 2, 0, 0),
		i(exit, 0, 0, 0, 0),
	)
	r0, err := machine(t, p, vm.Config{Helpers: hs}).Run(context.Background())
	if err != nil || r0 != 1033 {
		t.Fatalf("r0 = %d, %v; want 1033", r0, err)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

func TestMayGoto(t *testing.T) {
	// r0 counts the iterations may_goto allows before it jumps: the
	// kernel's BPF_MAX_LOOPS (8M) per frame.
	p := load(t,
		i(movK, 0, 0, 0, 0),
		i(isa.ClassJMP|isa.JmpJCond, 0, 0, 2, 0), // may_goto +2
		i(addK, 0, 0, 0, 1),
		i(ja, 0, 0, -3, 0),
		i(exit, 0, 0, 0, 0),
	)
	r0, err := machine(t, p, vm.Config{}).Run(context.Background())
	if err != nil || r0 != 1<<23 {
		t.Fatalf("r0 = %d, %v; want %d", r0, err, 1<<23)
	}
}

func TestFromInstructionsResolvesLabels(t *testing.T) {
	// Count down from 5 with a labelled backward jump, and an atomic
	// fetch-add whose operation must survive marshalling.
	p, err := vm.FromInstructions("labels", asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Imm(asm.R1, 5),
		asm.Add.Imm(asm.R0, 2).WithSymbol("loop"),
		asm.Sub.Imm(asm.R1, 1),
		asm.JNE.Imm(asm.R1, 0, "loop"),
		asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R2, 1),
		asm.FetchAdd.Mem(asm.RFP, asm.R2, asm.DWord, -8),
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
		asm.Add.Reg(asm.R0, asm.R2), // r2 holds the fetched 10
		asm.Return(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Insns[4].Off; got != -3 {
		t.Fatalf("jump offset %d, want -3", got)
	}
	if got := p.Insns[7].Imm; got != isa.AtomicAdd|isa.AtomicFetch {
		t.Fatalf("atomic imm %#x, want fetch-add %#x", got, isa.AtomicAdd|isa.AtomicFetch)
	}
	r0, err := machine(t, p, vm.Config{}).Run(context.Background())
	if err != nil || r0 != 21 {
		t.Fatalf("r0 = %d, %v; want 21", r0, err)
	}
}
