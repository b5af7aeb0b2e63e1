package vm_test

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Benchmarks report ns per executed instruction ("ns/insn") and allocations
// per run. Programs are small versions of what XDP programs do: ALU work,
// stack traffic, packet parsing with bounds checks, data-dependent branches
// and calls: BPF-to-BPF, helpers and callbacks.

func mustProgram(tb testing.TB, insns asm.Instructions) *vm.Program {
	tb.Helper()
	p, err := vm.FromInstructions("bench", insns)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// aluLoop: 1000 iterations of a few ALU operations.
func aluLoop() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Imm(asm.R1, 1000),
		asm.Add.Reg(asm.R0, asm.R1).WithSymbol("loop"),
		asm.Xor.Imm(asm.R0, 0x55),
		asm.LSh.Imm(asm.R0, 1),
		asm.Mul.Imm(asm.R0, 3),
		asm.Sub.Imm(asm.R1, 1),
		asm.JNE.Imm(asm.R1, 0, "loop"),
		asm.Return(),
	}
}

// stackLoop: 500 iterations of stores and loads on the stack.
func stackLoop() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Imm(asm.R1, 500),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord).WithSymbol("loop"),
		asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, -8, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, -16, asm.DWord),
		asm.StoreMem(asm.RFP, -20, asm.R2, asm.Word),
		asm.LoadMem(asm.R4, asm.RFP, -20, asm.Word),
		asm.Add.Reg(asm.R0, asm.R4),
		asm.Add.Reg(asm.R0, asm.R3),
		asm.Sub.Imm(asm.R1, 1),
		asm.JNE.Imm(asm.R1, 0, "loop"),
		asm.Return(),
	}
}

// packetSum: XDP byte-sum over the whole packet with a bounds check per
// byte, as verifier-friendly parsers do.
func packetSum() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("loop"),
		asm.Add.Imm(asm.R4, 1),
		asm.JGT.Reg(asm.R4, asm.R3, "done"),
		asm.LoadMem(asm.R5, asm.R2, 0, asm.Byte),
		asm.Add.Reg(asm.R0, asm.R5),
		asm.Mov.Reg(asm.R2, asm.R4),
		asm.Ja.Label("loop"),
		asm.And.Imm(asm.R0, 3).WithSymbol("done"),
		asm.Return(),
	}
}

// branchy: classifies each of 64 packet bytes with a small decision tree, so
// the path depends on the data.
func branchy() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 64),
		asm.Mov.Imm(asm.R0, 0),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
		asm.LoadMem(asm.R5, asm.R2, 0, asm.Byte).WithSymbol("loop"),
		asm.JGT.Imm(asm.R5, 127, "high"),
		asm.JGT.Imm(asm.R5, 63, "midlow"),
		asm.Add.Imm(asm.R0, 1),
		asm.Ja.Label("next"),
		asm.Add.Imm(asm.R0, 2).WithSymbol("midlow"),
		asm.Ja.Label("next"),
		asm.JGT.Imm(asm.R5, 191, "top").WithSymbol("high"),
		asm.Xor.Imm(asm.R0, 5),
		asm.Ja.Label("next"),
		asm.Mul.Imm(asm.R0, 3).WithSymbol("top"),
		asm.Add.Imm(asm.R2, 1).WithSymbol("next"),
		asm.JLT.Reg(asm.R2, asm.R4, "loop"),
		asm.And.Imm(asm.R0, 3).WithSymbol("out"),
		asm.Return(),
	}
}

// calls: 200 BPF-to-BPF calls of a small function that uses its own stack.
func calls() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R6, 200),
		asm.Mov.Imm(asm.R7, 0),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("loop"),
		asm.Call.Label("f"),
		asm.Add.Reg(asm.R7, asm.R0),
		asm.Sub.Imm(asm.R6, 1),
		asm.JNE.Imm(asm.R6, 0, "loop"),
		asm.Mov.Reg(asm.R0, asm.R7),
		asm.Return(),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord).WithSymbol("f"),
		asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
		asm.Mul.Imm(asm.R0, 7),
		asm.Return(),
	}
}

// helperCalls: 200 calls of bpf_get_smp_processor_id, as cheap as helpers
// get, so the run measures the interpreter's side of a helper call.
func helperCalls() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R6, 200),
		asm.Mov.Imm(asm.R7, 0),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("loop"),
		asm.FnGetSmpProcessorId.Call(),
		asm.Add.Reg(asm.R7, asm.R0),
		asm.Sub.Imm(asm.R6, 1),
		asm.JNE.Imm(asm.R6, 0, "loop"),
		asm.Mov.Reg(asm.R0, asm.R7),
		asm.Return(),
	}
}

// callbacks: bpf_loop calls a small function 200 times, so the run
// measures a callback's entry and return.
func callbacks() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R1, 200),
		asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R2, Src: asm.PseudoFunc, Constant: -1}.WithReference("cb"),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnLoop.Call(),
		asm.Return(),
		asm.Mov.Reg(asm.R0, asm.R1).WithSymbol("cb"),
		asm.Mul.Imm(asm.R0, 7),
		asm.Mov.Imm(asm.R0, 0), // go on
		asm.Return(),
	}
}

