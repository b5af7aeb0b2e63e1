package testrun

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// kernelSkb answers bpf_get_hash_recalc (helpers.SkbEnv) with the running
// kernel's flow hash of the same packet, which the kernel seeds with a
// per-boot random secret (hashrnd): it asks through a tc program that
// returns bpf_get_hash_recalc in a test run of the packet behind an
// Ethernet header. The other answers are helpers' documented defaults.
type kernelSkb struct {
	t    *testing.T
	prog *ebpf.Program
}

func (e *kernelSkb) SkbHash(l3 []byte) uint32 {
	if e.prog == nil {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type:    ebpf.SchedCLS,
			License: "GPL",
			Instructions: asm.Instructions{
				asm.FnGetHashRecalc.Call(),
				asm.Return(),
			},
		})
		if err != nil {
			e.t.Fatalf("hash program: %v", err)
		}
		e.t.Cleanup(func() { prog.Close() })
		e.prog = prog
	}
	frame := make([]byte, 14, 14+len(l3))
	frame[12], frame[13] = 0x08, 0x00
	if len(l3) > 0 && l3[0]>>4 == 6 {
		frame[12], frame[13] = 0x86, 0xdd
	}
	ret, err := e.prog.Run(&ebpf.RunOptions{Data: append(frame, l3...)})
	if err != nil {
		e.t.Fatalf("hash program: %v", err)
	}
	return ret
}

func (*kernelSkb) SocketCookie() uint64  { return 1 }
func (*kernelSkb) CgroupClassid() uint32 { return 0 }
func (*kernelSkb) SkbCgroupID() uint64   { return 1 }
