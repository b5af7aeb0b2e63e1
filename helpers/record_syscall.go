package helpers

import (
	"encoding/binary"

	"github.com/cilium/ebpf/btf"
)

// Recording and replay of the kernel-state answers (btf.go,
// kernelstate.go). Kernel BTF is an input like the program, not an
// answer: a recording passes the wrapped Env's through, and a replay uses
// the running kernel's unless its embedder wraps it in a KernelBTFEnv.

const (
	EnvPointerHash EnvKind = iota + EnvPidns + 1 // PointerHashEnv.HashPointer: hash; Data the address
	EnvKallsyms                                  // KallsymsEnv.KallsymsLookup: address; Data ok, name
	EnvSysBPF                                    // SyscallEnv.SysBPF: ret; Data ok, cmd, attr in, attr out
	EnvSysClose                                  // SyscallEnv.SysClose: ret; Data ok, fd
	EnvDPath                                     // PathEnv.DPath: ok; Data mnt, dentry, path
	EnvPerfValue                                 // PerfEventEnv.PerfValue: ok; Data counter, enabled, running
	EnvBranchStack                               // PerfEventEnv.BranchStack: has a stack; Data the entries
)

// This file's init runs after record_net.go's (files initialise in name
// order), whose kinds come before these.
func init() {
	for len(envKindNames) < int(EnvPointerHash) {
		envKindNames = append(envKindNames, "")
	}
	envKindNames = append(envKindNames[:EnvPointerHash], "pointer_hash", "kallsyms", "sys_bpf", "sys_close", "d_path",
		"perf_value", "branch_stack")
}

// KernelTypes passes the wrapped Env's kernel BTF through (nil: the Set's
// default).
func (r *RecordingEnv) KernelTypes() *btf.Spec {
	if e, ok := r.env.(KernelBTFEnv); ok {
		return e.KernelTypes()
	}
	return nil
}

func (r *RecordingEnv) HashPointer(addr uint64) uint64 {
	h := (&Set{env: r.env}).hashPointer(addr)
	r.push(EnvValue{Kind: EnvPointerHash, Value: h, Data: binary.LittleEndian.AppendUint64(nil, addr)})
	return h
}

func (r *RecordingEnv) KallsymsLookup(name string) (uint64, bool) {
	addr, ok := (&Set{env: r.env}).kallsyms(name)
	r.push(EnvValue{Kind: EnvKallsyms, Value: addr, Data: append([]byte{boolByte(ok)}, name...)})
	return addr, ok
}

func (r *RecordingEnv) SysBPF(cmd uint32, attr []byte) (int64, bool) {
	in := append(binary.LittleEndian.AppendUint32(nil, cmd), attr...)
	ret, ok := (&Set{env: r.env}).sysBPF(cmd, attr)
	data := append([]byte{boolByte(ok)}, in...)
	r.push(EnvValue{Kind: EnvSysBPF, Value: uint64(ret), Data: append(data, attr...)})
	return ret, ok
}

func (r *RecordingEnv) SysClose(fd uint32) (int64, bool) {
	ret, ok := (&Set{env: r.env}).sysClose(fd)
	r.push(EnvValue{Kind: EnvSysClose, Value: uint64(ret), Data: binary.LittleEndian.AppendUint32([]byte{boolByte(ok)}, fd)})
	return ret, ok
}

func (r *RecordingEnv) DPath(mnt, dentry uint64) (string, bool) {
	path, ok := (&Set{env: r.env}).dPath(mnt, dentry)
	data := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, mnt), dentry)
	r.push(EnvValue{Kind: EnvDPath, Value: uint64(boolByte(ok)), Data: append(data, path...)})
	return path, ok
}

func (r *RecordingEnv) PerfValue() (uint64, uint64, uint64, bool) {
	c, e, n, ok := (&Set{env: r.env}).perfValue()
	data := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, c), e), n)
	r.push(EnvValue{Kind: EnvPerfValue, Value: uint64(boolByte(ok)), Data: data})
	return c, e, n, ok
}

