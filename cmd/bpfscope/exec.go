package main

import (
	"bytes"
	"context"
	"time"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/cilium/ebpf"
)

// result is what one run did to one packet.
type result struct {
	Packet   packet
	Retval   uint32
	Verdict  string
	DataOut  []byte
	CtxOut   []byte
	Redirect *helpers.Redirect
	Printk   []string
	Insns    uint64
	Duration time.Duration // mean wall time of one run
	// Repeats is how many times each Printk line was printed: with
	// --repeat N, runs that print the same lines are shown once.
	Repeats int
	Err     error // the run failed (a fault, or the kernel's EINVAL for bad input)
}

// modified reports whether the program changed the packet.
func (r *result) modified() bool {
	return r.Err == nil && r.DataOut != nil && !bytes.Equal(r.DataOut, r.Packet.Data)
}

// execute test-runs the instance on one packet. hook, if not nil, is
// attached for this run only.
func (in *instance) execute(ctx context.Context, typ ebpf.ProgramType, pk packet, ctxIn []byte, repeat int, hook any) *result {
	return in.executeSized(ctx, typ, pk, ctxIn, repeat, hook, outSizes{})
}

// outSizes are --data-size-out and --ctx-size-out: 0 means large enough.
type outSizes struct{ data, ctx int }

func (in *instance) executeSized(ctx context.Context, typ ebpf.ProgramType, pk packet, ctxIn []byte, repeat int, hook any, sizes outSizes) *result {
	r := &result{}
	in.executeInto(ctx, typ, pk, ctxIn, repeat, hook, sizes, false, false, r)
	return r
}

// executeShared is executeSized untraced into r, with outputs (r.DataOut,
// r.CtxOut) that stay valid only until the next run of in: a loop over
// packets then allocates nothing per packet. untimed leaves r.Duration 0,
// saving two clock reads, for callers that do not print it.
func (in *instance) executeShared(ctx context.Context, typ ebpf.ProgramType, pk packet, ctxIn []byte, repeat int, sizes outSizes, untimed bool, r *result) {
	in.executeInto(ctx, typ, pk, ctxIn, repeat, nil, sizes, true, untimed, r)
}

func (in *instance) executeInto(ctx context.Context, typ ebpf.ProgramType, pk packet, ctxIn []byte, repeat int, hook any, sizes outSizes, shared, untimed bool, r *result) {
	if pk.Err != nil {
		*r = result{Packet: pk, Err: pk.Err, Repeats: 1}
		return
	}
	if shared {
		in.hs.ReuseState(in.m) // the last result's Printk is done with
	} else {
		in.hs.ResetState(in.m)
	}
	if !shared { // the shared path runs untraced, and nothing else attaches
		in.m.Attach(hook)
		defer in.m.Attach(nil)
	}
	if in.run == nil {
		in.run = testrun.NewRunner(in.m, typ) // reuses the context where it can
	}
	opts := testrun.Options{Data: pk.Data, Ctx: ctxIn, Repeat: repeat, Context: ctx, WantCtxOut: in.ctxOut,
		DataSizeOut: sizes.data, CtxSizeOut: sizes.ctx, NoDuration: untimed}
	var res *testrun.Result
	var err error
	if shared {
		res, err = in.run.RunShared(opts)
	} else {
		res, err = in.run.Run(opts)
	}
	*r = result{Packet: pk, Err: err, Repeats: 1}
	if res != nil {
		r.Retval, r.DataOut, r.CtxOut, r.Insns, r.Duration = res.Retval, res.DataOut, res.CtxOut, res.Insns, res.Duration
	}
	if err == nil {
		r.Verdict = verdict(typ, r.Retval)
	}
	st := in.hs.State(in.m)
	r.Redirect, r.Printk = st.Redirect, st.Printk
	if repeat > 1 {
		r.Printk, r.Repeats = collapse(r.Printk, repeat)
	}
}

// collapse returns lines once, and n, when they are n copies of the same
// sequence (every repeat of a run printed alike); else lines and 1.
func collapse(lines []string, n int) ([]string, int) {
	if len(lines) == 0 || len(lines)%n != 0 {
		return lines, 1
	}
	k := len(lines) / n
	for i := k; i < len(lines); i++ {
		if lines[i] != lines[i%k] {
			return lines, 1
		}
	}
	return lines[:k], n
}
