package vm

import (
	"errors"
	"fmt"
)

// Load-time errors, wrapped in a *LoadError that names the pc.
var (
	ErrUnknownOpcode   = errors.New("unknown opcode")
	ErrReservedField   = errors.New("reserved field is not zero")
	ErrBadRegister     = errors.New("invalid register")
	ErrJumpOutOfRange  = errors.New("jump out of range")
	ErrJumpIntoLdImm64 = errors.New("jump into the middle of ld_imm64")
	ErrFallThrough     = errors.New("execution can fall off the end of the program")
	ErrTruncated       = errors.New("ld_imm64 is missing its second slot")
	ErrUnknownHelper   = errors.New("unknown helper")
	ErrUnknownMap      = errors.New("unknown map")
	ErrUnsupported     = errors.New("unsupported instruction")
	ErrEmptyProgram    = errors.New("empty program")
	ErrBytecodeLength  = errors.New("bytecode length is not a multiple of 8")
)

// LoadError reports an instruction that cannot be loaded, or a program
// that cannot be as a whole (empty, or bytecode of a length that is not a
// whole number of instructions). Every error Load, NewProgram and New
// return is one.
type LoadError struct {
	PC  int    // -1 for errors of the whole program
	Op  uint8  // raw opcode at PC
	Err error  // one of the Err values above
	Msg string // detail, may be empty
}

func (e *LoadError) Error() string {
	s := fmt.Sprintf("pc %d (op %#02x): %v", e.PC, e.Op, e.Err)
	if e.PC < 0 {
		s = e.Err.Error()
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

func (e *LoadError) Unwrap() error { return e.Err }

// Run-time errors, wrapped in a *RunError carrying the machine state.
var (
	ErrOutOfBounds = errors.New("memory access out of bounds")
	ErrUnmapped    = errors.New("access to unmapped memory")
	ErrReadOnly    = errors.New("write to read-only memory")
	ErrBudget      = errors.New("instruction budget exhausted")
	ErrCallDepth   = errors.New("call depth limit exceeded")
	// ErrCanceled: the run's context was done. The RunError wraps the
	// context's cause too (context.Canceled, context.DeadlineExceeded, or
	// the cause given to a CancelCauseFunc).
	ErrCanceled     = errors.New("run canceled")
	ErrAborted      = errors.New("run aborted by hook")
	ErrBadCall      = errors.New("call to an invalid target")
	ErrHelperFailed = errors.New("helper failed")
	// ErrHelperPanic: a helper panicked. It is a bug in the helper; the
	// run ends with this error instead of the panic reaching the caller.
	ErrHelperPanic = errors.New("helper panicked")
	// ErrOutputLimit: the run produced more output (trace_printk text,
	// ring buffer and perf event records) than Config.MaxOutput allows.
	ErrOutputLimit   = errors.New("output limit exceeded")
	ErrContextAccess = errors.New("invalid context access")
	ErrNoPacket      = errors.New("LD_ABS/LD_IND without a socket buffer")
	ErrNotPaused     = errors.New("machine is not paused")
	// ErrTailCallLimit: Machine.TailCall after MaxTailCalls tail calls;
	// bpf_tail_call then falls through, the run goes on.
	ErrTailCallLimit = errors.New("tail call limit reached")
)

// RunError reports why a run stopped abnormally, and where.
type RunError struct {
	Err    error
	PC     int
	Prog   string
	Addr   uint64 // faulting address, for memory errors
	Size   int    // access size, for memory errors
	Region string // what the address names, e.g. "pkt+60" or "unmapped"
	Regs   [11]uint64
	Depth  int
	Insns  uint64 // instructions executed
	Msg    string
	// Cause is what ended the run besides Err, if anything: the
	// context's cause for ErrCanceled. errors.Is sees both.
	Cause error
}

func (e *RunError) Error() string {
	s := fmt.Sprintf("pc %d: %v", e.PC, e.Err)
	if e.Size > 0 {
		s += fmt.Sprintf(": %d-byte access at %#x (%s)", e.Size, e.Addr, e.Region)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Unwrap returns Err and, if set, Cause: errors.Is(err,
// context.DeadlineExceeded) holds for a run its deadline ended.
func (e *RunError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// ErrUnwind, returned by a helper, ends the program at once with the
// helper's return value as r0 (uBPF's "unwind" helper, used by the
// conformance suite).
var ErrUnwind = errors.New("unwind")
