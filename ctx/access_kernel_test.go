package ctx_test

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestCtxAccessMatrixKernel checks the context access rules against the
// kernel's verifier: for every aligned offset and size, a load from and a
// store to the context that the verifier accepts must run in bpfscope,
// and one it rejects must fail the run. Types whose test run the kernel
// does not support (perf_event, kprobe) are compared on the rules alone,
// which is what their providers implement.
func TestCtxAccessMatrixKernel(t *testing.T) {
	needKernel(t)
	frame := udpFrame()
	for _, tt := range []struct {
		typ   ebpf.ProgramType
		size  int // of the context structure
		data  []byte
		ctxIn []byte
	}{
		{typ: ebpf.XDP, size: 24, data: frame},
		{typ: ebpf.FlowDissector, size: 192, data: frame},
		{typ: ebpf.SkLookup, size: 72, ctxIn: skLookupIn()},
		{typ: ebpf.PerfEvent, size: 184, ctxIn: make([]byte, 184)},
		{typ: ebpf.Kprobe, size: 168, ctxIn: make([]byte, 168)},
	} {
		for _, store := range []bool{false, true} {
			for _, n := range []int{1, 2, 4, 8} {
				for off := 0; off < tt.size+8; off += n {
					insns := asm.Instructions{asm.LoadMem(asm.R0, asm.R1, int16(off), sizes[n])}
					what := "load"
					if store {
						insns = asm.Instructions{asm.Mov.Imm(asm.R2, 0), asm.StoreMem(asm.R1, int16(off), asm.R2, sizes[n])}
						what = "store"
					}
					insns = append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
					name := fmt.Sprintf("%s: %s u%d at %d", tt.typ, what, 8*n, off)
					p, m, kerr := kernelProg(t, tt.typ, insns, 0)
					if kerr == nil {
						p.Close()
						m.Close()
					}
					got := scope(t, tt.typ, insns, tt.data, tt.ctxIn, nil)
					if (kerr == nil) != (got.Err == nil) {
						t.Errorf("%s: kernel verifier %v, bpfscope run %v", name, errOrOK(kerr), errOrOK(got.Err))
					}
				}
			}
		}
	}
}

func errOrOK(err error) string {
	if err == nil {
		return "accepts"
	}
	return "refuses: " + err.Error()
}

// skLookupIn is a valid bpf_sk_lookup ctx_in: TCP over IPv4.
func skLookupIn() []byte {
	b := make([]byte, 72)
	b[8], b[12] = 2, 6
	copy(b[16:], []byte{10, 0, 0, 1})
	copy(b[40:], []byte{10, 0, 0, 2})
	b[36], b[60] = 0x39, 80
	return b
}

// TestSockAccessMatrixKernel: the bpf_sock reached from __sk_buff.sk is a
// sock_common pointer; which of its fields a load may read, and that no
// store is allowed, must match the kernel's verifier.
func TestSockAccessMatrixKernel(t *testing.T) {
	needKernel(t)
	for _, store := range []bool{false, true} {
		for _, n := range []int{1, 2, 4, 8} {
			for off := 0; off < 88; off += n {
				access := asm.LoadMem(asm.R0, asm.R2, int16(off), sizes[n])
				if store {
					access = asm.StoreMem(asm.R2, int16(off), asm.R3, sizes[n])
				}
				insns := asm.Instructions{
					asm.Mov.Imm(asm.R3, 0),
					asm.LoadMem(asm.R2, asm.R1, 168, asm.DWord), // skb->sk
					asm.JEq.Imm(asm.R2, 0, "out"),
					access,
					asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return(),
				}
				p, m, kerr := kernelProg(t, ebpf.SchedCLS, insns, 0)
				if kerr == nil {
					p.Close()
					m.Close()
				}
				got := scope(t, ebpf.SchedCLS, insns, udpFrame(), nil, nil)
				if (kerr == nil) != (got.Err == nil) {
					t.Errorf("bpf_sock: store %v u%d at %d: kernel verifier %v, bpfscope run %v", store, 8*n, off, errOrOK(kerr), errOrOK(got.Err))
				}
			}
		}
	}
}

// TestLoadAbsKernel: LD_ABS and LD_IND read the packet in network byte
// order from the MAC header on, and end the run with 0 past its end.
func TestLoadAbsKernel(t *testing.T) {
	needKernel(t)
	for _, off := range []int32{0, 12, 14, 23, 26, 56, 58, 60, 1000} {
		for _, size := range []asm.Size{asm.Byte, asm.Half, asm.Word} {
			insns := asm.Instructions{
				asm.Mov.Reg(asm.R6, asm.R1),
				asm.LoadAbs(off, size),
				asm.Mov.Reg(asm.R8, asm.R0),
				asm.Mov.Imm(asm.R7, 2),
				asm.LoadInd(asm.R0, asm.R7, off, size),
				asm.LoadMapValue(asm.R7, resultMap, 0),
				asm.StoreMem(asm.R7, 0, asm.R8, asm.DWord),
				asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
				asm.Mov.Imm(asm.R0, 1), asm.Return(),
			}
			for _, typ := range []ebpf.ProgramType{ebpf.SocketFilter, ebpf.SchedCLS} {
				compareOps(t, fmt.Sprintf("%s ld_abs %v at %d", typ, size, off), typ, insns, udpFrame(), nil, 0)
			}
		}
	}
}
