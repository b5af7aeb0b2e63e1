package helpers

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// bufArg asks callProgram for the buffer's address.
const bufArg = ^uint64(0)

// callProgram calls fn(r1..r3) with the immediates given, except that a
// register set to bufArg gets fp-64 (a zeroed 64-byte buffer); it stores r0 at
// ctx+0 and the buffer at ctx+8.
func callProgram(t *testing.T, fn asm.BuiltinFunc, r1, r2, r3 uint64) *vm.Program {
	t.Helper()
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	for i := int16(-64); i < 0; i += 8 {
		insns = append(insns, stDW(asm.RFP, i, 0))
	}
	for i, v := range []uint64{r1, r2, r3} {
		r := asm.R1 + asm.Register(i)
		if v == bufArg {
			insns = append(insns, asm.Mov.Reg(r, asm.RFP), asm.Add.Imm(r, -64))
		} else {
			insns = append(insns, asm.LoadImm(r, int64(v), asm.DWord))
		}
	}
	insns = append(insns, fn.Call(), asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord))
	for i := int16(0); i < 64; i += 8 {
		insns = append(insns, asm.LoadMem(asm.R1, asm.RFP, -64+i, asm.DWord), asm.StoreMem(asm.R6, 8+i, asm.R1, asm.DWord))
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
	p, err := vm.FromInstructions("call", link(insns))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runCall(t *testing.T, p *vm.Program, env Env) (int64, []byte, error) {
	t.Helper()
	m, err := vm.New(p, vm.Config{Helpers: New(env)})
	if err != nil {
		t.Fatal(err)
	}
	r := ctx.NewRaw(m, make([]byte, 72), ctx.RawOptions{})
	_, err = m.Run(context.Background(), r.Arg())
	return int64(binary.LittleEndian.Uint64(r.Bytes())), r.Bytes()[8:], err
}

type pathEnv struct {
	*DefaultEnv
	Memory
}

func (pathEnv) DPath(mnt, dentry uint64) (string, bool) {
	if mnt == 0x1111 && dentry == 0x2222 {
		return "/tmp/x", true
	}
	return "", false
}

// TestDPath: bpf_d_path reads the struct path through KernelMemory and
// writes the PathEnv's path at the start of buf.
func TestDPath(t *testing.T) {
	const pathAddr = 0xffff888000200000
	var path [16]byte
	binary.LittleEndian.PutUint64(path[:], 0x1111)
	binary.LittleEndian.PutUint64(path[8:], 0x2222)
	env := pathEnv{NewDefaultEnv(), Memory{{Addr: pathAddr, Data: path[:]}}}
	for _, c := range []struct {
		addr    uint64
		sz      uint64
		ret     int64
		buf     string
		errPart string
	}{
		{pathAddr, 64, 7, "/tmp/x\x00", ""},
		{pathAddr, 7, 7, "/tmp/x\x00", ""},
		{pathAddr, 6, -int64(syscall.ENAMETOOLONG), "", ""},
		{pathAddr, 0, 0, "", ""},
		{pathAddr + 0x1000, 64, -int64(syscall.EFAULT), "", ""},
		{0x1000, 64, -int64(syscall.ERANGE), "", ""},
	} {
		ret, buf, err := runCall(t, callProgram(t, asm.FnDPath, c.addr, bufArg, c.sz), env)
		if err != nil || ret != c.ret || !strings.HasPrefix(string(buf), c.buf) {
			t.Errorf("d_path(%#x, buf, %d) = %d %q, %v; want %d %q", c.addr, c.sz, ret, buf[:8], err, c.ret, c.buf)
		}
	}
	_, _, err := runCall(t, callProgram(t, asm.FnDPath, pathAddr, bufArg, 64), pathEnv{NewDefaultEnv(), Memory{{Addr: pathAddr, Data: make([]byte, 16)}}})
	if !errors.Is(err, vm.ErrHelperFailed) || !strings.Contains(err.Error(), "bpf_d_path: ") {
		t.Errorf("unknown path: %v", err)
	}
}

type fileEnv struct {
	*DefaultEnv
	Memory
	Kallsyms
}

// TestSockFromFile: file->private_data when file->f_op is socket_file_ops,
// NULL for other files, and a KernelStateError without the symbol.
func TestSockFromFile(t *testing.T) {
	spec := runningKernelTypes()
	if spec == nil {
		t.Skip("no kernel BTF")
	}
	off, ok := structFileOffsets(spec)
	if !ok {
		t.Skip("no struct file in kernel BTF")
	}
	const fileAddr, ops, sock = 0xffff888000300000, 0xffffffff82000000, 0xffff888000400000
	file := make([]byte, 512)
	binary.LittleEndian.PutUint64(file[off[0]:], ops)
	binary.LittleEndian.PutUint64(file[off[1]:], sock)
	other := append([]byte(nil), file...)
	binary.LittleEndian.PutUint64(other[off[0]:], ops+64)
	env := fileEnv{NewDefaultEnv(), Memory{{Addr: fileAddr, Data: file}, {Addr: fileAddr + 0x1000, Data: other}}, Kallsyms{"socket_file_ops": ops}}
	if ret, _, err := runCall(t, callProgram(t, asm.FnSockFromFile, fileAddr, 0, 0), env); err != nil || uint64(ret) != sock {
		t.Errorf("socket file: %#x, %v", ret, err)
	}
	if ret, _, err := runCall(t, callProgram(t, asm.FnSockFromFile, fileAddr+0x1000, 0, 0), env); err != nil || ret != 0 {
		t.Errorf("other file: %#x, %v", ret, err)
	}
	env.Kallsyms = Kallsyms{}
	if _, _, err := runCall(t, callProgram(t, asm.FnSockFromFile, fileAddr, 0, 0), env); !strings.Contains(fmtErr(err), "bpf_sock_from_file: ") {
		t.Errorf("without socket_file_ops: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestBTFOutputOutsidePacket: bpf_skb_output over a pointer that is not a
// packet of the run ends it, naming the helper.
func TestBTFOutputOutsidePacket(t *testing.T) {
	for _, fn := range []asm.BuiltinFunc{asm.FnSkbOutput, asm.FnXdpOutput} {
		_, _, err := runCall(t, callProgram(t, fn, 0xffff888000500000, 0, 0), nil)
		if !strings.Contains(fmtErr(err), "_output: ") || !strings.Contains(fmtErr(err), "not modelled") {
			t.Errorf("%v: %v", fn, err)
		}
	}
}

type perfEnv struct{ *DefaultEnv }

func (perfEnv) PerfValue() (uint64, uint64, uint64, bool) { return 7, 8, 9, true }
func (perfEnv) BranchStack() ([]byte, bool) {
	b := make([]byte, 48)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b, true
}

// TestPerfEventHelpers: perf_prog_read_value and read_branch_records take
// the event from the PerfEventEnv (recorded and replayed), with the
// kernel's argument errors; without one, read_branch_records finds no
// branch stack and perf_prog_read_value ends the run.
func TestPerfEventHelpers(t *testing.T) {
	for _, c := range []struct {
		fn         asm.BuiltinFunc
		r2, r3, r4 uint64
		env        Env
		ret        int64
		buf        []byte
	}{
		{asm.FnPerfProgReadValue, bufArg, 24, 0, perfEnv{NewDefaultEnv()}, 0, []byte{7, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 9}},
		{asm.FnPerfProgReadValue, bufArg, 16, 0, perfEnv{NewDefaultEnv()}, -int64(syscall.EINVAL), make([]byte, 16)},
		{asm.FnReadBranchRecords, bufArg, 24, 0, perfEnv{NewDefaultEnv()}, 24, []byte{1, 2, 3, 4}},
		{asm.FnReadBranchRecords, bufArg, 64, 1, perfEnv{NewDefaultEnv()}, 48, make([]byte, 8)},
		{asm.FnReadBranchRecords, bufArg, 25, 0, perfEnv{NewDefaultEnv()}, -int64(syscall.EINVAL), nil},
		{asm.FnReadBranchRecords, bufArg, 48, 2, perfEnv{NewDefaultEnv()}, -int64(syscall.EINVAL), nil},
		{asm.FnReadBranchRecords, bufArg, 48, 0, nil, -int64(syscall.ENOENT), nil},
	} {
		for _, env := range []Env{c.env, Record(c.env)} {
			ret, buf, err := runCall4(t, c.fn, c.r2, c.r3, c.r4, env)
			if err != nil || ret != c.ret || !strings.HasPrefix(string(buf), string(c.buf)) {
				t.Errorf("%v(%d, %d): %d %x, %v; want %d %x", c.fn, c.r3, c.r4, ret, buf[:24], err, c.ret, c.buf)
			}
			if rec, ok := env.(*RecordingEnv); ok {
				ret2, buf2, err := runCall4(t, c.fn, c.r2, c.r3, c.r4, Replay(rec.Log()))
				if err != nil || ret2 != ret || string(buf2) != string(buf) {
					t.Errorf("%v replay: %d, %v", c.fn, ret2, err)
				}
			}
		}
	}
	if _, _, err := runCall4(t, asm.FnPerfProgReadValue, bufArg, 24, 0, nil); !strings.Contains(fmtErr(err), "bpf_perf_prog_read_value: ") {
		t.Errorf("without PerfEventEnv: %v", err)
	}
}

// runCall4 is runCall with r1 = ctx and r2..r4 given.
func runCall4(t *testing.T, fn asm.BuiltinFunc, r2, r3, r4 uint64, env Env) (int64, []byte, error) {
	t.Helper()
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	for i := int16(-64); i < 0; i += 8 {
		insns = append(insns, stDW(asm.RFP, i, 0))
	}
	for i, v := range []uint64{r2, r3, r4} {
		r := asm.R2 + asm.Register(i)
		if v == bufArg {
			insns = append(insns, asm.Mov.Reg(r, asm.RFP), asm.Add.Imm(r, -64))
		} else {
			insns = append(insns, asm.LoadImm(r, int64(v), asm.DWord))
		}
	}
	insns = append(insns, asm.Mov.Reg(asm.R1, asm.R6), fn.Call(), asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord))
	for i := int16(0); i < 64; i += 8 {
		insns = append(insns, asm.LoadMem(asm.R1, asm.RFP, -64+i, asm.DWord), asm.StoreMem(asm.R6, 8+i, asm.R1, asm.DWord))
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
	p, err := vm.FromInstructions("call", link(insns))
	if err != nil {
		t.Fatal(err)
	}
	return runCall(t, p, env)
}