// runner runs a program repeatedly; packet programs get an XDP context.
type runner struct {
	m       *vm.Machine
	packets [][]byte
	next    int
	xdp     *bpfctx.XDP // reused from run to run, as a packet loop would
}

func newRunner(tb testing.TB, insns asm.Instructions, packets [][]byte) *runner {
	m, err := vm.New(mustProgram(tb, insns), vm.Config{Helpers: helpers.New(nil)})
	if err != nil {
		tb.Fatal(err)
	}
	return &runner{m: m, packets: packets}
}

func (r *runner) run(tb testing.TB) uint64 {
	var arg uint64
	if r.packets != nil {
		r.m.Reset()
		pkt := r.packets[r.next%len(r.packets)]
		var err error
		if r.xdp == nil {
			r.xdp, err = bpfctx.NewXDP(r.m, pkt, nil)
		} else {
			err = r.xdp.Reset(pkt, nil)
		}
		if err != nil {
			tb.Fatal(err)
		}
		r.next++
		arg = r.xdp.Arg()
	}
	if _, err := r.m.Run(context.Background(), arg); err != nil {
		tb.Fatal(err)
	}
	return r.m.Insns()
}

func randomPackets(n, size int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = make([]byte, size)
		for j := range pkts[i] {
			pkts[i][j] = byte(rng.Uint32())
		}
	}
	return pkts
}

var benchPrograms = []struct {
	name    string
	insns   func() asm.Instructions
	packets [][]byte
}{
	{"alu_loop", aluLoop, nil},
	{"stack_loop", stackLoop, nil},
	{"packet_64B", packetSum, randomPackets(1, 64)},
	{"packet_1500B", packetSum, randomPackets(1, 1500)},
	{"branchy", branchy, randomPackets(1024, 64)},
	{"bpf2bpf_calls", calls, nil},
	{"helper_calls", helperCalls, nil},
	{"callbacks", callbacks, nil},
}

func BenchmarkInterpreter(b *testing.B) {
	for _, bp := range benchPrograms {
		b.Run(bp.name, func(b *testing.B) {
			benchRun(b, newRunner(b, bp.insns(), bp.packets))
		})
	}
}

func benchRun(b *testing.B, r *runner) {
	r.run(b) // warm up: first-run allocations (trap code) are not steady state
	b.ReportAllocs()
	b.ResetTimer()
	var insns uint64
	cpu := cpuTime()
	for b.Loop() {
		insns += r.run(b)
	}
	cpu = cpuTime() - cpu
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(insns), "ns/insn")
	// CPU time too: on a shared virtual machine it leaves out the time
	// the machine's CPU was taken away, which wall time counts.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(insns), "cpu-ns/insn")
	b.ReportMetric(float64(insns)/float64(b.N), "insns/run")
}

// cpuTime is the process's user and system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// noopStep is the cheapest possible per-instruction hook.
type noopStep struct{}

func (noopStep) BeforeStep(*hooks.Step) hooks.Action { return hooks.Continue }
func (noopStep) AfterStep(*hooks.Step) hooks.Action  { return hooks.Continue }

// noopPCs is the cheapest hook that sees every instruction: it receives
// their pcs in batches.
type noopPCs struct{}

func (noopPCs) PCs(*hooks.PCBatch) {}

// readSteps is the cheapest hook that looks at every instruction's
// registers: it rebuilds each batch's steps and reads what changed.
type readSteps struct{ changed uint64 }

func (r *readSteps) PCs(b *hooks.PCBatch) {
	for _, after := range b.Steps() {
		if after != nil {
			r.changed += uint64(after.Changed)
		}
	}
}

// exitOnly listens only to run entry and exit: the per-instruction path
// stays the untraced one.
type exitOnly struct{ runs int }

func (e *exitOnly) Enter(*hooks.Run) {}
func (e *exitOnly) Exit(*hooks.Run)  { e.runs++ }

// BenchmarkHooks measures the cost of tracing on the ALU and packet loops:
// untraced, with a hook that does not listen per instruction, with no-op
// per-instruction hooks (batched and one call per event), and with a
// batched hook that rebuilds every instruction's registers.
func BenchmarkHooks(b *testing.B) {
	for _, bp := range benchPrograms[:4] {
		for _, h := range []struct {
			name string
			hook any
		}{{"none", nil}, {"run_only", &exitOnly{}}, {"noop_pcs", noopPCs{}}, {"read_steps", &readSteps{}}, {"noop_step", noopStep{}}} {
			b.Run(bp.name+"/"+h.name, func(b *testing.B) {
				r := newRunner(b, bp.insns(), bp.packets)
				r.m.Attach(h.hook)
				benchRun(b, r)
			})
		}
	}
}
