package helpers_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
)

// pushEncapProgram calls bpf_lwt_push_encap(skb, typ, hdr, len(hdr)) with
// hdr on the stack and stores r0, skb->len and skb->protocol in the out
// map (fd).
func pushEncapProgram(typ int32, hdr []byte, fd int) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	b := append([]byte(nil), hdr...)
	b = append(b, make([]byte, (8-len(b)%8)%8)...)
	const off = -64
	for i := 0; i < len(b); i += 8 {
		insns = append(insns,
			asm.LoadImm(asm.R1, int64(binary.LittleEndian.Uint64(b[i:])), asm.DWord),
			asm.StoreMem(asm.RFP, int16(off+i), asm.R1, asm.DWord))
	}
	return append(insns,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, typ),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, off),
		asm.Mov.Imm(asm.R4, int32(len(hdr))),
		asm.FnLwtPushEncap.Call(),
		asm.LoadMapValue(asm.R7, fd, 0),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R6, 0, asm.Word), // len
		asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R6, 16, asm.Word), // protocol
		asm.StoreMem(asm.R7, 16, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return())
}

// TestLwtPushEncapKernel runs bpf_lwt_push_encap in lwt_in (and, with
// headers the kernel refuses before it touches the route, lwt_xmit) test
// runs in the kernel and in bpfscope, and compares r0, len, protocol and
// data_out.
func TestLwtPushEncapKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bpf() unavailable: not root")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skip(err)
	}
	ip4 := func(ihl byte, n int, csum uint16) []byte {
		h := make([]byte, n)
		copy(h, []byte{0x40 | ihl, 0, 0, 84, 0x12, 0x34, 0, 0, 64, 4, byte(csum >> 8), byte(csum), 192, 0, 2, 1, 198, 51, 100, 7})
		for i := 20; i < n; i++ {
			h[i] = byte(i)
		}
		return h
	}
	ip6 := make([]byte, 40)
	copy(ip6, []byte{0x60, 0, 0, 0, 0, 20, 41, 64})
	ip6[23], ip6[39] = 1, 2
	gso := make([]byte, 192) // __sk_buff with gso_size 100: a GSO skb without gso_type
	binary.LittleEndian.PutUint32(gso[176:], 100)
	cases := []struct {
		name  string
		typ   ebpf.ProgramType
		mode  int32
		hdr   []byte
		ctxIn []byte
	}{
		{"ipv4", ebpf.LWTIn, 2, ip4(5, 20, 0), nil},
		{"ipv4-csum-kept", ebpf.LWTIn, 2, ip4(5, 20, 0xbeef), nil},
		{"ipv4-options", ebpf.LWTIn, 2, ip4(6, 24, 0), nil},
		{"ipv4-gre-after", ebpf.LWTIn, 2, ip4(5, 28, 0), nil},
		{"ipv4-ihl-beyond", ebpf.LWTIn, 2, ip4(15, 24, 0), nil},
		{"ipv4-ihl-4", ebpf.LWTIn, 2, ip4(4, 20, 0), nil},
		{"ipv4-ihl-0", ebpf.LWTIn, 2, ip4(0, 20, 0), nil},
		{"ipv6", ebpf.LWTIn, 2, ip6, nil},
		{"ipv6-short", ebpf.LWTIn, 2, ip6[:36], nil},
		{"version-5", ebpf.LWTIn, 2, append([]byte{0x50}, ip6[1:]...), nil},
		{"short", ebpf.LWTIn, 2, ip4(5, 19, 0), nil},
		{"seg6", ebpf.LWTIn, 0, ip6, nil},
		{"seg6-inline", ebpf.LWTIn, 1, ip6, nil},
		{"bad-type", ebpf.LWTIn, 3, ip4(5, 20, 0), nil},
		{"xmit-short", ebpf.LWTXmit, 2, ip4(5, 19, 0), nil},
		{"xmit-ihl-beyond", ebpf.LWTXmit, 2, ip4(15, 24, 0), nil},
		{"xmit-seg6", ebpf.LWTXmit, 0, ip6, nil},
		{"xmit-ipv4", ebpf.LWTXmit, 2, ip4(5, 20, 0), nil},
		{"xmit-ipv4-options", ebpf.LWTXmit, 2, ip4(6, 24, 0), nil},
		{"xmit-ipv6", ebpf.LWTXmit, 2, ip6, nil},
		{"xmit-ipv4-gso", ebpf.LWTXmit, 2, ip4(5, 20, 0), gso},
		{"ipv4-gso", ebpf.LWTIn, 2, ip4(5, 20, 0), gso},
		{"ipv6-gso", ebpf.LWTIn, 2, ip6, gso},
	}
	frame := make([]byte, 74)
	copy(frame[12:], []byte{0x08, 0x00, 0x45, 0, 0, 60, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			km, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 24, MaxEntries: 1})
			if err != nil {
				t.Skipf("bpf() unavailable: %v", err)
			}
			defer km.Close()
			p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: c.typ, License: "GPL", Instructions: pushEncapProgram(c.mode, c.hdr, km.FD())})
			if err != nil {
				t.Skipf("kernel rejects: %v", err)
			}
			defer p.Close()
			opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, 1024)}
			if c.ctxIn != nil {
				opts.Context, opts.ContextOut = c.ctxIn, make([]byte, len(c.ctxIn))
			}
			if _, err := p.Run(opts); err != nil {
				t.Skipf("test run: %v", err)
			}
			want := make([]byte, 24)
			if err := km.Lookup(uint32(0), want); err != nil {
				t.Fatal(err)
			}

			var code bytes.Buffer
			if err := pushEncapProgram(c.mode, c.hdr, 0).Marshal(&code, binary.LittleEndian); err != nil {
				t.Fatal(err)
			}
			prog, err := vm.Load("lwt", code.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			mp, err := maps.New(&maps.Spec{Name: "out", Type: maps.Array, KeySize: 4, ValueSize: 24, MaxEntries: 1})
			if err != nil {
				t.Fatal(err)
			}
			m, err := vm.New(prog, vm.Config{Helpers: helpers.New(nil), Maps: []vm.Map{mp}})
			if err != nil {
				t.Fatal(err)
			}
			k, err := ctx.NewSKB(m, c.typ, frame, c.ctxIn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Run(context.Background(), k.Arg()); err != nil {
				t.Fatal(err)
			}
			if kctx, _ := opts.ContextOut.([]byte); c.ctxIn != nil && !bytes.Equal(k.Output().Ctx, kctx) {
				t.Errorf("ctx_out:\nbpfscope %x\nkernel   %x", k.Output().Ctx, opts.ContextOut)
			}
			if testing.Verbose() {
				t.Logf("kernel r0 %d", int64(binary.LittleEndian.Uint64(want)))
			}
			got := make([]byte, 24)
			if err := mp.Get(make([]byte, 4), got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("r0, len, protocol:\nbpfscope %x\nkernel   %x", got, want)
			}
			if out := k.Output().Data; !bytes.Equal(out, opts.DataOut) {
				t.Errorf("data_out:\nbpfscope %x\nkernel   %x", out, opts.DataOut)
			}
		})
	}
}
