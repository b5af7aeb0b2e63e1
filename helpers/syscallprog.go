package helpers

import (
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Helpers of syscall programs (and of the tracing types, for d_path and
// the output helpers) that reach into the kernel's or the calling
// process's state: kernel BTF and symbols, the bpf() and close() system
// calls, paths, files. Each answers what it can from its arguments as the
// kernel does, and the rest from the Env (kernelstate.go), or ends the run
// with a KernelStateError naming what was missing.

func init() {
	register(asm.FnBtfFindByNameKind, "bpf_btf_find_by_name_kind", btfFindByNameKind)
	register(asm.FnKallsymsLookupName, "bpf_kallsyms_lookup_name", kallsymsLookupName)
	register(asm.FnSysBpf, "bpf_sys_bpf", sysBPF)
	register(asm.FnSysClose, "bpf_sys_close", sysClose)
	register(asm.FnDPath, "bpf_d_path", dPath)
	register(asm.FnSockFromFile, "bpf_sock_from_file", sockFromFile)
	register(asm.FnSkbOutput, "bpf_skb_output", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return btfPacketOutput(s, m, a, "bpf_skb_output", "struct sk_buff")
	})
	register(asm.FnXdpOutput, "bpf_xdp_output", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return btfPacketOutput(s, m, a, "bpf_xdp_output", "struct xdp_buff")
	})
}

// nameArg is the name argument of the lookup helpers (name, name_sz): at
// least two bytes, the last a NUL (else -EINVAL); the name ends at the
// first NUL, as the kernel's strcmp reads it.
func nameArg(m *vm.Machine, addr uint64, size int32) (string, bool, error) {
	if size <= 1 {
		return "", false, nil
	}
	b, err := m.Bytes(addr, int(size), false)
	if err != nil {
		return "", false, err
	}
	if b[size-1] != 0 {
		return "", false, nil
	}
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), true, nil
		}
	}
	return "", false, nil
}

// btfKindOf is BTF_INFO_KIND of a type.
func btfKindOf(t btf.Type) int {
	switch t := t.(type) {
	case *btf.Void:
		return 0
	case *btf.Int:
		return 1
	case *btf.Pointer:
		return 2
	case *btf.Array:
		return 3
	case *btf.Struct:
		return 4
	case *btf.Union:
		return 5
	case *btf.Enum:
		if t.Size == 8 {
			return 19 // BTF_KIND_ENUM64
		}
		return 6
	case *btf.Fwd:
		return 7
	case *btf.Typedef:
		return 8
	case *btf.Volatile:
		return 9
	case *btf.Const:
		return 10
	case *btf.Restrict:
		return 11
	case *btf.Func:
		return 12
	case *btf.FuncProto:
		return 13
	case *btf.Var:
		return 14
	case *btf.Datasec:
		return 15
	case *btf.Float:
		return 16
	case *btf.TypeTag:
		return 18
	}
	return btfKind(t) // declTag
}

// btfIndex maps (kind, name) to the first type id with them, for the last
// spec asked about: btf_find_by_name_kind's linear search, done once.
var btfIndex struct {
	sync.Mutex
	spec *btf.Spec
	ids  map[btfKey]btf.TypeID
}

type btfKey struct {
	kind int
	name string
}

func firstTypeID(spec *btf.Spec, kind int, name string) (btf.TypeID, bool) {
	btfIndex.Lock()
	defer btfIndex.Unlock()
	if btfIndex.spec != spec {
		m := map[btfKey]btf.TypeID{}
		for t, err := range spec.All() {
			if err != nil {
				break
			}
			id, err := spec.TypeID(t)
			if err != nil {
				continue
			}
			k := btfKey{btfKindOf(t), typeName(t)}
			if old, ok := m[k]; !ok || id < old {
				m[k] = id
			}
		}
		btfIndex.spec, btfIndex.ids = spec, m
	}
	id, ok := btfIndex.ids[btfKey{kind, name}]
	return id, ok
}

