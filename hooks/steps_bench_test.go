package hooks

import (
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/isa"
)

// BenchmarkSteps rebuilds the registers of a batch of 4096 instructions
// of a packet loop (moves, adds, a load, jumps), without a machine.
func BenchmarkSteps(b *testing.B) {
	insns, err := isa.Assemble(`
	r2 = *(u32 *)(r1 +0)
	r3 = *(u32 *)(r1 +4)
	r0 = 0
loop:
	r4 = r2
	r4 += 1
	if r4 > r3 goto done
	r5 = *(u8 *)(r2 +0)
	r0 += r5
	r2 = r4
	goto loop
done:
	r0 &= 3
	exit
`)
	if err != nil {
		b.Fatal(err)
	}
	batch := &PCBatch{Prog: "p", Insns: insns}
	for i := range 4096 {
		pc := uint32(3 + i%7)
		batch.PC = append(batch.PC, pc)
		batch.Old = append(batch.Old, uint64(i))
	}
	for _, mode := range []string{"backward", "steps", "executed", "walk"} {
		b.Run(mode, func(b *testing.B) {
			var sum uint64
			start := cpuTime()
			for b.Loop() {
				if mode == "backward" {
					for range batch.Steps() {
						break
					}
				} else if mode == "walk" {
					for c := batch.Walk(); c.Next(); {
						sum += uint64(c.After.Changed)
					}
				} else if mode == "steps" {
					for _, after := range batch.Steps() {
						sum += uint64(after.Changed)
					}
				} else {
					for ex := range batch.Executed() {
						if ex.Access != nil {
							sum += ex.Access.Addr
						}
					}
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N*len(batch.PC)), "cpu-ns/insn")
		})
	}
}

// cpuTime is the process's user and system time: on a busy machine it
// varies less than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
