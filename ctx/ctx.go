// Package ctx provides the contexts eBPF programs receive in r1, one per
// program type, built as Linux's BPF_PROG_TEST_RUN builds them: the packet
// buffer with its head- and tailroom, the uapi context structure the program
// reads (xdp_md, __sk_buff, ...) with the kernel's per-type access rules, and
// the outputs (data_out, ctx_out) the kernel copies back.
package ctx

import (
	"errors"
	"syscall"
)

var (
	// ErrInvalidCtx: ctx_in breaks the kernel's rules for the type (EINVAL there).
	ErrInvalidCtx = errors.New("invalid ctx_in")
	// ErrInvalidData: data_in is unacceptable for the type (EINVAL there).
	ErrInvalidData = errors.New("invalid data_in")
)

// errInval is what packet-resizing helpers fail with; the helper returns it
// to the program as -EINVAL.
var errInval error = syscall.EINVAL
