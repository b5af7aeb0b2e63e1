package vm_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// The instruction budget and the context must stop a run on every path a
// program can loop through: ordinary jumps, may_goto, BPF-to-BPF calls,
// callbacks (bpf_loop, bpf_for_each_map_elem, nested in each other), tail
// calls, and helpers that work in loops on the program's behalf. Each
// path gets a budget case and a cancellation case; every run has a
// wall-clock guard so a regression fails instead of hanging.

// wallGuard bounds every run of these tests; a run that is still going
// then ignores its limits.
const wallGuard = 30 * time.Second

// guarded runs f, failing the test if it has not returned within wallGuard.
func guarded(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(wallGuard):
		t.Fatalf("run still going after %v: a limit is not enforced on this path", wallGuard)
		return nil
	}
}

// cancelID is the helper a limit test's program calls to cancel its own
// run, so the test knows the instruction count at cancellation.
const cancelID = 1000

// limitCase is a program looping through one path, with what it needs.
type limitCase struct {
	name string
	src  string
	maps func(t *testing.T, p *vm.Program) []vm.Map
	// budget is the budget of the budget case (default 100000): may_goto
	// falls through 8M times before it loops on itself, and a helper's
	// work shows only against a budget large enough for it to matter.
	budget uint64
}

// bigArray is an array map with n 8-byte values.
func bigArray(t *testing.T, n uint32, valueSize uint32) maps.Map {
	t.Helper()
	m, err := maps.New(&maps.Spec{Name: "big", Type: maps.Array, KeySize: 4, ValueSize: valueSize, MaxEntries: n})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var limitCases = []limitCase{
	{name: "jump", src: `
		call 1000
		r0 = 0
	l:	r0 += 1
		goto l
		exit`},
	{name: "may_goto", budget: 1 << 25, src: `
		call 1000
	l0:	may_goto l1
		goto l0
	l1:	may_goto l1 ; once the frame's 8M are spent, may_goto jumps to itself
		exit`},
	{name: "bpf-to-bpf call", src: `
		call 1000
	l:	call f
		goto l
	f:	r0 = 0
		exit`},
	{name: "recursive call chain", src: `
		call 1000
	l:	call f
		goto l
	f:	call g
		exit
	g:	r0 = 0
		exit`},
	{name: "bpf_loop", src: `
		call 1000
		r1 = 8388608
		r2 = subprog[cb]
		r3 = 0
		r4 = 0
		call bpf_loop
		exit
	cb:	r0 = 0
		exit`},
	{name: "nested bpf_loop", src: `
		call 1000
		r1 = 8388608
		r2 = subprog[outer]
		r3 = 0
		r4 = 0
		call bpf_loop
		exit
	outer:	r1 = 8388608
		r2 = subprog[inner]
		r3 = 0
		r4 = 0
		call bpf_loop
		r0 = 0
		exit
	inner:	r0 = 0
		exit`},
	{name: "bpf_for_each_map_elem in bpf_loop", budget: 1 << 22, src: `
		call 1000
		r1 = 8388608
		r2 = subprog[outer]
		r3 = 0
		r4 = 0
		call bpf_loop
		exit
	outer:	r1 = map[id:0]
		r2 = subprog[first]
		r3 = 0
		r4 = 0
		call bpf_for_each_map_elem
		r0 = 0
		exit
	first:	r0 = 1 ; stop at the first element: the helper's own work is what loops
		exit`,
		maps: func(t *testing.T, _ *vm.Program) []vm.Map { return []vm.Map{bigArray(t, 1<<16, 8)} }},
	{name: "nested bpf_for_each_map_elem", src: `
		call 1000
		r1 = map[id:0]
		r2 = subprog[outer]
		r3 = 0
		r4 = 0
		call bpf_for_each_map_elem
		exit
	outer:	r1 = map[id:0]
		r2 = subprog[inner]
		r3 = 0
		r4 = 0
		call bpf_for_each_map_elem
		r0 = 0
		exit
	inner:	r0 = 0
		exit`,
		maps: func(t *testing.T, _ *vm.Program) []vm.Map { return []vm.Map{bigArray(t, 1<<12, 8)} }},
	{name: "tail call", src: `
		r6 = r1
		call 1000
		r0 = 0
	l:	r0 += 1
		if r0 < 10000 goto l
		r1 = r6
		r2 = map[id:0]
		r3 = 0
		call bpf_tail_call
		exit`,
		maps: func(t *testing.T, p *vm.Program) []vm.Map {
			pa, err := maps.New(&maps.Spec{Name: "progs", Type: maps.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := pa.(*maps.ProgramArrayMap).SetProgram(0, p); err != nil {
				t.Fatal(err)
			}
			return []vm.Map{pa}
		}},
	{name: "bpf_strncmp work in bpf_loop", budget: 1 << 22, src: `
		call 1000
		r1 = 8388608
		r2 = subprog[cb]
		r3 = 0
		r4 = 0
		call bpf_loop
		exit
	cb:	r1 = map[id:0][0]+0
		r2 = 1
		r3 = map[id:0][0]+0 ; a 64 KiB constant string
		call bpf_strncmp
		r0 = 0
		exit`,
		maps: func(t *testing.T, _ *vm.Program) []vm.Map { return []vm.Map{filledArray(t, 1<<16, '1')} }},
	{name: "bpf_strtol work in bpf_loop", budget: 1 << 22, src: `
		call 1000
		r1 = 8388608
		r2 = subprog[cb]
		r3 = 0
		r4 = 0
		call bpf_loop
		exit
	cb:	r1 = map[id:0][0]+0
		r2 = 65535 ; 64 KiB of white space
		r3 = 10
		r4 = r10
		r4 += -8
		call bpf_strtol
		r0 = 0
		exit`,
		maps: func(t *testing.T, _ *vm.Program) []vm.Map { return []vm.Map{filledArray(t, 1<<16, ' ')} }},
}

// filledArray is an array map with one value of size bytes of c, the
// last one NUL.
func filledArray(t *testing.T, size uint32, c byte) maps.Map {
	t.Helper()
	m, err := maps.New(&maps.Spec{Name: "str", Type: maps.Array, KeySize: 4, ValueSize: size, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := bytes.Repeat([]byte{c}, int(size))
	v[size-1] = 0
	if err := m.Update([]byte{0, 0, 0, 0}, v, 0, 0); err != nil {
		t.Fatal(err)
	}
	return m
}

// limitMachine builds the machine of c: kernel helpers and one that
// cancels the run (cancel may be nil).
func limitMachine(t *testing.T, c limitCase, budget uint64, cancel func()) (*vm.Machine, *uint64) {
	t.Helper()
	insns, err := isa.Assemble(c.src)
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, insns...)
	hs := helpers.New(nil)
	var at uint64
	hs.Add(cancelID, vm.Helper{Name: "cancel", Fn: func(m *vm.Machine, _ vm.Args) (uint64, error) {
		if cancel != nil && at == 0 {
			at = m.Insns()
			cancel()
		}
		return 0, nil
	}})
	var ms []vm.Map
	if c.maps != nil {
		ms = c.maps(t, p)
	}
	return machine(t, p, vm.Config{Helpers: hs, Maps: ms, MaxInsns: budget}), &at
}

func TestBudgetOnEveryPath(t *testing.T) {
	for _, c := range limitCases {
		t.Run(c.name, func(t *testing.T) {
			budget := c.budget
			if budget == 0 {
				budget = 100_000
			}
			m, _ := limitMachine(t, c, budget, nil)
			err := guarded(t, func() error { _, err := m.Run(context.Background()); return err })
			var re *vm.RunError
			if !errors.Is(err, vm.ErrBudget) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want ErrBudget", err)
			}
			// The budget holds to within one look's worth of straight-line
			// code and callback entries.
			if re.Insns > budget+uint64(m.Program().Len()) {
				t.Fatalf("stopped after %d instructions, budget %d", re.Insns, budget)
			}
		})
	}
}

func TestCancelOnEveryPath(t *testing.T) {
	for _, c := range limitCases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			stop := errors.New("stopped by the test")
			m, at := limitMachine(t, c, 1<<62, func() { cancel(stop) })
			err := guarded(t, func() error { _, err := m.Run(ctx); return err })
			var re *vm.RunError
			if !errors.Is(err, vm.ErrCanceled) || !errors.Is(err, stop) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want ErrCanceled wrapping the cause", err)
			}
			// Cancellation is seen within CheckInterval instructions (or
			// units of helper work) and the straight-line code after them.
			if late := re.Insns - *at; late > vm.CheckInterval+uint64(m.Program().Len()) {
				t.Fatalf("stopped %d instructions after the cancellation, want at most %d", late, vm.CheckInterval+m.Program().Len())
			}
		})
	}
}

