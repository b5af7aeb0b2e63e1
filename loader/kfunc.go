package loader

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"sync"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// kfuncsBTF holds the prototypes of the kfuncs package helpers implements,
// as Linux 6.18 declares them, for hosts without kernel BTF. Regenerate
// with go test ./loader -run TestBundledKfuncBTF -update-kfuncs.
//
//go:embed kfuncs.btf
var kfuncsBTF []byte

var bundled = sync.OnceValues(func() (*btf.Spec, error) {
	return btf.LoadSpecFromReader(bytes.NewReader(kfuncsBTF))
})

// kfuncTypes is the BTF kfunc calls are resolved against: the target BTF
// when there is one, else the bundled prototypes.
func (l *linker) kfuncTypes() (*btf.Spec, error) {
	if s, err := l.kernelTypes(); err == nil {
		return s, nil
	}
	return bundled()
}

// resolveKfunc turns a kfunc call into a call of the helper id that
// implements it: the kfunc must be a function of the kernel's BTF (as
// libbpf requires) and implemented by package helpers.
func (l *linker) resolveKfunc(ins *asm.Instruction) (string, error) {
	name := ins.Reference()
	spec, err := l.kfuncTypes()
	if err != nil {
		return name, fmt.Errorf("no kernel BTF to resolve it against: %w", err)
	}
	var fn *btf.Func
	if err := spec.TypeByName(name, &fn); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return name + " (no such function in the kernel's BTF)", nil
		}
		return name, err
	}
	id, ok := helpers.KfuncID(name)
	if !ok {
		return name + " (not implemented)", nil
	}
	*ins = asm.BuiltinFunc(id).Call().WithMetadata(ins.Metadata).WithReference("")
	return "", nil
}
