package ctx_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
)

// The differential tests run the same bytecode under BPF_PROG_TEST_RUN and
// in bpfscope. Programs report through one array map of eight u64 slots,
// referenced by asm.LoadMapValue(reg, resultMap, off): the kernel run
// substitutes the map's fd, the bpfscope run map index 0.

const resultMap = 0x7fff0000 // placeholder fd, replaced per run

var kernelOnce struct {
	sync.Once
	err error
}

func needKernel(t testing.TB) {
	t.Helper()
	kernelOnce.Do(func() {
		if os.Geteuid() != 0 {
			kernelOnce.err = errors.New("not root")
			return
		}
		kernelOnce.err = rlimit.RemoveMemlock()
	})
	if kernelOnce.err != nil {
		t.Skipf("bpf() unavailable: %v", kernelOnce.err)
	}
}

// result is one run's outcome.
type result struct {
	R0   uint32
	Err  error // load (verifier) or run error
	Out  ctx.Output
	Vals [8]uint64
}

// withMap rewrites the result-map references to fd.
func withMap(insns asm.Instructions, fd int) asm.Instructions {
	out := make(asm.Instructions, len(insns))
	copy(out, insns)
	for i := range out {
		if out[i].OpCode.IsDWordLoad() && out[i].Src == asm.PseudoMapValue && uint32(out[i].Constant) == resultMap {
			out[i].Constant = int64(uint64(uint32(out[i].Constant>>32))<<32 | uint64(uint32(fd)))
		}
	}
	return out
}

// kernelProg loads insns into the kernel; the error is the verifier's.
func kernelProg(t testing.TB, typ ebpf.ProgramType, insns asm.Instructions, flags uint32) (*ebpf.Program, *ebpf.Map, error) {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 64, MaxEntries: 1})
	if err != nil {
		t.Skipf("bpf() unavailable: %v", err)
	}
	spec := &ebpf.ProgramSpec{Type: typ, Instructions: withMap(insns, m.FD()), License: "GPL", Flags: flags}
	switch typ {
	case ebpf.SkLookup:
		spec.AttachType = ebpf.AttachSkLookup
	case ebpf.Netfilter:
		spec.AttachType = ebpf.AttachNetfilter
	}
	p, err := ebpf.NewProgramWithOptions(spec,
		ebpf.ProgramOptions{LogDisabled: true})
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return p, m, nil
}

// kernelRun runs a loaded program once with data and ctxIn (nil: none).
func kernelRun(t testing.TB, p *ebpf.Program, m *ebpf.Map, data, ctxIn []byte, ctxOutLen int) result {
	t.Helper()
	var zero [64]byte
	if err := m.Put(uint32(0), zero[:]); err != nil {
		t.Fatal(err)
	}
	opts := &ebpf.RunOptions{Data: data}
	if len(data) > 0 {
		opts.DataOut = make([]byte, len(data)+8192)
	}
	var ctxOut []byte
	if ctxIn != nil {
		opts.Context = ctxIn
		if ctxOutLen > 0 {
			ctxOut = make([]byte, ctxOutLen)
			opts.ContextOut = ctxOut
		}
	}
	r0, err := p.Run(opts)
	res := result{R0: r0, Err: err}
	if err != nil {
		return res
	}
	res.Out.Data = opts.DataOut
	res.Out.Ctx = ctxOut
	var v [64]byte
	if err := m.Lookup(uint32(0), v[:]); err != nil {
		t.Fatal(err)
	}
	for i := range res.Vals {
		res.Vals[i] = binary.LittleEndian.Uint64(v[8*i:])
	}
	return res
}

// kernel loads and runs insns once.
func kernel(t testing.TB, typ ebpf.ProgramType, insns asm.Instructions, data, ctxIn []byte, ctxOutLen int) result {
	t.Helper()
	p, m, err := kernelProg(t, typ, insns, 0)
	if err != nil {
		return result{Err: err}
	}
	defer p.Close()
	defer m.Close()
	return kernelRun(t, p, m, data, ctxIn, ctxOutLen)
}

// scope runs insns in bpfscope with the registered provider for typ.
func scope(t testing.TB, typ ebpf.ProgramType, insns asm.Instructions, data, ctxIn []byte, hs vm.HelperSet) result {
	t.Helper()
	var code bytes.Buffer
	if err := withMap(insns, 0).Marshal(&code, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	p, err := vm.Load("test", code.Bytes())
	if err != nil {
		return result{Err: err}
	}
	mp, err := maps.New(&maps.Spec{Name: "result", Type: maps.Array, KeySize: 4, ValueSize: 64, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if hs == nil {
		hs = vm.Helpers{}
	}
	m, err := vm.New(p, vm.Config{Helpers: hs, Maps: []vm.Map{mp}})
	if err != nil {
		return result{Err: err}
	}
	pr, err := ctx.Lookup(typ)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := pr.New(m, ctx.Input{Data: data, Ctx: ctxIn})
	if err != nil {
		return result{Err: err}
	}
	r0, err := m.Run(context.Background(), inst.Arg())
	res := result{R0: uint32(r0), Err: err}
	if err != nil {
		return res
	}
	res.Out = inst.Output()
	v := make([]byte, 64)
	if err := mp.Get([]byte{0, 0, 0, 0}, v); err != nil {
		t.Fatal(err)
	}
	for i := range res.Vals {
		res.Vals[i] = binary.LittleEndian.Uint64(v[8*i:])
	}
	return res
}

// udpFrame is a 60-byte Ethernet/IPv4/UDP frame, 10.0.0.1:1234 ->
// 10.0.0.2:80, destination MAC 02:00:00:00:00:02.
func udpFrame() []byte {
	f := make([]byte, 60)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:]
	copy(ip, []byte{0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 1234)
	binary.BigEndian.PutUint16(udp[2:], 80)
	binary.BigEndian.PutUint16(udp[4:], 26)
	copy(udp[8:], "hello, bpfscope!")
	return f
}

// tcp6Frame is an Ethernet/IPv6/TCP frame, 2001:db8::1 -> 2001:db8::2.
func tcp6Frame() []byte {
	f := make([]byte, 14+40+20)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x86, 0xdd})
	ip := f[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], 20)
	ip[6], ip[7] = 6, 64
	copy(ip[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
	copy(ip[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
	tcp := ip[40:]
	binary.BigEndian.PutUint16(tcp[0:], 4321)
	binary.BigEndian.PutUint16(tcp[2:], 443)
	tcp[12] = 5 << 4
	return f
}

func ipChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

var skbTypes = []ebpf.ProgramType{ebpf.SocketFilter, ebpf.SchedCLS, ebpf.SchedACT,
	ebpf.CGroupSKB, ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit}
