package helpers_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
)

// localStorageProgram reads the first two words of the shared (map fd
// cg) and per-CPU (map fd pcg) cgroup storage into the out map, writes
// the storage and reads it back.
func localStorageProgram(out, cg, pcg int) asm.Instructions {
	insns := asm.Instructions{asm.LoadMapValue(asm.R7, out, 0)}
	for i, fd := range []int{cg, pcg} {
		o := int16(32 * i)
		insns = append(insns,
			asm.LoadMapPtr(asm.R1, fd),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnGetLocalStorage.Call(),
			asm.Mov.Reg(asm.R8, asm.R0),
			asm.LoadMem(asm.R1, asm.R8, 0, asm.DWord),
			asm.StoreMem(asm.R7, o, asm.R1, asm.DWord),
			asm.LoadMem(asm.R1, asm.R8, 8, asm.DWord),
			asm.StoreMem(asm.R7, o+8, asm.R1, asm.DWord),
			asm.LoadImm(asm.R1, 0x1122334455667788+int64(i), asm.DWord),
			asm.StoreMem(asm.R8, 8, asm.R1, asm.DWord),
			asm.LoadMem(asm.R1, asm.R8, 8, asm.DWord),
			asm.StoreMem(asm.R7, o+16, asm.R1, asm.DWord),
			// The same storage again.
			asm.LoadMapPtr(asm.R1, fd),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnGetLocalStorage.Call(),
			asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
			asm.StoreMem(asm.R7, o+24, asm.R1, asm.DWord),
		)
	}
	return append(insns, asm.Mov.Imm(asm.R0, 1), asm.Return())
}

// TestGetLocalStorageKernel runs a cgroup_skb program with shared and
// per-CPU cgroup storage twice in BPF_PROG_TEST_RUN and in bpfscope: each
// run starts from zeroed storage, sees its own writes, and leaves no value
// in the maps.
func TestGetLocalStorageKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bpf() unavailable: not root")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skip(err)
	}
	const outSize = 64
	frame := make([]byte, 64)
	frame[12], frame[13] = 0x08, 0x00

	// Kernel.
	out, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: outSize, MaxEntries: 1})
	if err != nil {
		t.Skipf("bpf() unavailable: %v", err)
	}
	defer out.Close()
	cg, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.CGroupStorage, KeySize: 16, ValueSize: 24})
	if err != nil {
		t.Skipf("cgroup storage: %v", err)
	}
	defer cg.Close()
	pcg, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUCGroupStorage, KeySize: 8, ValueSize: 16})
	if err != nil {
		t.Skipf("per-CPU cgroup storage: %v", err)
	}
	defer pcg.Close()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupSKB, License: "GPL",
		Instructions: localStorageProgram(out.FD(), cg.FD(), pcg.FD())})
	if err != nil {
		t.Skipf("kernel rejects: %v", err)
	}
	defer p.Close()
	var kernel [][]byte
	for range 2 {
		ret, err := p.Run(&ebpf.RunOptions{Data: frame})
		if err != nil {
			t.Skipf("test run: %v", err)
		}
		v := make([]byte, outSize)
		if err := out.Lookup(uint32(0), v); err != nil {
			t.Fatal(err)
		}
		kernel = append(kernel, append(binary.LittleEndian.AppendUint32(nil, ret), v...))
	}
	if binary.LittleEndian.Uint64(kernel[1][4+24:]) != 0x1122334455667788 || binary.LittleEndian.Uint64(kernel[1][4+8:]) != 0 {
		t.Fatalf("kernel: storage not zeroed per run or write not seen: %x", kernel[1])
	}
	var key [16]byte
	if err := cg.Lookup(key[:], make([]byte, 24)); err == nil {
		t.Error("the kernel's cgroup storage map holds a value")
	}

	// bpfscope.
	var code bytes.Buffer
	if err := localStorageProgram(0, 1, 2).Marshal(&code, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	prog, err := vm.Load("cg", code.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var vms []vm.Map
	var outMap maps.Map
	for _, s := range []maps.Spec{
		{Name: "out", Type: maps.Array, KeySize: 4, ValueSize: outSize, MaxEntries: 1},
		{Name: "cg", Type: maps.CgroupStorage, KeySize: 16, ValueSize: 24},
		{Name: "pcg", Type: maps.PerCPUCgroupStorage, KeySize: 8, ValueSize: 16},
	} {
		mp, err := maps.New(&s)
		if err != nil {
			t.Fatal(err)
		}
		if outMap == nil {
			outMap = mp
		}
		vms = append(vms, mp)
	}
	m, err := vm.New(prog, vm.Config{Helpers: helpers.New(nil), Maps: vms})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		k, err := ctx.NewSKB(m, ebpf.CGroupSKB, frame, nil)
		if err != nil {
			t.Fatal(err)
		}
		ret, err := m.Run(context.Background(), k.Arg())
		if err != nil {
			t.Fatal(err)
		}
		v := make([]byte, outSize)
		if err := outMap.Get(make([]byte, 4), v); err != nil {
			t.Fatal(err)
		}
		got := append(binary.LittleEndian.AppendUint32(nil, uint32(ret)), v...)
		if !bytes.Equal(got, kernel[i]) {
			t.Errorf("run %d:\nbpfscope %x\nkernel   %x", i, got, kernel[i])
		}
	}
	if err := vms[1].(maps.Map).Get(key[:], make([]byte, 24)); err != maps.ENOENT {
		t.Errorf("bpfscope's cgroup storage map: lookup %v, want ENOENT", err)
	}
}