// TestRunContextConvention: a context already done runs nothing, and the
// run's error wraps the context's (issue 18).
func TestRunContextConvention(t *testing.T) {
	prog := load(t,
		i(stdw, 1, 0, 0, 7), // leaves a mark in the memory at r1
		i(movK, 0, 0, 0, 1), i(exit, 0, 0, 0, 0))
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			m := machine(t, prog, vm.Config{})
			mem := make([]byte, 8)
			var steps stepTrace
			m.Attach(&steps)
			_, err := m.Run(ctx, m.Map(&vm.Region{Name: "mem", Data: mem}))
			if !errors.Is(err, tc.want) || !errors.Is(err, vm.ErrCanceled) {
				t.Fatalf("err = %v, want one wrapping %v and vm.ErrCanceled", err, tc.want)
			}
			if m.Insns() != 0 || mem[0] != 0 || len(steps.recs) != 0 {
				t.Fatalf("a run with a done context executed %d instructions (memory %v, %d steps)", m.Insns(), mem, len(steps.recs))
			}
		})
	}
	t.Run("deadline mid-run", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		m := machine(t, load(t, loop...), vm.Config{MaxInsns: 1 << 62})
		err := guarded(t, func() error { _, err := m.Run(ctx); return err })
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, vm.ErrCanceled) {
			t.Fatalf("err = %v, want one wrapping context.DeadlineExceeded and vm.ErrCanceled", err)
		}
	})
}

