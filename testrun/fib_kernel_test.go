package testrun

import (
	"encoding/binary"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// kernelFib answers bpf_fib_lookup (helpers.FibEnv) with the host
// kernel's FIB, so the differential test compares what a program does with
// the answer, not this machine's routes and forwarding sysctls, which
// bpfscope does not model. It asks through an XDP program that calls
// bpf_fib_lookup in a test run, as the oracle's run of the example does.
type kernelFib struct {
	t    *testing.T
	prog *ebpf.Program
	io   *ebpf.Map // key 0: params (64 bytes), flags (u32), pad, return (s64)
}

const fibIOSize = helpers.FibParamsSize + 16

// fibEnv is the default environment with the kernel's FIB.
type fibEnv struct {
	*helpers.DefaultEnv
	*kernelFib
}

func (e *kernelFib) load() {
	t := e.t
	io, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: fibIOSize, MaxEntries: 1})
	if err != nil {
		t.Fatalf("fib map: %v", err)
	}
	t.Cleanup(func() { io.Close() })
	const params = -helpers.FibParamsSize - 8
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, io.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R7, asm.R0),
	}
	move := func(to, from asm.Register, toOff, fromOff int16) {
		for i := int16(0); i < helpers.FibParamsSize; i += 8 {
			insns = append(insns, asm.LoadMem(asm.R1, from, fromOff+i, asm.DWord), asm.StoreMem(to, toOff+i, asm.R1, asm.DWord))
		}
	}
	move(asm.RFP, asm.R7, params, 0)
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, params),
		asm.Mov.Imm(asm.R3, helpers.FibParamsSize),
		asm.LoadMem(asm.R4, asm.R7, helpers.FibParamsSize, asm.Word),
		asm.FnFibLookup.Call(),
		asm.StoreMem(asm.R7, helpers.FibParamsSize+8, asm.R0, asm.DWord))
	move(asm.R7, asm.RFP, 0, params)
	insns = append(insns, asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), asm.Return())
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: insns, License: "GPL"})
	if err != nil {
		t.Fatalf("fib program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	e.prog, e.io = prog, io
}

// FibLookup implements helpers.FibEnv.
func (e *kernelFib) FibLookup(p *helpers.FibParams, flags uint32) int64 {
	if e.prog == nil {
		e.load()
	}
	in, err := p.MarshalBinary()
	if err != nil {
		e.t.Fatal(err)
	}
	v := make([]byte, fibIOSize)
	copy(v, in)
	binary.LittleEndian.PutUint32(v[helpers.FibParamsSize:], flags)
	if err := e.io.Put(uint32(0), v); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.prog.Run(&ebpf.RunOptions{Data: make([]byte, 60)}); err != nil {
		e.t.Fatalf("fib program: %v", err)
	}
	if err := e.io.Lookup(uint32(0), &v); err != nil {
		e.t.Fatal(err)
	}
	if err := p.UnmarshalBinary(v); err != nil {
		e.t.Fatal(err)
	}
	return int64(binary.LittleEndian.Uint64(v[helpers.FibParamsSize+8:]))
}
