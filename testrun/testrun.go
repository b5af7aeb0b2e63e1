// Package testrun runs a program as Linux's BPF_PROG_TEST_RUN does: the
// context of its program type built from data_in and ctx_in (package ctx),
// the program run repeat times over that same context, and retval,
// data_out, ctx_out and the mean duration reported back, with the kernel's
// rules on input sizes and output buffers.
package testrun

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Errors with the errno BPF_PROG_TEST_RUN fails with.
var (
	// ErrInvalid: the input breaks the kernel's rules (EINVAL).
	ErrInvalid error = syscall.EINVAL
	// ErrNoSpace: an output did not fit the buffer size given (ENOSPC);
	// the Result still holds the truncated output and the full sizes.
	ErrNoSpace error = syscall.ENOSPC
	// ErrNotSupported: the program type has no context provider (the
	// kernel's ENOTSUPP for types it cannot test-run).
	ErrNotSupported = errors.New("program type cannot be test-run")
)

// Options are BPF_PROG_TEST_RUN's inputs.
type Options struct {
	// Data is data_in: the packet, for the types that take one.
	Data []byte
	// Ctx is ctx_in: the context structure, or nil for the type's default.
	Ctx []byte
	// Repeat runs the program this many times over the same context, as
	// the kernel does (0 means once; the last run's retval is reported).
	Repeat int
	// Context cancels a long run; nil means context.Background().
	Context context.Context
	// KernelTypes is the kernel BTF the program was relocated against,
	// for contexts that hand it kernel structs (netfilter's sk_buff); nil
	// means the running kernel's. RunProgram sets it from the collection.
	KernelTypes *btf.Spec
	// WantCtxOut says the caller passes a ctx_out buffer. Without ctx_in
	// the kernel then starts from a zeroed context structure
	// (bpf_ctx_init) instead of none, and the run sees the difference:
	// the skb family gets wire_len = the packet's length (0 otherwise)
	// and ctx_out the converted __sk_buff; XDP gets an xdp_md with
	// data_end 0, which test_run takes as a linear part of 0 bytes, the
	// whole frame in fragments; the flow dissector echoes it with flags 0;
	// netfilter fails (a zeroed nf_hook_state names no protocol) and
	// raw_tracepoint refuses ctx_out (EINVAL). With ctx_in it changes
	// nothing: ctx_out is always returned then.
	WantCtxOut bool
	// DataSizeOut and CtxSizeOut are the sizes of the caller's data_out and
	// ctx_out buffers. Zero means large enough. When an output is larger,
	// it is truncated and Run fails with ErrNoSpace, as the kernel does.
	DataSizeOut, CtxSizeOut int
	// NoDuration leaves Result.Duration 0: a loop over packets that does
	// not report it saves reading the clock twice per run.
	NoDuration bool
}

// Result is what BPF_PROG_TEST_RUN reports, plus what bpfscope counts.
type Result struct {
	Retval  uint32 // the low 32 bits of r0 of the last run
	DataOut []byte // data_out (possibly truncated to DataSizeOut)
	// CtxOut is ctx_out (possibly truncated to CtxSizeOut): the kernel
	// returns one when the caller passes ctx_in or a ctx_out buffer
	// (Options.WantCtxOut). One exception: XDP always gets its xdp_md
	// back, since a run without either is the run with ctx_in = {data_end:
	// the frame's length}, whose ctx_out this is.
	CtxOut []byte
	// DataSize and CtxSize are the untruncated sizes, like the kernel's
	// data_size_out and ctx_size_out.
	DataSize, CtxSize int
	// Duration is the mean wall time of one run, as the kernel reports it.
	Duration time.Duration
	// Insns is the number of instructions executed over all repeats.
	Insns uint64

	ran bool // the context was built and the program started
}

// attrRules are checks BPF_PROG_TEST_RUN makes on the attributes before
// the type's context is built (net/bpf/test_run.c): these runners take no
// data_in, the raw_tp and syscall runners refuse repeat, raw_tp refuses
// ctx_out.
var attrRules = map[ebpf.ProgramType]struct{ noData, noRepeat, noCtxOut bool }{
	ebpf.SkLookup:      {noData: true},
	ebpf.RawTracepoint: {noData: true, noRepeat: true, noCtxOut: true},
	ebpf.Syscall:       {noData: true, noRepeat: true},
}