// btfFindByNameKind is bpf_btf_find_by_name_kind(name, name_sz, kind,
// flags): the first vmlinux type id of that kind and name; -EINVAL for
// flags or a name that is not NUL-terminated, -ENOENT when none. The kernel
// then searches module BTF and returns the module BTF's new fd in the high
// 32 bits; bpfscope has only the kernel BTF of KernelBTFEnv, so module
// types are not found (-ENOENT).
func btfFindByNameKind(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	if int32(a[3]) != 0 {
		return neg(syscall.EINVAL), nil
	}
	name, ok, err := nameArg(m, a[0], int32(a[1]))
	if err != nil || !ok {
		return neg(syscall.EINVAL), err
	}
	spec := s.kernelTypes()
	if spec == nil {
		return neg(syscall.EINVAL), nil
	}
	if err := m.Charge(64); err != nil { // a hash lookup; the kernel scans
		return 0, err
	}
	id, ok := firstTypeID(spec, int(uint32(a[2])), name)
	if !ok || id == 0 {
		return neg(syscall.ENOENT), nil
	}
	return uint64(id), nil
}

// kallsymsLookupName is bpf_kallsyms_lookup_name(name, name_sz, flags,
// res): *res is the symbol's address, 0 and -ENOENT if none; -EINVAL for
// flags or a name that is not NUL-terminated (res untouched). The
// addresses come from the Env's KallsymsEnv.
func kallsymsLookupName(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	if int32(a[2]) != 0 {
		return neg(syscall.EINVAL), nil
	}
	name, ok, err := nameArg(m, a[0], int32(a[1]))
	if err != nil || !ok {
		return neg(syscall.EINVAL), err
	}
	res, err := m.Bytes(a[3], 8, true)
	if err != nil {
		return 0, err
	}
	var addr uint64
	if name != "" { // kallsyms_lookup_name skips the empty name
		if addr, ok = s.kallsyms(name); !ok {
			return 0, kernelStateError(m, "bpf_kallsyms_lookup_name", fmt.Sprintf("the address of %q is the running kernel's (per boot): give the Env a KallsymsEnv (helpers.ParseKallsyms of /proc/kallsyms)", name))
		}
	}
	binary.LittleEndian.PutUint64(res, addr)
	if addr == 0 {
		return neg(syscall.ENOENT), nil
	}
	return 0, nil
}

// The bpf() commands bpf_sys_bpf lets a syscall program run.
var sysBPFCommands = map[uint32]string{
	0: "BPF_MAP_CREATE", 2: "BPF_MAP_UPDATE_ELEM", 3: "BPF_MAP_DELETE_ELEM", 5: "BPF_PROG_LOAD",
	14: "BPF_MAP_GET_FD_BY_ID", 17: "BPF_RAW_TRACEPOINT_OPEN", 18: "BPF_BTF_LOAD", 22: "BPF_MAP_FREEZE",
	28: "BPF_LINK_CREATE",
}

// sysBPF is bpf_sys_bpf(cmd, attr, attr_size): -EINVAL for the commands
// it does not allow; the others run the bpf() system call in the kernel,
// which bpfscope asks of the Env's SyscallEnv (attr is the program's, and
// what the answer writes into it the program sees).
func sysBPF(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	cmd := uint32(a[0])
	name, ok := sysBPFCommands[cmd]
	if !ok {
		return neg(syscall.EINVAL), nil
	}
	attr, err := m.Bytes(a[1], int(uint32(a[2])), true)
	if err != nil {
		return 0, err
	}
	ret, ok := s.sysBPF(cmd, attr)
	if !ok {
		return 0, kernelStateError(m, "bpf_sys_bpf", name+" runs the bpf() system call in the kernel: give the Env a SyscallEnv")
	}
	return uint64(ret), nil
}

// sysClose is bpf_sys_close(fd): close_fd in the process running the
// test, which bpfscope asks of the Env's SyscallEnv.
func sysClose(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	ret, ok := s.sysClose(uint32(a[0]))
	if !ok {
		return 0, kernelStateError(m, "bpf_sys_close", fmt.Sprintf("closing fd %d acts on the process running the test: give the Env a SyscallEnv", uint32(a[0])))
	}
	return uint64(ret), nil
}

