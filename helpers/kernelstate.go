package helpers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/vm"
)

// ErrKernelState is what a run ends with at a helper whose answer depends
// on kernel state that neither a test run nor the Env provides (see
// KernelStateError).
var ErrKernelState = errors.New("the helper needs kernel state this run does not have")

// KernelStateError names the helper and the state it needed. Runs end with
// it where the kernel's answer cannot be known (or where the kernel itself
// would fault), rather than with a guess.
type KernelStateError struct {
	Helper string
	State  string // what was missing, and how to provide it
}

func (e *KernelStateError) Error() string { return e.Helper + ": " + e.State }

func (e *KernelStateError) Unwrap() error { return ErrKernelState }

// kernelStateError ends the run at helper for want of state: a
// vm.RunError (ErrHelperFailed, as the vm reports a failed helper) whose
// Cause is the KernelStateError, so errors.As finds it.
func kernelStateError(m *vm.Machine, helper, state string) error {
	e := &KernelStateError{Helper: helper, State: state}
	return &vm.RunError{Err: vm.ErrHelperFailed, PC: m.PC(), Prog: m.Program().Name, Regs: m.Regs(),
		Depth: m.Depth(), Insns: m.Insns(), Msg: e.Error(), Cause: e}
}

// KallsymsEnv answers bpf_kallsyms_lookup_name: the address of a kernel
// symbol (0 if there is none), and false where it has no symbol table.
// Default: no symbol table, so the helper ends the run with a
// KernelStateError (addresses change at each boot with KASLR: no default
// could match the kernel's). Kallsyms is a ready-made one.
type KallsymsEnv interface {
	KallsymsLookup(name string) (addr uint64, ok bool)
}

// SyscallEnv answers the helpers of syscall programs that act on the
// process running the test: bpf_sys_bpf, for the commands it allows
// (attr as the program passed it; the answer may write into it as the
// kernel writes back), and bpf_sys_close. ok false: no answer. Default:
// no answer, so both end the run with a KernelStateError, except for
// what the helpers refuse before reaching the kernel's state (commands
// bpf_sys_bpf does not allow: -EINVAL).
type SyscallEnv interface {
	SysBPF(cmd uint32, attr []byte) (ret int64, ok bool)
	SysClose(fd uint32) (ret int64, ok bool)
}

// PathEnv answers bpf_d_path: the path of the struct path whose vfsmount
// and dentry pointers are given, false if it cannot say. Default: none,
// so the helper ends the run with a KernelStateError.
type PathEnv interface {
	DPath(mnt, dentry uint64) (path string, ok bool)
}

// Kallsyms is a KallsymsEnv over a symbol list: name to address.
type Kallsyms map[string]uint64

// KallsymsLookup implements KallsymsEnv.
func (k Kallsyms) KallsymsLookup(name string) (uint64, bool) { return k[name], true }

// ParseKallsyms reads a /proc/kallsyms listing ("address type name
// [module]" lines), keeping the first address of each name, as
// kallsyms_lookup_name finds the first of equal names. Symbols of modules
// are kept too (module_kallsyms_lookup_name), after those of vmlinux.
func ParseKallsyms(r io.Reader) (Kallsyms, error) {
	k := Kallsyms{}
	mods := map[string]uint64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("kallsyms: %q: %w", sc.Text(), err)
		}
		dst := k
		if len(f) > 3 {
			dst = mods
		}
		if _, ok := dst[f[2]]; !ok {
			dst[f[2]] = addr
		}
	}
	for n, a := range mods {
		if _, ok := k[n]; !ok {
			k[n] = a
		}
	}
	return k, sc.Err()
}

func (s *Set) kallsyms(name string) (uint64, bool) {
	if e, ok := s.env.(KallsymsEnv); ok {
		return e.KallsymsLookup(name)
	}
	return 0, false
}

func (s *Set) sysBPF(cmd uint32, attr []byte) (int64, bool) {
	if e, ok := s.env.(SyscallEnv); ok {
		return e.SysBPF(cmd, attr)
	}
	return 0, false
}

func (s *Set) sysClose(fd uint32) (int64, bool) {
	if e, ok := s.env.(SyscallEnv); ok {
		return e.SysClose(fd)
	}
	return 0, false
}

func (s *Set) dPath(mnt, dentry uint64) (string, bool) {
	if e, ok := s.env.(PathEnv); ok {
		return e.DPath(mnt, dentry)
	}
	return "", false
}
