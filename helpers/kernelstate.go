package helpers

import "errors"

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

// Error is the missing state; the vm names the helper in the run error
// it ends the run with.
func (e *KernelStateError) Error() string { return e.State }

func (e *KernelStateError) Unwrap() error { return ErrKernelState }
