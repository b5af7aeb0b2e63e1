package cbpf

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/vm"
)

// AuditArchX8664 is AUDIT_ARCH_X86_64, seccomp_data.arch of a 64-bit x86
// system call.
const AuditArchX8664 = 0xc000003e

// SeccompData is struct seccomp_data: what a seccomp filter sees of one
// system call.
type SeccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// Bytes lays d out as the kernel does (host byte order).
func (d SeccompData) Bytes() []byte {
	b := make([]byte, SeccompDataSize)
	binary.LittleEndian.PutUint32(b[0:], uint32(d.Nr))
	binary.LittleEndian.PutUint32(b[4:], d.Arch)
	binary.LittleEndian.PutUint64(b[8:], d.InstructionPointer)
	for i, a := range d.Args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// describeSeccompData names an offset of struct seccomp_data for traces.
func describeSeccompData(off uint32) string {
	half := func(base uint32, name string) string {
		if off-base >= 4 {
			return name + ".hi"
		}
		return name
	}
	switch {
	case off < 4:
		return "seccomp_data.nr"
	case off < 8:
		return "seccomp_data.arch"
	case off < 16:
		return half(8, "seccomp_data.instruction_pointer")
	case off < SeccompDataSize:
		i := (off - 16) / 8
		return half(16+8*i, fmt.Sprintf("seccomp_data.args[%d]", i))
	}
	return fmt.Sprintf("seccomp_data+%d", off)
}

// Seccomp return values (include/uapi/linux/seccomp.h).
const (
	RetKillProcess Action = 0x80000000
	RetKillThread  Action = 0x00000000
	RetTrap        Action = 0x00030000
	RetErrno       Action = 0x00050000
	RetUserNotif   Action = 0x7fc00000
	RetTrace       Action = 0x7ff00000
	RetLog         Action = 0x7ffc0000
	RetAllow       Action = 0x7fff0000

	retActionFull = 0xffff0000
	retData       = 0x0000ffff
)

// Action is a seccomp filter's return value.
type Action uint32

// Kind is the action without its data (SECCOMP_RET_ACTION_FULL). A value
// the kernel does not know acts as RetKillProcess (seccomp_run_filters).
func (a Action) Kind() Action {
	switch k := a & retActionFull; k {
	case RetKillProcess, RetKillThread, RetTrap, RetErrno, RetUserNotif, RetTrace, RetLog, RetAllow:
		return k
	}
	return RetKillProcess
}

// Data is the action's SECCOMP_RET_DATA: the errno of ERRNO, the value a
// tracer or SIGSYS handler sees.
func (a Action) Data() uint16 { return uint16(a & retData) }

// Name is the action's name without its data: "SECCOMP_RET_ERRNO".
func (a Action) Name() string {
	names := map[Action]string{
		RetKillProcess: "KILL_PROCESS", RetKillThread: "KILL_THREAD", RetTrap: "TRAP", RetErrno: "ERRNO",
		RetUserNotif: "USER_NOTIF", RetTrace: "TRACE", RetLog: "LOG", RetAllow: "ALLOW",
	}
	return "SECCOMP_RET_" + names[a.Kind()]
}

// String is the action with its data: "SECCOMP_RET_ERRNO(13 EACCES)".
func (a Action) String() string {
	k := a.Kind()
	s := a.Name()
	switch {
	case k == RetErrno:
		s += fmt.Sprintf("(%d", a.Data())
		if a.Data() != 0 {
			if name := errnoName(syscall.Errno(a.Data())); name != "" {
				s += " " + name
			}
		}
		s += ")"
	case (k == RetTrap || k == RetTrace) && a.Data() != 0:
		s += fmt.Sprintf("(%d)", a.Data())
	}
	if a&retActionFull != k {
		s += fmt.Sprintf(" (unknown action %#x acts as KILL_PROCESS)", uint32(a))
	}
	return s
}

// errnoName is the E-constant name of e, "" if unknown.
func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{
		syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.EINTR: "EINTR", syscall.EIO: "EIO",
		syscall.EBADF: "EBADF", syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM", syscall.EACCES: "EACCES",
		syscall.EFAULT: "EFAULT", syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST", syscall.EINVAL: "EINVAL",
		syscall.ENOSYS: "ENOSYS", syscall.ENOTSUP: "EOPNOTSUPP", syscall.EAFNOSUPPORT: "EAFNOSUPPORT",
		syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ESRCH: "ESRCH", syscall.ENOTTY: "ENOTTY",
	}
	return names[e]
}

