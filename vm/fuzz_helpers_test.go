package vm_test

import (
	"context"
	"errors"
	"runtime/metrics"
	"slices"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// FuzzVMHelpers runs programs built from the fuzzer's bytes the way the
// bugs of issue 12 were: helper calls with arguments that are map, stack,
// ctx and function pointers, callbacks (bpf_loop, bpf_for_each_map_elem),
// tail calls, loops, and maps shared by two machines and kept across
// runs. A watchdog bounds each run: a small instruction budget, wall time
// and allocations; exceeding one is a finding, as are a panic, an error
// that is not a RunError, and a ring buffer left with records no reader
// can reach.
func FuzzVMHelpers(f *testing.F) {
	for _, seed := range helperSeeds {
		f.Add(seed)
	}
	ids := helpers.New(nil).IDs()
	slices.Sort(ids)
	f.Fuzz(func(t *testing.T, data []byte) {
		insns := genProgram(data, ids)
		p, err := vm.NewProgram("fuzz", insns)
		if err != nil {
			return
		}
		ms := fuzzMaps(t, p)
		rb := ms[3].(*maps.RingBufMap)
		hs := helpers.New(nil)
		// Two machines share the maps, and each runs twice: what one run
		// leaves behind is what the next one sees.
		var runs []*vm.Machine
		for range 2 {
			m, err := vm.New(p, vm.Config{Helpers: hs, Maps: ms, MaxInsns: fuzzBudget, MaxOutput: 1 << 16})
			if err != nil {
				return
			}
			runs = append(runs, m, m)
		}
		for k, m := range runs {
			ctxMem := m.Map(&vm.Region{Name: "ctx", Data: make([]byte, 64)})
			err := watchdog(t, func() error { _, err := m.Run(context.Background(), ctxMem); return err })
			var re *vm.RunError
			if err != nil && !errors.As(err, &re) {
				t.Fatalf("run %d: error is not a RunError: %v", k, err)
			}
			// Helper work is charged by reducing the budget, so
			// instructions alone stay within it too.
			if m.Insns() > fuzzBudget+uint64(p.Len()) {
				t.Fatalf("run %d: %d instructions ran past the budget of %d", k, m.Insns(), fuzzBudget)
			}
			rb.Drain()
			if left := rb.Query(maps.RingBufAvailData); left != 0 {
				t.Fatalf("run %d (err %v) left %d bytes of ring buffer no reader can consume", k, err, left)
			}
			ms[5].(*maps.PerfEventArrayMap).Drain()
		}
	})
}

// fuzzBudget is the watchdog's instruction budget.
const fuzzBudget = 20000

// watchdog runs f, failing if it takes more than a few seconds of wall
// time or allocates more than 256 MiB: more than any run within the
// fuzzer's budget and output limit needs.
func watchdog(t *testing.T, f func() error) error {
	t.Helper()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	done := make(chan error, 1)
	go func() { done <- f() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("watchdog: run still going after 10s")
	}
	metrics.Read(sample)
	if n := sample[0].Value.Uint64() - before; n > 256<<20 {
		t.Fatalf("watchdog: run allocated %d MiB", n>>20)
	}
	return err
}

// fuzzMaps are the maps the generated programs name by index: 0 array
// (16-byte values, a spin lock at 0), 1 hash, 2 per-CPU array, 3 ring
// buffer, 4 queue, 5 perf event array, 6 program array holding the
// program itself.
func fuzzMaps(t *testing.T, p *vm.Program) []vm.Map {
	t.Helper()
	specs := []maps.Spec{
		{Name: "arr", Type: maps.Array, KeySize: 4, ValueSize: 16, MaxEntries: 4},
		{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 8},
		{Name: "pcpu", Type: maps.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2},
		{Name: "rb", Type: maps.RingBuf, MaxEntries: 4096},
		{Name: "queue", Type: maps.Queue, ValueSize: 8, MaxEntries: 4},
		{Name: "perf", Type: maps.PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: 1},
		{Name: "progs", Type: maps.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 2},
	}
	var ms []vm.Map
	for i := range specs {
		m, err := maps.New(&specs[i])
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	ms[5].(*maps.PerfEventArrayMap).OpenAll()
	if err := ms[6].(*maps.ProgramArrayMap).SetProgram(0, p); err != nil {
		t.Fatal(err)
	}
	return ms
}

// genProgram turns bytes into a main function and two callbacks. Each
// function is a run of operations, each taking a few bytes: set a register
// to a map, stack, ctx or function pointer or a small constant, call a
// helper, load, store, jump (backward too), or a raw instruction.
func genProgram(data []byte, ids []int32) []isa.Insn {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	var funcs [3][]isa.Insn
	for f := range funcs {
		var body []isa.Insn
		if f == 0 {
			body = append(body, i(movX, 6, 1, 0, 0)) // r6 = ctx
		}
		for n := int(next() % 24); n > 0 && len(data) > 0; n-- {
			body = append(body, genOp(next, ids, len(body))...)
		}
		body = append(body, i(movK, 0, 0, 0, int32(next()%3)), i(exit, 0, 0, 0, 0))
		funcs[f] = body
	}
	// Function addresses and calls are fixed up once the layout is known:
	// a placeholder imm of -1000-k names function k.
	starts := []int{0, len(funcs[0]), len(funcs[0]) + len(funcs[1])}
	var prog []isa.Insn
	for _, body := range funcs {
		prog = append(prog, body...)
	}
	for pc := range prog {
		in := &prog[pc]
		if in.Imm <= -1000 && in.Imm > -1003 && (in.Op == lddw && in.Src == isa.PseudoFunc || in.Op == call && in.Src == isa.PseudoCall) {
			in.Imm = int32(starts[-1000-in.Imm] - pc - 1)
		}
	}
	return prog
}

// genOp emits one operation at index at of its function.
func genOp(next func() byte, ids []int32, at int) []isa.Insn {
	reg := func() uint8 { return 1 + next()%5 } // r1..r5
	switch op := next() % 12; op {
	case 0, 1: // map pointer
		return []isa.Insn{i(lddw, reg(), isa.PseudoMapFD, 0, int32(next()%7)), i(0, 0, 0, 0, 0)}
	case 2: // stack pointer, 8-aligned
		r := reg()
		return []isa.Insn{i(movX, r, 10, 0, 0), i(addK, r, 0, 0, -8*int32(1+next()%8))}
	case 3: // function pointer to a callback
		return []isa.Insn{i(lddw, reg(), isa.PseudoFunc, 0, -1001-int32(next()%2)), i(0, 0, 0, 0, 0)}
	case 4: // small constant
		vals := []int32{0, 1, 2, 4, 8, 16, 64, 4096, 1 << 23, -1}
		return []isa.Insn{i(movK, reg(), 0, 0, vals[int(next())%len(vals)])}
	case 5: // ctx, or the last helper's result
		if next()%2 == 0 {
			return []isa.Insn{i(movX, reg(), 6, 0, 0)}
		}
		return []isa.Insn{i(movX, reg(), 0, 0, 0)}
	case 6, 7: // helper call, favouring the ones that loop, hold or output
		hot := []int32{181, 164, 12, 131, 132, 133, 130, 93, 94, 1, 2, 3, 6, 25, 87, 88}
		id := hot[int(next())%len(hot)]
		if next()%3 == 0 {
			id = ids[int(next())%len(ids)]
		}
		return []isa.Insn{i(call, 0, 0, 0, id)}
	case 8: // store through r0 (a value or record pointer) or the stack
		r := []uint8{0, 10}[next()%2]
		return []isa.Insn{i(stdw, r, 0, int16(int8(next()))&^7, int32(int8(next())))}
	case 9: // load through r0 or the stack
		r := []uint8{0, 10}[next()%2]
		return []isa.Insn{i(ldxdw, 7, r, int16(int8(next()))&^7, 0)}
	case 10: // conditional jump, backward or forward, within the function
		off := int16(int8(next()) % 8)
		if int(off)+at+1 < 1 {
			off = 0
		}
		return []isa.Insn{i(jneK, 0, 0, off, 0)}
	default: // local call to a callback
		return []isa.Insn{i(call, 0, isa.PseudoCall, 0, -1001-int32(next()%2))}
	}
}

// helperSeeds start FuzzVMHelpers on the paths of issue 12.
var helperSeeds = [][]byte{
	// bpf_loop over a callback.
	{3, 3, 1, 0, 4, 0, 9, 6, 0, 0, 0, 0},
	// reserve a record, write through r0, submit.
	{6, 0, 0, 3, 4, 1, 4, 6, 3, 0, 8, 0, 0, 5, 5, 1, 0, 6, 4, 0, 0, 0, 0},
	// lock, fault, unlock.
	{5, 0, 0, 0, 2, 1, 1, 6, 9, 0, 9, 0, 0, 7, 0, 0, 0, 0},
	// for_each over the array, callback calling bpf_loop.
	{4, 0, 0, 0, 3, 1, 1, 6, 1, 0, 3, 2, 0, 0, 4, 2, 0, 3, 2, 1, 6, 0, 0, 0},
	// tail call of itself.
	{3, 5, 0, 0, 0, 1, 6, 6, 2, 0, 0, 0, 0},
}