// dPath is bpf_d_path(path, buf, sz): 0 for sz 0; the error reading the
// struct path (its vfsmount and dentry pointers, through KernelMemory);
// else the path the Env's PathEnv gives, NUL-terminated at the start of
// buf, and its length with the NUL, or -ENAMETOOLONG when it does not
// fit.
func dPath(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	sz := int(uint32(a[2]))
	if sz == 0 {
		return 0, nil
	}
	buf, err := m.Bytes(a[1], sz, true)
	if err != nil {
		return 0, err
	}
	var p [16]byte
	if err := s.readHost(m, a[0], p[:], false); err != nil {
		return errnoRet(err)
	}
	mnt, dentry := binary.LittleEndian.Uint64(p[:]), binary.LittleEndian.Uint64(p[8:])
	path, ok := s.dPath(mnt, dentry)
	if !ok {
		return 0, kernelStateError(m, "bpf_d_path", fmt.Sprintf("the path of vfsmount %#x, dentry %#x is the kernel's: give the Env a PathEnv", mnt, dentry))
	}
	if len(path)+1 > sz {
		return neg(syscall.ENAMETOOLONG), nil
	}
	buf[copy(buf, path)] = 0
	return uint64(len(path) + 1), nil
}

// structFileOffsets returns offsetof(struct file, f_op) and (…,
// private_data) in a kernel BTF.
func structFileOffsets(spec *btf.Spec) ([2]uint32, bool) {
	var st *btf.Struct
	if err := spec.TypeByName("file", &st); err != nil {
		return [2]uint32{}, false
	}
	var off [2]uint32
	found := 0
	for _, mb := range st.Members {
		switch mb.Name {
		case "f_op":
			off[0] = uint32(mb.Offset / 8)
			found++
		case "private_data":
			off[1] = uint32(mb.Offset / 8)
			found++
		}
	}
	return off, found == 2
}

// sockFromFile is bpf_sock_from_file(file): file->private_data if
// file->f_op is &socket_file_ops, else NULL. The file is kernel memory
// (KernelMemory), the struct layout the kernel BTF's, and the address of
// socket_file_ops the KallsymsEnv's; without them the run ends with a
// KernelStateError.
func sockFromFile(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	const name = "bpf_sock_from_file"
	spec := s.kernelTypes()
	if spec == nil {
		return 0, kernelStateError(m, name, "struct file's layout needs kernel BTF: give the Env a KernelBTFEnv")
	}
	off, ok := structFileOffsets(spec)
	if !ok {
		return 0, kernelStateError(m, name, "the kernel BTF has no struct file with f_op and private_data")
	}
	var fop [8]byte
	if err := s.readHost(m, a[0]+uint64(off[0]), fop[:], false); err != nil {
		return 0, kernelStateError(m, name, fmt.Sprintf("struct file at %#x is kernel memory the Env's KernelMemory does not map (%v)", a[0], err))
	}
	ops, ok := s.kallsyms("socket_file_ops")
	if !ok || ops == 0 { // data symbols are listed with CONFIG_KALLSYMS_ALL only
		return 0, kernelStateError(m, name, "the address of socket_file_ops is the running kernel's: give the Env a KallsymsEnv")
	}
	if binary.LittleEndian.Uint64(fop[:]) != ops {
		return 0, nil
	}
	var priv [8]byte
	if err := s.readHost(m, a[0]+uint64(off[1]), priv[:], false); err != nil {
		return 0, kernelStateError(m, name, fmt.Sprintf("struct file at %#x is kernel memory the Env's KernelMemory does not map (%v)", a[0], err))
	}
	return binary.LittleEndian.Uint64(priv[:]), nil
}

// btfPacketOutput is bpf_skb_output and bpf_xdp_output(ctx, map, flags,
// data, size), the tracing forms of perf_event_output over a kernel
// sk_buff or xdp_buff: over a packet context bpfscope runs, it is
// bpf_perf_event_output with the packet bytes the flags ask for; any other
// pointer is a kernel object bpfscope does not have.
func btfPacketOutput(s *Set, m *vm.Machine, a vm.Args, name, obj string) (uint64, error) {
	if _, ok := packetArg(m, a[0]); !ok {
		return 0, kernelStateError(m, name, fmt.Sprintf("%#x is not a packet of this run: a kernel %s is not modelled", a[0], obj))
	}
	return perfEventOutput(s, m, a)
}
