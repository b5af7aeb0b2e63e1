package main

import (
	"bytes"
	"context"

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
	Err      error // the run failed (a fault, or the kernel's EINVAL for bad input)
}

// modified reports whether the program changed the packet.
func (r *result) modified() bool {
	return r.Err == nil && r.DataOut != nil && !bytes.Equal(r.DataOut, r.Packet.Data)
}

// execute test-runs the instance on one packet. hook, if not nil, is
// attached for this run only.
func (in *instance) execute(ctx context.Context, typ ebpf.ProgramType, pk packet, ctxIn []byte, repeat int, hook any) *result {
	in.hs.ResetState(in.m)
	in.m.Attach(hook)
	defer in.m.Attach(nil)
	if in.run == nil {
		in.run = testrun.NewRunner(in.m, typ) // reuses the context where it can
	}
	res, err := in.run.Run(testrun.Options{Data: pk.Data, Ctx: ctxIn, Repeat: repeat, Context: ctx, WantCtxOut: in.ctxOut})
	r := &result{Packet: pk, Err: err}
	if res != nil {
		r.Retval, r.DataOut, r.CtxOut, r.Insns = res.Retval, res.DataOut, res.CtxOut, res.Insns
	}
	if err == nil {
		r.Verdict = verdict(typ, r.Retval)
	}
	st := in.hs.State(in.m)
	r.Redirect, r.Printk = st.Redirect, st.Printk
	return r
}
