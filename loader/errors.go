package loader

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bpfscope/bpfscope/vm"
)

// What went wrong, for errors.Is; an *Error carries the details.
var (
	// ErrInvalidObject: the ELF could not be parsed as a BPF object.
	ErrInvalidObject = errors.New("invalid BPF object")
	// ErrNotELF: the file is not an ELF object at all (an ErrInvalidObject).
	ErrNotELF = errors.New("not an ELF file")
	// ErrUnknownSection: a program's section names no program type.
	ErrUnknownSection = errors.New("unknown program section")
	// ErrUnsupportedMap: the map type is not implemented by package maps.
	ErrUnsupportedMap = errors.New("unsupported map type")
	// ErrInvalidMap: the map's definition is rejected as BPF_MAP_CREATE would.
	ErrInvalidMap = errors.New("invalid map definition")
	// ErrMapContents: a map's initial contents (.values, data) do not fit it.
	ErrMapContents = errors.New("invalid initial map contents")
	// ErrKfunc: the program calls a kernel function (__ksym) that is not
	// in the kernel's BTF or that package helpers does not implement.
	ErrKfunc = errors.New("kfunc call")
	// ErrExtern: the program reads an extern (__kconfig or __ksym variable).
	ErrExtern = errors.New("unresolved extern")
	// ErrUnresolved: a call or function pointer names a missing symbol, or
	// a map reference names no map of the object.
	ErrUnresolved = errors.New("unresolved reference")
	// ErrCORE: CO-RE relocations cannot be applied (no target BTF, or the
	// relocation itself fails).
	ErrCORE = errors.New("CO-RE relocation failed")
	// ErrPoisonedCORE: a run reached an instruction whose CO-RE relocation
	// has no match in the target BTF. The kernel's verifier rejects such a
	// program unless the instruction is dead code; bpfscope loads it and
	// fails the run that reaches it.
	ErrPoisonedCORE = errors.New("instruction poisoned by CO-RE")
	// ErrNoProgram: the collection has no program of that name or section.
	ErrNoProgram = errors.New("no such program")
	// ErrInvalidProgram: the bytecode is rejected by package vm.
	ErrInvalidProgram = errors.New("invalid program")
)

// Error reports what in an object could not be loaded, and where. Fields
// that do not apply are empty (Insn is -1).
type Error struct {
	Object  string // file name, "" when loaded from a reader
	Program string
	Section string
	Map     string
	Insn    int    // instruction slot (pc) in the program, -1 if none
	Detail  string // the relocation, symbol or value concerned
	Err     error  // one of the Err* values of this package
	Cause   error  // the underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	if e.Object != "" {
		b.WriteString(e.Object)
	}
	if e.Program != "" {
		sep()
		fmt.Fprintf(&b, "program %s", e.Program)
		if e.Section != "" {
			fmt.Fprintf(&b, " (section %s)", e.Section)
		}
	} else if e.Section != "" {
		sep()
		fmt.Fprintf(&b, "section %s", e.Section)
	}
	if e.Map != "" {
		sep()
		fmt.Fprintf(&b, "map %s", e.Map)
	}
	if e.Insn >= 0 {
		sep()
		fmt.Fprintf(&b, "insn %d", e.Insn)
	}
	sep()
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		fmt.Fprintf(&b, " %s", e.Detail)
	}
	var le *vm.LoadError
	switch {
	case errors.As(e.Cause, &le) && le.PC == e.Insn && le.PC >= 0:
		// The pc is said once, as the insn above.
		fmt.Fprintf(&b, ": op %#02x: %v", le.Op, le.Err)
		if le.Msg != "" {
			fmt.Fprintf(&b, ": %s", le.Msg)
		}
	case e.Cause != nil:
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap returns Err and Cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}