// Syscall returns the x86-64 number of a system call by name ("openat"),
// or parses a number.
func Syscall(name string) (int32, error) {
	if nr, ok := syscallsX8664[name]; ok {
		return nr, nil
	}
	if n, err := strconv.ParseInt(name, 0, 32); err == nil {
		return int32(n), nil
	}
	return 0, fmt.Errorf("unknown x86-64 system call %q", name)
}

// SyscallName is the x86-64 name of a system call number, "" if unknown.
func SyscallName(nr int32) string {
	for name, n := range syscallsX8664 {
		if n == nr {
			return name
		}
	}
	return ""
}

// ParseSyscall reads one system call as the command takes it: a name or
// number followed by up to six arguments, "openat 0xffffff9c 0 2"; arch
// is x86-64.
func ParseSyscall(s string) (SeccompData, error) {
	f := strings.Fields(strings.NewReplacer(",", " ", "(", " ", ")", " ").Replace(s))
	if len(f) == 0 {
		return SeccompData{}, fmt.Errorf("no system call given")
	}
	nr, err := Syscall(f[0])
	if err != nil {
		return SeccompData{}, err
	}
	if len(f) > 7 {
		return SeccompData{}, fmt.Errorf("%s: %d arguments, a system call has at most 6", f[0], len(f)-1)
	}
	d := SeccompData{Nr: nr, Arch: AuditArchX8664}
	for i, a := range f[1:] {
		v, err := strconv.ParseUint(a, 0, 64)
		if err != nil {
			iv, err2 := strconv.ParseInt(a, 0, 64)
			if err2 != nil {
				return SeccompData{}, fmt.Errorf("%s: argument %d %q is not a number", f[0], i+1, a)
			}
			v = uint64(iv)
		}
		d.Args[i] = v
	}
	return d, nil
}

// ParseSyscallsJSON reads a JSON list of system calls:
// [{"nr": "openat", "args": [4294967196, 0], "arch": 3221225534, "ip": 0}];
// nr is a name or a number, arch defaults to x86-64.
func ParseSyscallsJSON(b []byte) ([]SeccompData, error) {
	var list []struct {
		Nr   json.RawMessage `json:"nr"`
		Args []uint64        `json:"args"`
		Arch *uint32         `json:"arch"`
		IP   uint64          `json:"ip"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("system calls: %w", err)
	}
	out := make([]SeccompData, 0, len(list))
	for i, c := range list {
		var name string
		if err := json.Unmarshal(c.Nr, &name); err != nil {
			var n int32
			if err := json.Unmarshal(c.Nr, &n); err != nil {
				return nil, fmt.Errorf("system call %d: nr must be a name or a number", i)
			}
			name = strconv.Itoa(int(n))
		}
		nr, err := Syscall(name)
		if err != nil {
			return nil, fmt.Errorf("system call %d: %w", i, err)
		}
		if len(c.Args) > 6 {
			return nil, fmt.Errorf("system call %d: %d arguments, at most 6", i, len(c.Args))
		}
		d := SeccompData{Nr: nr, Arch: AuditArchX8664, InstructionPointer: c.IP}
		if c.Arch != nil {
			d.Arch = *c.Arch
		}
		copy(d.Args[:], c.Args)
		out = append(out, d)
	}
	return out, nil
}

// SeccompRunner runs a seccomp filter on system calls. It is not safe for
// concurrent use.
type SeccompRunner struct {
	m    *vm.Machine
	data []byte
}

// NewSeccompRunner prepares a machine for p, a Seccomp-mode program.
func (p *Program) NewSeccompRunner(env helpers.Env, cfg vm.Config) (*SeccompRunner, error) {
	if p.Mode != Seccomp {
		return nil, fmt.Errorf("%w: a %s filter is not a seccomp filter", ErrMode, p.Mode)
	}
	m, err := p.Machine(env, cfg)
	if err != nil {
		return nil, err
	}
	return &SeccompRunner{m: m, data: make([]byte, SeccompDataSize)}, nil
}

// Machine is the machine the filter runs in, for hooks.
func (r *SeccompRunner) Machine() *vm.Machine { return r.m }

// Run runs the filter on one system call.
func (r *SeccompRunner) Run(ctx context.Context, d SeccompData) (Action, error) {
	r.m.Reset()
	copy(r.data, d.Bytes())
	addr := r.m.Map(&vm.Region{Name: "seccomp_data", Data: r.data, ReadOnly: true, Describe: describeSeccompData})
	if ctx == nil {
		ctx = context.Background()
	}
	r0, err := r.m.Run(ctx, addr)
	return Action(uint32(r0)), err
}

// SyscallNames lists the known x86-64 system call names, sorted.
func SyscallNames() []string {
	names := make([]string, 0, len(syscallsX8664))
	for n := range syscallsX8664 {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
