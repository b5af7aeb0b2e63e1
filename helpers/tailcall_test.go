package helpers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// tailCaller counts its runs in the counter map, tail-calls index idx of
// the program array, and returns 42 if the call falls through. It expects the ctx in r7 (see withCtxSaved).
func tailCaller(progArray, counter, idx int) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, counter),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "skip"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("skip"),
		asm.LoadMapPtr(asm.R2, progArray),
		asm.Mov.Imm(asm.R3, int32(idx)),
		asm.FnTailCall.Call(),
		asm.Mov.Imm(asm.R0, 42), // r0 is unreadable after bpf_tail_call
		asm.Return(),
	}
}

// withCtxSaved prepends saving the ctx pointer in r7.
func withCtxSaved(insns asm.Instructions) asm.Instructions {
	return append(asm.Instructions{asm.Mov.Reg(asm.R7, asm.R1)}, insns...)
}

// TestTailCallKernel compares tail calls to an empty slot, an index out
// of range, a program returning 7, and a program that tail-calls itself
// until the limit of 33.
func TestTailCallKernel(t *testing.T) {
	target := asm.Instructions{asm.Mov.Imm(asm.R0, 7), asm.Return()}
	cases := []struct {
		name string
		idx  int
		fill string // "", "target" or "self"
	}{
		{"empty-slot", 0, ""},
		{"out-of-range", 9, "target"},
		{"target", 0, "target"},
		{"self-limit", 0, "self"},
	}
	arraySpec := maps.Spec{Name: "progs", Type: maps.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 4}
	counterSpec := maps.Spec{Name: "count", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// bpfscope
			pa, err := maps.New(&arraySpec)
			if err != nil {
				t.Fatal(err)
			}
			cnt, err := maps.New(&counterSpec)
			if err != nil {
				t.Fatal(err)
			}
			main, err := vm.FromInstructions("main", link(withCtxSaved(tailCaller(0, 1, tc.idx))))
			if err != nil {
				t.Fatal(err)
			}
			switch tc.fill {
			case "target":
				p, err := vm.FromInstructions("target", target)
				if err != nil {
					t.Fatal(err)
				}
				pa.(*maps.ProgramArrayMap).SetProgram(0, p)
			case "self":
				pa.(*maps.ProgramArrayMap).SetProgram(0, main)
			}
			m, err := vm.New(main, vm.Config{Helpers: New(nil), Maps: []vm.Map{pa, cnt}})
			if err != nil {
				t.Fatal(err)
			}
			x, err := ctx.NewXDP(m, testPacket, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Run(context.Background(), x.Arg())
			if err != nil {
				t.Fatal(err)
			}
			gotCount := make([]byte, 8)
			cnt.Get(make([]byte, 4), gotCount)

			// kernel
			kpa := newKernelMap(t, arraySpec)
			kcnt := newKernelMap(t, counterSpec)
			loadProg := func(insns asm.Instructions) *ebpf.Program {
				p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: insns, License: "GPL"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				return p
			}
			kmain := loadProg(withCtxSaved(tailCaller(kpa.FD(), kcnt.FD(), tc.idx)))
			switch tc.fill {
			case "target":
				must(t, kpa.Update(uint32(0), loadProg(target), ebpf.UpdateAny))
			case "self":
				must(t, kpa.Update(uint32(0), kmain, ebpf.UpdateAny))
			}
			want, err := kmain.Run(&ebpf.RunOptions{Data: testPacket})
			must(t, err)
			var wantCount uint64
			must(t, kcnt.Lookup(uint32(0), &wantCount))

			if uint32(got) != want {
				t.Errorf("r0: bpfscope %d, kernel %d", got, want)
			}
			if c := binary.LittleEndian.Uint64(gotCount); c != wantCount {
				t.Errorf("runs of main: bpfscope %d, kernel %d", c, wantCount)
			}
		})
	}
}

func newKernelMap(t *testing.T, s maps.Spec) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.MapType(s.Type), KeySize: s.KeySize, ValueSize: s.ValueSize, MaxEntries: s.MaxEntries, Flags: s.Flags})
	if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.ENOSYS) {
		t.Skipf("bpf() unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestIsTailCallLimit: only the tail call limit lets bpf_tail_call fall
// through; other errors that mention a limit end the run.
func TestIsTailCallLimit(t *testing.T) {
	if !isTailCallLimit(fmt.Errorf("tail call 34: %w", vm.ErrTailCallLimit)) {
		t.Error("wrapped ErrTailCallLimit not recognised")
	}
	if isTailCallLimit(vm.ErrCallDepth) {
		t.Errorf("%v taken for the tail call limit", vm.ErrCallDepth)
	}
}
