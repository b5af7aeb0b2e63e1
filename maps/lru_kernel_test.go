package maps

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// lruProg is an XDP program that does one operation on an LRU map from a
// 14-byte frame: key (u32), op (u8: 0 lookup, 1 update), update flags
// (u8), value (u64). A lookup returns 1 if the key was found, an update
// the helper's return.
func lruProg(t *testing.T, m *ebpf.Map) *ebpf.Program {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "short"),
		asm.LoadMem(asm.R5, asm.R2, 0, asm.Word),
		asm.StoreMem(asm.R10, -4, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, asm.R2, 6, asm.DWord),
		asm.StoreMem(asm.R10, -16, asm.R5, asm.DWord),
		asm.LoadMem(asm.R7, asm.R2, 4, asm.Byte),
		asm.LoadMem(asm.R8, asm.R2, 5, asm.Byte),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.JNE.Imm(asm.R7, 0, "update"),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "miss"),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("miss"),
		asm.Return(),
		asm.Mov.Reg(asm.R3, asm.R10).WithSymbol("update"),
		asm.Add.Imm(asm.R3, -16),
		asm.Mov.Reg(asm.R4, asm.R8),
		asm.FnMapUpdateElem.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 99).WithSymbol("short"),
		asm.Return(),
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// onCPU pins the calling thread to cpu: the kernel's LRU lists are per
// CPU, and a syscall or test run acts on the CPU its thread is on.
func onCPU(t *testing.T, cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatalf("pin to CPU %d: %v", cpu, err)
	}
}

// TestKernelLRU drives kernel LRU maps and bpfscope's with the same random
// operations — updates (every flag) and deletes from user space on CPU 0,
// lookups and updates from a program on any CPU — and checks after each
// operation that both hold the same keys and returned the same.
func TestKernelLRU(t *testing.T) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Skipf("possible CPUs: %v", err)
	}
	if online := runtime.NumCPU(); online < cpus {
		t.Skipf("%d of %d possible CPUs online: a program cannot run on each", online, cpus)
	}

	type lruCase struct {
		spec *Spec
		keys uint32 // keys are drawn from [0, keys)
		ops  int
	}
	var cases []lruCase
	for _, typ := range []Type{LRUHash, LRUCPUHash} {
		for _, flags := range []uint32{0, FlagNoCommonLRU} {
			for _, n := range []uint32{16, 5, 64, 300} {
				name := fmt.Sprintf("%s/%d", typ, n)
				if flags != 0 {
					name += "/no_common_lru"
				}
				cases = append(cases, lruCase{spec: &Spec{Name: name, Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: n, Flags: flags}, keys: 2*n + 3, ops: 1500})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.spec.Name, func(t *testing.T) {
			// Pinning holds for this goroutine's thread only; the thread
			// ends with the test instead of going back to the pool.
			runtime.LockOSThread()
			km := newKernelMap(t, c.spec.Copy())
			m, err := New(c.spec.Copy(), WithPossibleCPUs(cpus))
			if err != nil {
				t.Fatal(err)
			}
			prog := lruProg(t, km.m)
			r := rand.New(rand.NewPCG(2, uint64(c.spec.MaxEntries)))
			vsize := m.UserValueSize()
			for op := range c.ops {
				key := le32(r.Uint32N(c.keys))
				var what string
				var kerr, merr error
				var kret, mret uint32
				switch r.IntN(8) {
				case 0, 1: // user-space update, on CPU 0
					onCPU(t, userCPU)
					flags := []uint64{UpdateAny, UpdateAny, UpdateNoExist, UpdateExist}[r.IntN(4)]
					value := make([]byte, vsize)
					binary.LittleEndian.PutUint32(value, uint32(op))
					what = fmt.Sprintf("Put(%x, %d)", key, flags)
					kerr = km.call(bpfMapUpdateElem, key, value, flags)
					merr = m.Put(key, value, flags)
				case 2: // user-space delete
					onCPU(t, userCPU)
					what = fmt.Sprintf("Remove(%x)", key)
					kerr = km.call(bpfMapDeleteElem, key, nil, 0)
					merr = m.Remove(key)
				default: // a program's lookup or update on a random CPU
					cpu := r.IntN(cpus)
					onCPU(t, cpu)
					frame := make([]byte, 14)
					copy(frame, key)
					isUpdate := r.IntN(3) == 0
					flags := []uint64{UpdateAny, UpdateNoExist, UpdateExist}[r.IntN(3)]
					if isUpdate {
						frame[4], frame[5] = 1, byte(flags)
						binary.LittleEndian.PutUint64(frame[6:], uint64(op))
					}
					kret, kerr = prog.Run(&ebpf.RunOptions{Data: frame})
					if kerr != nil {
						t.Fatalf("op %d: test run: %v", op, kerr)
					}
					if isUpdate {
						what = fmt.Sprintf("cpu %d: update(%x, %d)", cpu, key, flags)
						mret = uint32(-int32(errnoOf(m.Update(key, frame[6:14], flags, cpu))))
					} else {
						what = fmt.Sprintf("cpu %d: lookup(%x)", cpu, key)
						if _, ok := m.Lookup(key, cpu); ok {
							mret = 1
						}
					}
				}
				if ke, me := errnoOf(kerr), errnoOf(merr); ke != me || kret != mret {
					t.Fatalf("op %d: %s: kernel %v/%d, got %v/%d", op, what, kerr, int32(kret), merr, int32(mret))
				}
				if ks, ms := kernelKeys(t, km, 4), slices.Collect(m.Keys()); !sameKeys(ks, ms, false) {
					t.Fatalf("op %d: after %s: kernel keys (%d), got (%d): only the kernel's %x, only ours %x", op, what, len(ks), len(ms), minus(ks, ms), minus(ms, ks))
				}
			}
		})
	}
}

// minus lists the keys of a missing from b.
func minus(a, b [][]byte) [][]byte {
	var out [][]byte
	for _, k := range a {
		if !slices.ContainsFunc(b, func(x []byte) bool { return bytes.Equal(x, k) }) {
			out = append(out, k)
		}
	}
	return out
}
