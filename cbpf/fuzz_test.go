package cbpf

import (
	"context"
	"testing"
	"time"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"golang.org/x/net/bpf"
)

// FuzzClassic feeds the parsers, the checkers and the converter arbitrary
// filters, runs what the kernel would accept on a frame under a watchdog,
// and compares packet filters without kernel-specific loads with
// golang.org/x/net/bpf's VM.
func FuzzClassic(f *testing.F) {
	for _, fl := range []Filter{
		{{Op: clsRET | retK, K: 1}},
		{{Op: clsLD | modeABS | szH, K: 12}, {Op: clsJMP | jmpJEQ | srcK, K: 0x800, Jt: 0, Jf: 1}, {Op: clsRET | retK, K: 65535}, {Op: clsRET | retK}},
		{{Op: clsLDX | szB | modeMSH, K: 14}, {Op: clsLD | modeIND | szH, K: 16}, {Op: clsRET | retA}},
		{{Op: clsLD | modeIMM, K: 7}, {Op: clsST, K: 3}, {Op: clsLDX | modeMEM, K: 3}, {Op: clsALU | aluDIV | srcX}, {Op: clsRET | retA}},
		{{Op: clsLD | modeABS | szW, K: 0xfffff000 + adPayOffset}, {Op: clsRET | retA}},
		{{Op: clsLD | modeABS | szW, K: 4}, {Op: clsRET | retK, K: uint32(RetAllow)}},
	} {
		f.Add(fl.Bytes(), []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6})
	}
	f.Add([]byte("{ 0x6, 0, 0, 0x00040000 },"), []byte{})
	f.Fuzz(func(t *testing.T, prog, frame []byte) {
		if len(frame) > bpfctx.MaxPacketSocketFrame {
			return // refused with an error before any filter runs
		}
		fl, err := FromBytes(prog)
		if err != nil {
			if _, err := Parse(string(prog)); err != nil {
				return
			}
			return
		}
		for _, in := range fl {
			_ = Disasm(in, 0)
		}
		for _, mode := range []Mode{Socket, Seccomp} {
			p, err := Load("fuzz", fl, mode)
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			start := time.Now()
			if mode == Seccomp {
				r, err := p.NewSeccompRunner(nil, vm.Config{MaxInsns: 1 << 16})
				if err != nil {
					t.Fatalf("a checked seccomp filter does not bind: %v", err)
				}
				if _, err := r.Run(ctx, SeccompData{Nr: 1, Arch: AuditArchX8664}); err != nil {
					t.Fatalf("a checked seccomp filter faults: %v\n%s", err, fl)
				}
			} else {
				r, err := p.NewSocketRunner(nil, vm.Config{MaxInsns: 1 << 16})
				if err != nil {
					t.Fatalf("a checked filter does not bind: %v", err)
				}
				v, err := r.Run(ctx, frame)
				if err != nil {
					t.Fatalf("a checked filter faults: %v\n%s", err, fl)
				}
				compareXNet(t, fl, frame, v)
			}
			cancel()
			if d := time.Since(start); d > time.Second {
				t.Fatalf("a run of %d classic instructions took %v", len(fl), d)
			}
		}
	})
}

// compareXNet runs fl in x/net/bpf's VM where its semantics are the
// kernel's: no ancillary or negative-offset loads (it reads those as out of
// the packet), no RET A after a load the kernel converts differently.
func compareXNet(t *testing.T, fl Filter, frame []byte, got Verdict) {
	for _, in := range fl {
		if (in.Op&0x07 == clsLD || in.Op&0x07 == clsLDX) && (in.Op&0xe0 == modeABS || in.Op&0xe0 == modeIND) && int32(in.K) < 0 {
			return
		}
		if in.Op&0x07 == clsLD && in.Op&0xe0 == modeIND {
			return // the kernel adds X and k as 32-bit signed; x/net/bpf as unsigned
		}
		if in.Op == clsLDX|szW|modeLEN {
			return // x/net/bpf decodes ldx #pktlen as a load into A
		}
	}
	insns, ok := bpf.Disassemble(fl)
	if !ok {
		return
	}
	ref, err := bpf.NewVM(insns)
	if err != nil {
		return
	}
	want, err := ref.Run(frame)
	if err != nil {
		return
	}
	if int(got.Ret) != want {
		t.Fatalf("bpfscope returns %d, x/net/bpf %d\n%s", got.Ret, want, fl)
	}
}