// zeroedCtx sizes the context structure bpf_ctx_init zero-fills for the
// runners that call it when only ctx_out is given.
var zeroedCtx = map[ebpf.ProgramType]int{
	ebpf.XDP:          24, // struct xdp_md
	ebpf.SocketFilter: bpfctx.SkbSize, ebpf.SchedCLS: bpfctx.SkbSize, ebpf.SchedACT: bpfctx.SkbSize,
	ebpf.CGroupSKB: bpfctx.SkbSize, ebpf.LWTIn: bpfctx.SkbSize, ebpf.LWTOut: bpfctx.SkbSize,
	ebpf.LWTXmit: bpfctx.SkbSize, ebpf.LWTSeg6Local: bpfctx.SkbSize,
	ebpf.FlowDissector: bpfctx.FlowKeysSize,
	ebpf.Netfilter:     bpfctx.NfHookStateSize,
}

// Run test-runs the program loaded in m as a program of type typ. m is
// Reset first, so regions a previous run mapped are gone; maps keep their
// contents. An error of the run itself (a fault the kernel's verifier
// would have prevented) is returned with the Result so far.
func Run(m *vm.Machine, typ ebpf.ProgramType, opts Options) (*Result, error) {
	return NewRunner(m, typ).Run(opts)
}

// A Runner test-runs one machine again and again, as a loop over packets
// does. Where the type's context can take new input in place
// (ctx.Reusable, as XDP's can), it is built once and reused, so a run
// allocates nothing for its context; RunShared also reuses the Result and
// its output buffers. A Runner is not safe for concurrent use (nor is its
// machine).
type Runner struct {
	m    *vm.Machine
	typ  ebpf.ProgramType
	inst bpfctx.Reusable // the context of the last run, if reusable

	// Looked up once: a loop over packets pays for no map lookups.
	rule     struct{ noData, noRepeat, noCtxOut bool }
	zeroed   int
	provider bpfctx.Provider
	lookErr  error

	shared          Result // RunShared's
	dataBuf, ctxBuf []byte // its outputs' buffers
}

// NewRunner returns a Runner for m as a program of type typ.
func NewRunner(m *vm.Machine, typ ebpf.ProgramType) *Runner {
	r := &Runner{m: m, typ: typ, rule: attrRules[typ], zeroed: zeroedCtx[typ]}
	r.provider, r.lookErr = bpfctx.Lookup(typ)
	return r
}

// Run test-runs once; see the function Run.
func (r *Runner) Run(opts Options) (*Result, error) {
	res := &Result{}
	err := r.run(opts, res, false)
	if err != nil && !res.ran {
		return nil, err // refused before the program ran
	}
	return res, err
}

// RunShared is Run with a Result the Runner owns: it and its DataOut and
// CtxOut stay valid until the next run, whose outputs go to the same
// buffers. A loop over packets that looks at each result before the
// next run then allocates nothing per packet (for contexts that can be
// reused and copy their outputs into buffers: ctx.OutputAppender).
func (r *Runner) RunShared(opts Options) (*Result, error) {
	res := &r.shared
	*res = Result{}
	err := r.run(opts, res, true)
	if err != nil && !res.ran {
		return nil, err
	}
	return res, err
}

