package helpers

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// An oracle test is a hand-assembled XDP program run both in bpfscope and,
// where bpf() works, in the kernel with BPF_PROG_TEST_RUN. The program
// names maps by the fd function it is built with: the map's index for
// bpfscope, a real fd for the kernel.
type oracle struct {
	maps []oracleMap
	// build returns the program; fd(i) is what ld_imm64 carries for map i.
	build func(fd func(int) int) asm.Instructions
}

type oracleMap struct {
	spec    maps.Spec
	entries [][2][]byte // initial contents
	frozen  bool        // read-only .rodata-like map for constant strings
}

// result is what a run produced: r0 and the value at key 0 of every
// array map (the program's outputs).
type result struct {
	ret    uint32
	values [][]byte
}

var testPacket = make([]byte, 64)

// runVM runs the oracle's program in bpfscope.
func (o oracle) runVM(t *testing.T, env Env) (result, *vm.Machine, *Set, []maps.Map) {
	t.Helper()
	var ms []maps.Map
	var vms []vm.Map
	for _, om := range o.maps {
		mp, err := maps.New(&om.spec)
		if err != nil {
			t.Fatalf("map %s: %v", om.spec.Name, err)
		}
		for _, kv := range om.entries {
			if err := mp.Put(kv[0], kv[1], 0); err != nil {
				t.Fatalf("map %s: put: %v", om.spec.Name, err)
			}
		}
		ms = append(ms, mp)
		vms = append(vms, mp)
	}
	p, err := vm.FromInstructions("oracle", link(o.build(func(i int) int { return i })))
	if err != nil {
		t.Fatal(err)
	}
	s := New(env)
	m, err := vm.New(p, vm.Config{Helpers: s, Maps: vms})
	if err != nil {
		t.Fatal(err)
	}
	x, err := ctx.NewXDP(m, testPacket, nil)
	if err != nil {
		t.Fatal(err)
	}
	ret, err := m.Run(context.Background(), x.Arg())
	if err != nil {
		t.Fatalf("bpfscope run: %v", err)
	}
	return result{ret: uint32(ret), values: arrayValues(ms)}, m, s, ms
}

func arrayValues(ms []maps.Map) [][]byte {
	var vals [][]byte
	for _, mp := range ms {
		sp := mp.Spec()
		if sp.Type != maps.Array {
			vals = append(vals, nil)
			continue
		}
		v := make([]byte, mp.UserValueSize())
		mp.Get(make([]byte, 4), v)
		vals = append(vals, v)
	}
	return vals
}

// kernelLoad creates the maps and loads the program in the kernel,
// skipping the test when bpf() is unavailable. A verifier rejection is
// returned as the error.
func (o oracle) kernelLoad(t *testing.T) (*ebpf.Program, []*ebpf.Map, error) {
	t.Helper()
	var kms []*ebpf.Map
	for _, om := range o.maps {
		km, err := ebpf.NewMap(&ebpf.MapSpec{
			Type: ebpf.MapType(om.spec.Type), KeySize: om.spec.KeySize, ValueSize: om.spec.ValueSize,
			MaxEntries: om.spec.MaxEntries, Flags: om.spec.Flags,
		})
		if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.ENOSYS) {
			t.Skipf("bpf() unavailable: %v", err)
		}
		if err != nil {
			t.Fatalf("kernel map %s: %v", om.spec.Name, err)
		}
		t.Cleanup(func() { km.Close() })
		for _, kv := range om.entries {
			if err := km.Update(kv[0], kv[1], ebpf.UpdateAny); err != nil {
				t.Fatalf("kernel map %s: update: %v", om.spec.Name, err)
			}
		}
		if om.frozen {
			if err := km.Freeze(); err != nil {
				t.Fatalf("freeze: %v", err)
			}
		}
		kms = append(kms, km)
	}
	insns := o.build(func(i int) int { return kms[i].FD() })
	withFuncInfo(insns)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		Instructions: insns,
		License:      "GPL",
	})
	if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("bpf() unavailable: %v", err)
	}
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { prog.Close() })
	return prog, kms, nil
}