// TestHelperPanicIsRunError: a helper that panics ends the run with a
// RunError naming the helper and pc; the panic never reaches the caller.
func TestHelperPanicIsRunError(t *testing.T) {
	p := load(t, i(movK, 0, 0, 0, 0), i(call, 0, 0, 0, 7), i(exit, 0, 0, 0, 0))
	hs := vm.Helpers{7: {Name: "bpf_buggy", Fn: func(*vm.Machine, vm.Args) (uint64, error) {
		var b []byte
		return uint64(b[3]), nil
	}}}
	m := machine(t, p, vm.Config{Helpers: hs})
	_, err := m.Run(context.Background())
	var re *vm.RunError
	if !errors.Is(err, vm.ErrHelperPanic) || !errors.As(err, &re) || re.PC != 1 || !strings.Contains(err.Error(), "bpf_buggy") {
		t.Fatalf("err = %v, want ErrHelperPanic at pc 1 naming bpf_buggy", err)
	}
	// The machine stays usable.
	if _, err := m.Run(context.Background()); !errors.Is(err, vm.ErrHelperPanic) {
		t.Fatalf("second run: %v", err)
	}
}

// panicCall panics in Call: a bug in the embedder's hook.
type panicCall struct{}

func (panicCall) Call(*hooks.CallEvent) hooks.Action { panic("hook bug") }

// TestHelperPanicInCallback: a panic is caught at the helper that
// panicked, however deep in callbacks, and the machine goes back to that
// helper's call: its pc and depth, even when a callback before it failed
// and left its frame behind. A panic outside helpers (a hook's) is not
// the program's fault and reaches the caller.
func TestHelperPanicInCallback(t *testing.T) {
	buggy := func(*vm.Machine, vm.Args) (uint64, error) { panic("helper bug") }
	// loop: calls back r1 once, then panics if r2 says so, whatever the
	// callback did.
	loop := func(m *vm.Machine, a vm.Args) (uint64, error) {
		_, err := m.CallFunc(a[0])
		if a[1] != 0 {
			panic("after the callback")
		}
		return 0, err
	}
	hs := vm.Helpers{7: {Name: "bpf_buggy", Fn: buggy}, 8: {Name: "bpf_loop1", Fn: loop}}
	prog := func(r2 int32, callback ...isa.Insn) *vm.Program {
		return load(t, append([]isa.Insn{
			i(lddw, 1, isa.PseudoFunc, 0, 5), // -> pc 6
			i(0, 0, 0, 0, 0),
			i(movK, 2, 0, 0, r2),
			i(call, 0, 0, 0, 8),
			i(movK, 0, 0, 0, 0),
			i(exit, 0, 0, 0, 0),
		}, callback...)...)
	}
	for _, c := range []struct {
		name     string
		p        *vm.Program
		pc, dep  int
		names    string
		callHook bool
	}{
		{"in a callback", prog(0, i(movK, 0, 0, 0, 0), i(call, 0, 0, 0, 7), i(exit, 0, 0, 0, 0)), 7, 1, "bpf_buggy", false},
		{"after a failed callback", prog(1, i(ldxdw, 0, 0, 0, 0), i(exit, 0, 0, 0, 0)), 3, 0, "bpf_loop1", false},
		{"a hook's", load(t, i(call, 0, isa.PseudoCall, 0, 1), i(exit, 0, 0, 0, 0), i(movK, 0, 0, 0, 0), i(exit, 0, 0, 0, 0)), 0, 0, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := machine(t, c.p, vm.Config{Helpers: hs})
			if c.callHook {
				m.Attach(panicCall{})
				defer func() {
					if p := recover(); p != "hook bug" {
						t.Fatalf("recovered %v, want the hook's panic", p)
					}
				}()
			}
			_, err := m.Run(context.Background())
			if c.callHook {
				t.Fatalf("err = %v, want the hook's panic", err)
			}
			var re *vm.RunError
			if !errors.Is(err, vm.ErrHelperPanic) || !errors.As(err, &re) || re.PC != c.pc || re.Depth != c.dep || !strings.Contains(err.Error(), c.names) {
				t.Fatalf("err = %v, want ErrHelperPanic at pc %d depth %d naming %s", err, c.pc, c.dep, c.names)
			}
			if m.Depth() != c.dep {
				t.Fatalf("depth %d after the run, want %d", m.Depth(), c.dep)
			}
			// The machine stays usable.
			if _, err := m.Run(context.Background()); !errors.Is(err, vm.ErrHelperPanic) {
				t.Fatalf("second run: %v", err)
			}
		})
	}
}