// run test-runs once into res. reuse says res's output slices are
// buffers to fill in place.
func (r *Runner) run(opts Options, res *Result, reuse bool) error {
	m, typ, rule := r.m, r.typ, r.rule
	if rule.noData && len(opts.Data) > 0 {
		return fmt.Errorf("%s takes no data_in: %w", typ, ErrInvalid)
	}
	if rule.noRepeat && opts.Repeat > 1 {
		return fmt.Errorf("%s cannot repeat: %w", typ, ErrInvalid)
	}
	if rule.noCtxOut && opts.WantCtxOut {
		return fmt.Errorf("%s returns no ctx_out: %w", typ, ErrInvalid)
	}
	if opts.Repeat < 0 || opts.DataSizeOut < 0 || opts.CtxSizeOut < 0 {
		return fmt.Errorf("negative repeat or output size: %w", ErrInvalid)
	}
	if r.lookErr != nil {
		return fmt.Errorf("%w: %v", ErrNotSupported, r.lookErr)
	}
	runCtx := opts.Context
	if runCtx == nil {
		runCtx = context.Background()
	}
	repeat := max(opts.Repeat, 1)

	m.Reset()
	in := bpfctx.Input{Data: opts.Data, Ctx: opts.Ctx, KernelTypes: opts.KernelTypes}
	if n := r.zeroed; in.Ctx == nil && opts.WantCtxOut && n > 0 {
		in.Ctx = make([]byte, n)
	}
	var inst bpfctx.Instance
	var err error
	if r.inst != nil {
		err = r.inst.Reuse(in)
		inst = r.inst
	} else {
		inst, err = r.provider.New(m, in)
	}
	if err != nil {
		r.inst = nil // a failed reuse may leave it half set up
		return err
	}
	r.inst, _ = inst.(bpfctx.Reusable)
	res.ran = true
	var start time.Time
	if !opts.NoDuration {
		start = time.Now()
	}
	for range repeat {
		r0, err := m.Run(runCtx, inst.Arg())
		res.Insns += m.Insns()
		if err != nil {
			return err
		}
		res.Retval = uint32(r0)
	}
	if !opts.NoDuration {
		res.Duration = time.Since(start) / time.Duration(repeat)
	}

	var out bpfctx.Output
	if a, ok := inst.(bpfctx.OutputAppender); ok && reuse {
		out = a.AppendOutput(r.dataBuf[:0], r.ctxBuf[:0])
		r.dataBuf, r.ctxBuf = out.Data, out.Ctx
	} else {
		out = inst.Output()
	}
	res.DataSize, res.CtxSize = len(out.Data), len(out.Ctx)
	res.DataOut, err = clampData(out, opts.DataSizeOut)
	res.CtxOut, err = clamp(out.Ctx, opts.CtxSizeOut, err)
	return err
}

// clamp truncates an output to the caller's buffer, as bpf_test_finish
// and bpf_ctx_finish do.
func clamp(b []byte, size int, err error) ([]byte, error) {
	if b == nil {
		return nil, err
	}
	if size > 0 && len(b) > size {
		return b[:size], fmt.Errorf("output of %d bytes, buffer of %d: %w", len(b), size, ErrNoSpace)
	}
	return b, err
}

// clampData is clamp for data_out: bpf_test_finish gives a fragmented
// frame's fragments whole and cuts its linear part to fit them, and
// copies nothing when the fragments alone do not fit.
func clampData(out bpfctx.Output, size int) ([]byte, error) {
	b, frags := out.Data, out.FragBytes
	if frags == 0 || size <= 0 || len(b) <= size {
		return clamp(b, size, nil)
	}
	err := fmt.Errorf("output of %d bytes, buffer of %d: %w", len(b), size, ErrNoSpace)
	if size < frags {
		return nil, err
	}
	cut := make([]byte, 0, size)
	cut = append(cut, b[:size-frags]...)
	return append(cut, b[len(b)-frags:]...), err
}

// RunProgram binds the program prog of c to a new machine (see
// loader.Collection.Machine for cfg) and test-runs it.
func RunProgram(c *loader.Collection, prog string, cfg vm.Config, opts Options) (*Result, error) {
	p, err := c.Program(prog)
	if err != nil {
		return nil, err
	}
	if p.Type == ebpf.XDP && (p.AttachType == ebpf.AttachXDPDevMap || p.AttachType == ebpf.AttachXDPCPUMap) {
		// bpf_prog_test_run_xdp: such a program runs on frames a devmap
		// or cpumap hands it, never in a test run.
		return nil, fmt.Errorf("%s: an XDP program attached to a %v runs only there, not in a test run: %w", prog, p.AttachType, ErrInvalid)
	}
	m, err := c.Machine(p.Name, cfg)
	if err != nil {
		return nil, err
	}
	if opts.KernelTypes == nil {
		opts.KernelTypes = c.KernelTypes()
	}
	return Run(m, p.Type, opts)
}