// runKernel runs the program in the kernel.
func (o oracle) runKernel(t *testing.T) result {
	t.Helper()
	prog, kms, err := o.kernelLoad(t)
	if err != nil {
		t.Fatalf("kernel load: %v", err)
	}
	ret, err := prog.Run(&ebpf.RunOptions{Data: testPacket})
	if err != nil {
		t.Fatalf("kernel run: %v", err)
	}
	var vals [][]byte
	for i, km := range kms {
		if o.maps[i].spec.Type != maps.Array {
			vals = append(vals, nil)
			continue
		}
		v := make([]byte, o.maps[i].spec.ValueSize)
		if err := km.Lookup(uint32(0), &v); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	return result{ret: ret, values: vals}
}

// compare runs both and fails on any difference; it returns the bpfscope
// result for further checks.
func (o oracle) compare(t *testing.T) result {
	t.Helper()
	got, _, _, _ := o.runVM(t, nil)
	want := o.runKernel(t)
	if got.ret != want.ret {
		t.Errorf("r0: bpfscope %d (%#x), kernel %d (%#x)", int32(got.ret), got.ret, int32(want.ret), want.ret)
	}
	for i := range want.values {
		if string(got.values[i]) != string(want.values[i]) {
			t.Errorf("map %d value:\nbpfscope %q\nkernel   %q", i, got.values[i], want.values[i])
		}
	}
	return got
}

// outMap is an array map with one value of size bytes: the program's
// output, compared after the run.
func outMap(size uint32) oracleMap {
	return oracleMap{spec: maps.Spec{Name: "out", Type: maps.Array, KeySize: 4, ValueSize: size, MaxEntries: 1}}
}

// rodata is a frozen, program-read-only array holding s at key 0, where
// constant strings (bpf_snprintf's format) live.
func rodata(s string) oracleMap {
	v := append([]byte(s), 0)
	v = append(v, make([]byte, (8-len(v)%8)%8)...)
	return oracleMap{
		spec:    maps.Spec{Name: "rodata", Type: maps.Array, KeySize: 4, ValueSize: uint32(len(v)), MaxEntries: 1, Flags: maps.FlagRdOnlyProg},
		entries: [][2][]byte{{make([]byte, 4), v}},
		frozen:  true,
	}
}

// storeBytes writes b to the stack at fp+off, 8 bytes at a time (b is
// padded with zeros to a multiple of 8).
func storeBytes(off int16, b []byte) asm.Instructions {
	var insns asm.Instructions
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		copy(w[:], b[i:])
		insns = append(insns,
			asm.LoadImm(asm.R0, int64(binary.LittleEndian.Uint64(w[:])), asm.DWord),
			asm.StoreMem(asm.RFP, off+int16(i), asm.R0, asm.DWord))
	}
	return insns
}

// copyOut copies n bytes (a multiple of 8) from fp+off into the value of
// map fd, saving r0 in r6 first and restoring it after.
func copyOut(fd int, off int16, n int) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R0),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, fd),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
	}
	for i := 0; i < n; i += 8 {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.RFP, off+int16(i), asm.DWord),
			asm.StoreMem(asm.R0, int16(i), asm.R1, asm.DWord))
	}
	return append(insns, asm.Mov.Reg(asm.R0, asm.R6).WithSymbol("out"), asm.Return())
}

// funcPtr loads the address of the function at symbol sym into dst
// (ld_imm64 with BPF_PSEUDO_FUNC).
func funcPtr(dst asm.Register, sym string) asm.Instruction {
	return asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: dst, Src: asm.PseudoFunc, Constant: -1}.WithReference(sym)
}

// link sets the offsets of jumps that name a symbol, as cilium/ebpf does
// when loading into the kernel; vm.FromInstructions takes offsets as given.
func link(insns asm.Instructions) asm.Instructions {
	pcs := map[string]int{}
	pc := 0
	for _, ins := range insns {
		if sym := ins.Symbol(); sym != "" {
			pcs[sym] = pc
		}
		pc += int(ins.Size() / asm.InstructionSize)
	}
	pc = 0
	for i, ins := range insns {
		op := ins.OpCode.JumpOp()
		target, ok := pcs[ins.Reference()]
		switch {
		case !ok:
		case ins.IsLoadOfFunctionPointer():
			insns[i].Constant = int64(target - pc - 1)
		case op != asm.InvalidJumpOp && op != asm.Call && op != asm.Exit:
			insns[i].Offset = int16(target - pc - 1)
		}
		pc += int(ins.Size() / asm.InstructionSize)
	}
	return insns
}

// stDW stores a 64-bit immediate (cilium/ebpf's asm.StoreImm refuses DWord).
func stDW(dst asm.Register, off int16, v int64) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: v}
}

// withFuncInfo gives every function BTF func info, which the verifier
// requires of programs with callbacks.
func withFuncInfo(insns asm.Instructions) {
	u64 := &btf.Int{Name: "u64", Size: 8}
	funcs := map[string]bool{}
	for _, ins := range insns {
		if ins.IsLoadOfFunctionPointer() {
			funcs[ins.Reference()] = true
		}
	}
	for i, ins := range insns {
		if i != 0 && !funcs[ins.Symbol()] {
			continue
		}
		name := ins.Symbol()
		if name == "" {
			name = "main"
			insns[i] = insns[i].WithSymbol(name)
		}
		var params []btf.FuncParam
		if i != 0 {
			for _, p := range []string{"a", "b", "c", "d"} {
				params = append(params, btf.FuncParam{Name: p, Type: u64})
			}
		}
		fn := &btf.Func{Name: name, Type: &btf.FuncProto{Return: u64, Params: params}, Linkage: btf.StaticFunc}
		if i == 0 {
			fn.Linkage = btf.GlobalFunc
		}
		insns[i] = btf.WithFuncMetadata(insns[i], fn)
	}
}