func (r *RecordingEnv) BranchStack() ([]byte, bool) {
	b, ok := (&Set{env: r.env}).branchStack()
	r.push(EnvValue{Kind: EnvBranchStack, Value: uint64(boolByte(ok)), Data: append([]byte(nil), b...)})
	return b, ok
}

func (r *ReplayEnv) PerfValue() (uint64, uint64, uint64, bool) {
	v := r.takeValue(EnvPerfValue)
	if len(v.Data) != 24 {
		return 0, 0, 0, false
	}
	d := v.Data
	return binary.LittleEndian.Uint64(d), binary.LittleEndian.Uint64(d[8:]), binary.LittleEndian.Uint64(d[16:]), v.Value == 1
}

func (r *ReplayEnv) BranchStack() ([]byte, bool) {
	v := r.takeValue(EnvBranchStack)
	return v.Data, v.Value == 1
}

func (r *ReplayEnv) HashPointer(addr uint64) uint64 {
	v := r.takeValue(EnvPointerHash)
	if v.Kind == EnvPointerHash && (len(v.Data) != 8 || binary.LittleEndian.Uint64(v.Data) != addr) {
		r.diverged("pointer %#x hashed, another recorded", addr)
	}
	return v.Value
}

func (r *ReplayEnv) KallsymsLookup(name string) (uint64, bool) {
	v := r.takeValue(EnvKallsyms)
	if v.Kind != EnvKallsyms || len(v.Data) < 1 || string(v.Data[1:]) != name {
		if v.Kind == EnvKallsyms {
			r.diverged("symbol %q looked up, another recorded", name)
		}
		return 0, false
	}
	return v.Value, v.Data[0] == 1
}

func (r *ReplayEnv) SysBPF(cmd uint32, attr []byte) (int64, bool) {
	v := r.takeValue(EnvSysBPF)
	n := len(attr)
	if v.Kind != EnvSysBPF || len(v.Data) != 1+4+2*n || binary.LittleEndian.Uint32(v.Data[1:]) != cmd || string(v.Data[5:5+n]) != string(attr) {
		if v.Kind == EnvSysBPF {
			r.diverged("bpf() command %d with another attr than recorded", cmd)
		}
		return 0, false
	}
	copy(attr, v.Data[5+n:])
	return int64(v.Value), v.Data[0] == 1
}

func (r *ReplayEnv) SysClose(fd uint32) (int64, bool) {
	v := r.takeValue(EnvSysClose)
	if v.Kind != EnvSysClose || len(v.Data) != 5 || binary.LittleEndian.Uint32(v.Data[1:]) != fd {
		if v.Kind == EnvSysClose {
			r.diverged("fd %d closed, another recorded", fd)
		}
		return 0, false
	}
	return int64(v.Value), v.Data[0] == 1
}

func (r *ReplayEnv) DPath(mnt, dentry uint64) (string, bool) {
	v := r.takeValue(EnvDPath)
	if v.Kind != EnvDPath || len(v.Data) < 16 || binary.LittleEndian.Uint64(v.Data) != mnt || binary.LittleEndian.Uint64(v.Data[8:]) != dentry {
		if v.Kind == EnvDPath {
			r.diverged("path of %#x/%#x asked, another recorded", mnt, dentry)
		}
		return "", false
	}
	return string(v.Data[16:]), v.Value == 1
}

// kernelEnv is every kernel-state interface a recording answers for.
type kernelEnv interface {
	PointerHashEnv
	KallsymsEnv
	SyscallEnv
	PathEnv
	PerfEventEnv
}

var (
	_ kernelEnv    = (*RecordingEnv)(nil)
	_ kernelEnv    = (*ReplayEnv)(nil)
	_ KernelBTFEnv = (*RecordingEnv)(nil)
)
