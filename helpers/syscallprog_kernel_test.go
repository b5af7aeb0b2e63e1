package helpers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// syscallCall builds a syscall program that puts name (NUL-padded to a
// multiple of 8) at fp-128, calls fn with r1 = that buffer, r2 = nameSz
// and r3, r4 from args (fp-8 where res is asked for), and stores r0 and
// the u64 at fp-8 in ctx+0 and ctx+8.
func syscallCall(fn asm.BuiltinFunc, name string, nameSz int32, r3, r4 int64, resArg int) asm.Instructions {
	b := []byte(name)
	b = append(b, make([]byte, 8-len(b)%8)...)
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1), stDW(asm.RFP, -8, 0)}
	insns = append(insns, storeBytes(-128, b)...)
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.RFP), asm.Add.Imm(asm.R1, -128),
		asm.Mov.Imm(asm.R2, nameSz),
		asm.LoadImm(asm.R3, r3, asm.DWord),
		asm.LoadImm(asm.R4, r4, asm.DWord))
	if resArg == 4 {
		insns = append(insns, asm.Mov.Reg(asm.R4, asm.RFP), asm.Add.Imm(asm.R4, -8))
	}
	return append(insns, fn.Call(),
		asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, -8, asm.DWord),
		asm.StoreMem(asm.R6, 8, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return())
}

// runSyscallBoth runs a syscall program in the kernel and in bpfscope
// (with env) and returns both ctx_outs; ok is false where the kernel
// refuses the program.
func runSyscallBoth(t *testing.T, insns asm.Instructions, env Env) (got, want []byte, err error) {
	t.Helper()
	p, kerr := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Syscall, Flags: unix.BPF_F_SLEEPABLE, License: "GPL", Instructions: insns})
	if kerr != nil {
		t.Skipf("kernel refuses the syscall program: %v", kerr)
	}
	defer p.Close()
	want = make([]byte, 16)
	if _, err := p.Run(&ebpf.RunOptions{Context: make([]byte, 16), ContextOut: want}); err != nil {
		t.Skipf("test run: %v", err)
	}
	prog, err := vm.FromInstructions("syscall", link(insns))
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(prog, vm.Config{Helpers: New(env)})
	if err != nil {
		t.Fatal(err)
	}
	r := ctx.NewRaw(m, make([]byte, 16), ctx.RawOptions{})
	_, err = m.Run(context.Background(), r.Arg())
	return r.Bytes(), want, err
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bpf() needs root")
	}
}

// TestBtfFindByNameKindKernel compares bpf_btf_find_by_name_kind with the
// kernel's for types of several kinds, names that are not there, and the
// argument errors.
func TestBtfFindByNameKindKernel(t *testing.T) {
	needRoot(t)
	spec := runningKernelTypes()
	if spec == nil {
		t.Skip("no kernel BTF")
	}
	var enum64 string
	for typ := range spec.All() {
		if e, ok := typ.(*btf.Enum); ok && e.Size == 8 && e.Name != "" {
			enum64 = e.Name
			break
		}
	}
	cases := []struct {
		name  string
		sz    int32
		kind  int64
		flags int64
		label string
	}{
		{"sk_buff", 8, 4, 0, "struct"},
		{"int", 4, 1, 0, "int"},
		{"bpf_cmd", 8, 6, 0, "enum"},
		{"__u32", 6, 8, 0, "typedef"},
		{"bpf_prog_test_run_skb", 22, 12, 0, "func"},
		{"sk_buff", 8, 5, 0, "wrong kind"},
		{"no_such_type_here", 18, 4, 0, "absent"},
		{"int\x00tail", 9, 1, 0, "embedded NUL"},
		{"int", 4, 1, 1, "flags"},
		{"int", 1, 1, 0, "size 1"},
		{"int", 3, 1, 0, "not terminated"},
		{"int", 4, 40, 0, "kind beyond"},
	}
	if enum64 != "" {
		cases = append(cases, struct {
			name  string
			sz    int32
			kind  int64
			flags int64
			label string
		}{enum64, int32(len(enum64) + 1), 19, 0, "enum64"})
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			got, want, err := runSyscallBoth(t, syscallCall(asm.FnBtfFindByNameKind, c.name, c.sz, c.kind, c.flags, 0), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("bpfscope %d, kernel %d", int64(binary.LittleEndian.Uint64(got)), int64(binary.LittleEndian.Uint64(want)))
			}
		})
	}
}

