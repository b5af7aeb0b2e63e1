package testrun

import (
	"encoding/binary"
	"errors"
	"testing"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/loader"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// counter is: *(u64 *)map0[0] += 1 (atomic); r0 = XDP_TX (3); exit.
func counter(t *testing.T) (*vm.Machine, bpfmaps.Map) {
	t.Helper()
	code := isa.Encode([]isa.Insn{
		{Op: isa.ClassLD | isa.ModeIMM | isa.SizeDW, Dst: 1, Src: 2}, {}, // r1 = &map0[0]
		{Op: 0xb7, Dst: 2, Imm: 1},                                       // r2 = 1
		{Op: isa.ClassSTX | isa.ModeATOMIC | isa.SizeDW, Dst: 1, Src: 2}, // lock *(u64 *)(r1 + 0) += r2
		{Op: 0xb7, Imm: 3},                                               // r0 = 3
		{Op: 0x95},
	})
	p, err := loader.Raw("counter", code, ebpf.XDP)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := bpfmaps.New(&bpfmaps.Spec{Name: "count", Type: bpfmaps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p.Prog, vm.Config{Maps: []vm.Map{mp}})
	if err != nil {
		t.Fatal(err)
	}
	return m, mp
}

func TestRepeat(t *testing.T) {
	m, mp := counter(t)
	pkt := make([]byte, 60)
	// bpf_test_run runs the program repeat times over one context; the
	// map sees every run, retval is the last run's.
	res, err := Run(m, ebpf.XDP, Options{Data: pkt, Repeat: 5})
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 8)
	if err := mp.Get(make([]byte, 4), v); err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(v); n != 5 {
		t.Errorf("counter %d after repeat 5", n)
	}
	if res.Retval != 3 || res.Insns != 5*5 || res.DataSize != 60 || len(res.DataOut) != 60 {
		t.Errorf("result %+v", res)
	}
	// xdp_md ctx_out: data and data_end relative to data_meta.
	if len(res.CtxOut) != 24 || binary.LittleEndian.Uint32(res.CtxOut[4:]) != 60 {
		t.Errorf("ctx_out %x", res.CtxOut)
	}
	// Repeat 0 runs once, as the kernel does.
	if res, err := Run(m, ebpf.XDP, Options{Data: pkt}); err != nil || res.Insns != 5 {
		t.Errorf("repeat 0: %+v %v", res, err)
	}
}

// TestSizes checks bpf_test_finish and bpf_ctx_finish: a smaller output
// buffer gets the first bytes and ENOSPC, with the full sizes reported.
func TestSizes(t *testing.T) {
	m, _ := counter(t)
	pkt := make([]byte, 60)
	for i := range pkt {
		pkt[i] = byte(i)
	}
	res, err := Run(m, ebpf.XDP, Options{Data: pkt, DataSizeOut: 20})
	if !errors.Is(err, ErrNoSpace) || res == nil {
		t.Fatalf("data_size_out 20: %v", err)
	}
	if res.Retval != 3 || res.DataSize != 60 || len(res.DataOut) != 20 || res.DataOut[19] != 19 {
		t.Errorf("truncated result %+v", res)
	}
	res, err = Run(m, ebpf.XDP, Options{Data: pkt, CtxSizeOut: 8})
	if !errors.Is(err, ErrNoSpace) || res == nil || len(res.CtxOut) != 8 || res.CtxSize != 24 {
		t.Errorf("ctx_size_out 8: %+v %v", res, err)
	}
	// XDP needs at least an Ethernet header (ETH_HLEN) of data_in.
	if _, err := Run(m, ebpf.XDP, Options{Data: pkt[:13]}); !errors.Is(err, bpfctx.ErrInvalidData) {
		t.Errorf("13-byte packet: %v, want ErrInvalidData", err)
	}
	// The raw_tp and syscall runners refuse data_in and repeat (EINVAL).
	for _, typ := range []ebpf.ProgramType{ebpf.RawTracepoint, ebpf.Syscall} {
		if _, err := Run(m, typ, Options{Data: pkt}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s with data_in: %v, want EINVAL", typ, err)
		}
		if _, err := Run(m, typ, Options{Ctx: make([]byte, 8), Repeat: 2}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s with repeat 2: %v, want EINVAL", typ, err)
		}
	}
	if _, err := Run(m, ebpf.ProgramType(0xffff), Options{}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("unknown type: %v, want ErrNotSupported", err)
	}
}

// A Runner reuses the XDP context from run to run; every result must be
// the one a fresh context gives, whatever the run before left behind (a
// pushed VLAN header, a refused packet, metadata from ctx_in).
func TestRunnerReusesContext(t *testing.T) {
	machine := func() *vm.Machine {
		coll, err := loader.Load("../examples/progs/xdp_adjust.o", loader.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := coll.Machine("xdp_vlan_push", vm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	frame := func(n int, proto uint16) []byte {
		b := make([]byte, max(n, 14))
		binary.BigEndian.PutUint16(b[12:], proto)
		b = b[:n]
		for i := 14; i < n; i++ {
			b[i] = byte(i)
		}
		return b
	}
	md := make([]byte, 24) // xdp_md: 4 bytes of metadata before data
	binary.LittleEndian.PutUint32(md[4:], 4)
	binary.LittleEndian.PutUint32(md[8:], 64)
	inputs := []Options{
		{Data: frame(60, 0x0800)},
		{Data: frame(1500, 0x86dd)},
		{Data: frame(10, 0x0800)}, // shorter than Ethernet: refused
		{Data: frame(60, 0x8100)},
		{Data: frame(64, 0x0800), Ctx: md},
		{Data: frame(42, 0x0806)},
	}
	reused := NewRunner(machine(), ebpf.XDP)
	fresh := machine()
	resized := 0
	for i, opts := range inputs {
		got, gerr := reused.Run(opts)
		want, werr := Run(fresh, ebpf.XDP, opts)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("input %d: reused context: %v, fresh: %v", i, gerr, werr)
		}
		if werr != nil {
			continue
		}
		if len(got.DataOut) != len(opts.Data) {
			resized++
		}
		if got.Retval != want.Retval || string(got.DataOut) != string(want.DataOut) || string(got.CtxOut) != string(want.CtxOut) || got.Insns != want.Insns {
			t.Errorf("input %d: reused context gives r0 %d, %d bytes out; fresh %d, %d bytes", i, got.Retval, len(got.DataOut), want.Retval, len(want.DataOut))
		}
	}
	if reused.inst == nil || resized == 0 {
		t.Errorf("context kept for reuse: %v; %d packets resized by the program", reused.inst != nil, resized)
	}
}
