package testrun

import (
	"bytes"
	"encoding/binary"
	"testing"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestKernelCtxDefaults compares, for every type whose test runner calls
// bpf_ctx_init, what a run without ctx_in sees and returns with and
// without a ctx_out buffer: the program returns a field the difference
// shows in (wire_len for tc, data_end - data for XDP), and ctx_out must
// be the kernel's byte for byte (ingress ifindex of loopback, wire_len,
// data_end, ...).
func TestKernelCtxDefaults(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	ret0 := []isa.Insn{{Op: 0xb7}, {Op: 0x95}}                                                        // r0 = 0
	wireLen := []isa.Insn{{Op: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Src: 1, Off: 160}, {Op: 0x95}} // r0 = skb->wire_len
	xdpLinear := []isa.Insn{
		{Op: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 2, Src: 1, Off: 0}, // data
		{Op: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 0, Src: 1, Off: 4}, // data_end
		{Op: 0x1f, Dst: 0, Src: 2}, // r0 -= r2
		{Op: 0x95},
	}
	progs := map[ebpf.ProgramType][]isa.Insn{
		ebpf.SchedCLS: wireLen, ebpf.SchedACT: wireLen, ebpf.SocketFilter: ret0, ebpf.CGroupSKB: ret0,
		ebpf.LWTIn: ret0, ebpf.LWTOut: ret0, ebpf.LWTXmit: ret0, ebpf.XDP: xdpLinear,
		ebpf.FlowDissector: ret0,
	}
	frames := map[string][]byte{
		"udp4":   kernel.Pad(kernel.UDP4Frame(kernel.IPv4A, kernel.IPv4B, 1000, 53, []byte("hello")), 60),
		"tcp6":   kernel.TCP6Frame(kernel.IPv6A, kernel.IPv6B, 1000, 80, nil),
		"arp":    kernel.Pad(kernel.EthFrame(0x0806, nil), 60),
		"jumbo":  kernel.UDP4Frame(kernel.IPv4A, kernel.IPv4B, 1000, 53, make([]byte, 4901-42)),
		"3000":   kernel.UDP4Frame(kernel.IPv4A, kernel.IPv4B, 1000, 53, make([]byte, 3000-42)),
		"runt15": kernel.EthFrame(0x88b5, []byte{1}),
	}
	for typ, code := range progs {
		p, err := loader.Raw("defaults", isa.Encode(code), typ)
		if err != nil {
			t.Fatal(err)
		}
		m, err := vm.New(p.Prog, vm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		for name, frame := range frames {
			for _, ctxOut := range []bool{true, false} {
				want, err := kernel.RunInsns(typ, isa.Encode(code), nil, kernel.Input{Data: frame, NoCtxIn: true, NoCtxOut: !ctxOut})
				if err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
				if typ == ebpf.FlowDissector && ctxOut {
					// The oracle passes the flow dissector no ctx_out.
					want.CtxOut = flowCtxOut(t, code, frame)
				}
				got, err := Run(m, typ, Options{Data: frame, WantCtxOut: ctxOut})
				id := typ.String() + "/" + name
				if !ctxOut {
					id += "/no ctx_out"
				}
				switch {
				case (err == nil) != (want.Err == nil):
					t.Errorf("%s: bpfscope error %v, kernel %v", id, err, want.Err)
				case err != nil:
				case got.Retval != want.Retval:
					t.Errorf("%s: retval %d, kernel %d", id, got.Retval, want.Retval)
				case want.CtxOut == nil && typ == ebpf.XDP:
					// Without ctx_out the kernel returns none; bpfscope
					// reports the xdp_md anyway (see Result.CtxOut).
					if !bytes.Equal(got.DataOut, want.DataOut) {
						t.Errorf("%s: data_out\n  got    %s\n  kernel %s", id, short(got.DataOut), short(want.DataOut))
					}
				case !bytes.Equal(got.CtxOut, want.CtxOut):
					t.Errorf("%s: ctx_out\n  got    %x\n  kernel %x", id, got.CtxOut, want.CtxOut)
				case !bytes.Equal(got.DataOut, want.DataOut):
					t.Errorf("%s: data_out\n  got    %s\n  kernel %s", id, short(got.DataOut), short(want.DataOut))
				}
			}
		}
	}
}

// flowCtxOut is the ctx_out the kernel gives a flow dissector running
// code on frame with a ctx_out buffer and no ctx_in.
func flowCtxOut(t *testing.T, code []isa.Insn, frame []byte) []byte {
	insns, err := asm.AppendInstructions(nil, bytes.NewReader(isa.Encode(code)), binary.LittleEndian, "linux")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.FlowDissector, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := make([]byte, bpfctx.FlowKeysSize)
	if _, err := p.Run(&ebpf.RunOptions{Data: frame, DataOut: make([]byte, bpfctx.FlowKeysSize), ContextOut: out}); err != nil {
		return nil
	}
	return out
}