// TestKallsymsLookupNameKernel compares bpf_kallsyms_lookup_name with the
// kernel's, bpfscope reading the host's /proc/kallsyms as its Env.
func TestKallsymsLookupNameKernel(t *testing.T) {
	needRoot(t)
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		t.Skip(err)
	}
	syms, err := ParseKallsyms(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if syms["bpf_prog_test_run_skb"] == 0 {
		t.Skip("kallsyms hides addresses (kptr_restrict)")
	}
	env := struct {
		*DefaultEnv
		Kallsyms
	}{NewDefaultEnv(), syms}
	for _, c := range []struct {
		name  string
		sz    int32
		flags int64
	}{
		{"bpf_prog_test_run_skb", 22, 0},
		{"bpf_prog_test_run_xdp", 22, 0},
		{"no_such_symbol_here", 20, 0},
		{"", 2, 0},
		{"bpf_prog_test_run_skb", 22, 1},
		{"bpf_prog_test_run_skb", 1, 0},
		{"bpf_prog_test_run_skb", 21, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, want, err := runSyscallBoth(t, syscallCall(asm.FnKallsymsLookupName, c.name, c.sz, c.flags, 0, 4), env)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("r0, *res: bpfscope %x, kernel %x", got, want)
			}
		})
	}
	// Without a symbol table the run ends, naming the helper.
	_, _, err = runSyscallBoth(t, syscallCall(asm.FnKallsymsLookupName, "bpf_prog_test_run_skb", 22, 0, 0, 4), nil)
	if !errors.Is(err, vm.ErrHelperFailed) || !strings.Contains(err.Error(), "bpf_kallsyms_lookup_name: ") {
		t.Errorf("without KallsymsEnv: %v", err)
	}
}

// TestSysBPFKernel: the commands bpf_sys_bpf refuses are -EINVAL in both;
// an allowed one ends the run without a SyscallEnv, and is the Env's
// answer (recorded and replayed) with one.
func TestSysBPFKernel(t *testing.T) {
	needRoot(t)
	for _, cmd := range []int64{1, 4, 6, 10, 21, 36} { // lookup, next key, obj pin, test run, lookup_and_delete, ...
		got, want, err := runSyscallBoth(t, sysBPFProgram(cmd), nil)
		if err != nil {
			t.Fatalf("cmd %d: %v", cmd, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("cmd %d: bpfscope %d, kernel %d", cmd, int64(binary.LittleEndian.Uint64(got)), int64(binary.LittleEndian.Uint64(want)))
		}
	}
}

// fakeSyscalls answers bpf_sys_bpf by writing into attr and bpf_sys_close
// with -EBADF.
type fakeSyscalls struct{ *DefaultEnv }

func (fakeSyscalls) SysBPF(cmd uint32, attr []byte) (int64, bool) {
	attr[0] = 0xaa
	return int64(cmd) + 100, true
}
func (fakeSyscalls) SysClose(fd uint32) (int64, bool) { return -int64(unix.EBADF), true }

// TestSyscallHelpersEnv: bpf_sys_bpf and bpf_sys_close end the run
// without a SyscallEnv, take its answers with one (the attr it writes
// too), and replay them from a recording.
func TestSyscallHelpersEnv(t *testing.T) {
	prog := func() *vm.Program {
		insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1), stDW(asm.RFP, -64, 0), stDW(asm.RFP, -56, 0),
			asm.Mov.Imm(asm.R1, 22), // BPF_MAP_FREEZE
			asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -64),
			asm.Mov.Imm(asm.R3, 16),
			asm.FnSysBpf.Call(),
			asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord),
			asm.LoadMem(asm.R1, asm.RFP, -64, asm.DWord),
			asm.StoreMem(asm.R6, 8, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R1, 7),
			asm.FnSysClose.Call(),
			asm.StoreMem(asm.R6, 16, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R0, 0), asm.Return()}
		p, err := vm.FromInstructions("syscall", link(insns))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(env Env) ([]byte, error) {
		m, err := vm.New(prog(), vm.Config{Helpers: New(env)})
		if err != nil {
			t.Fatal(err)
		}
		r := ctx.NewRaw(m, make([]byte, 24), ctx.RawOptions{})
		_, err = m.Run(context.Background(), r.Arg())
		return r.Bytes(), err
	}
	if _, err := run(nil); !errors.Is(err, vm.ErrHelperFailed) || !strings.Contains(err.Error(), "bpf_sys_bpf: BPF_MAP_FREEZE") {
		t.Errorf("without SyscallEnv: %v", err)
	}
	rec := Record(fakeSyscalls{NewDefaultEnv()})
	got, err := run(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 24)
	binary.LittleEndian.PutUint64(want, 122)
	want[8] = 0xaa
	ebadf := -int64(unix.EBADF)
	binary.LittleEndian.PutUint64(want[16:], uint64(ebadf))
	if !bytes.Equal(got, want) {
		t.Errorf("with SyscallEnv: %x, want %x", got, want)
	}
	rp := Replay(rec.Log())
	got, err = run(rp)
	if err != nil || !bytes.Equal(got, want) || rp.Err() != nil {
		t.Errorf("replay: %x, %v, %v", got, err, rp.Err())
	}
}

// sysBPFProgram calls bpf_sys_bpf(cmd, fp-64, 32) with a zeroed attr and
// stores r0 at ctx+0.
func sysBPFProgram(cmd int64) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	for i := int16(-64); i < -32; i += 8 {
		insns = append(insns, stDW(asm.RFP, i, 0))
	}
	return append(insns,
		asm.Mov.Imm(asm.R1, int32(cmd)),
		asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -64),
		asm.Mov.Imm(asm.R3, 32),
		asm.FnSysBpf.Call(),
		asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return())
}
