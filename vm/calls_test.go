package vm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// callLog counts call events: attaching it sends calls and returns
// through the interpreter's slow path.
type callLog struct{ calls, returns int }

func (l *callLog) Call(ev *hooks.CallEvent) hooks.Action {
	if ev.Kind == hooks.Return {
		l.returns++
	} else {
		l.calls++
	}
	return hooks.Continue
}

// callModes runs p untraced (calls and returns inside the call-free loop)
// and under each kind of hook that takes them elsewhere, and wants the
// same r0 from every mode.
func callModes(t *testing.T, p *vm.Program, cfg vm.Config, want uint64) {
	t.Helper()
	for _, mode := range []struct {
		name string
		hook any
	}{{"untraced", nil}, {"call hook", &callLog{}}, {"step hook", &stepLog{}}, {"PC hook", &pcLog{t: t}}} {
		m := machine(t, p, cfg)
		if mode.hook != nil {
			m.Attach(mode.hook)
		}
		r0, err := m.Run(context.Background())
		if err != nil || r0 != want {
			t.Errorf("%s: r0 = %d, %v; want %d", mode.name, r0, err, want)
		}
		if m.Depth() != 0 {
			t.Errorf("%s: depth %d after the run", mode.name, m.Depth())
		}
	}
}

// TestTailCallFromSubprogram: a tail call replaces the subprogram that
// makes it, so the tail-called program's exit returns into the caller, in
// the caller's program (as the kernel runs it since 5.10).
func TestTailCallFromSubprogram(t *testing.T) {
	target, err := vm.NewProgram("target", []isa.Insn{
		i(movK, 0, 0, 0, 5), i(addK, 0, 0, 0, 100), i(exit, 0, 0, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := vm.Helpers{12: {Name: "tail", Fn: func(m *vm.Machine, _ vm.Args) (uint64, error) { return 0, m.TailCall(target) }}}
	p := load(t,
		i(movK, 6, 0, 0, 1000),
		i(call, 0, isa.PseudoCall, 0, 3), // -> pc 5
		i(alu64X|isa.ALUAdd, 0, 6, 0, 0), // r0 = 105 + r6 (restored)
		i(addK, 0, 0, 0, 1),
		i(exit, 0, 0, 0, 0),
		i(movK, 6, 0, 0, 7), // the subprogram clobbers r6
		i(call, 0, 0, 0, 12),
		i(exit, 0, 0, 0, 0), // not reached: the tail call succeeded
	)
	callModes(t, p, vm.Config{Helpers: hs}, 1106)
}

// TestCallsKeepEveryFrame: a chain of calls down to the deepest frame and
// back, each frame with its own r6..r9 and 512-byte stack; the eighth
// frame is one too many.
func TestCallsKeepEveryFrame(t *testing.T) {
	// f(n): r6 = n, stores n at fp-512 (its frame's lowest byte) and
	// fp-8, calls f(n-1) while n > 0, then returns r6 + both stored
	// values + the callee's result.
	prog := func(n int32) *vm.Program {
		return load(t,
			i(movK, 1, 0, 0, n),
			i(call, 0, isa.PseudoCall, 0, 1), // -> f at pc 3
			i(exit, 0, 0, 0, 0),
			i(movX, 6, 1, 0, 0), // f:
			i(stxdw, 10, 1, -512, 0),
			i(stxdw, 10, 1, -8, 0),
			i(movK, 0, 0, 0, 0),
			i(isa.ClassJMP|isa.JmpJEQ|isa.SrcK, 6, 0, 3, 0), // n == 0: skip the call
			i(movX, 1, 6, 0, 0),
			i(subK, 1, 0, 0, 1),
			i(call, 0, isa.PseudoCall, 0, -8), // f(n-1)
			i(alu64X|isa.ALUAdd, 0, 6, 0, 0),
			i(ldxdw, 1, 10, -512, 0),
			i(alu64X|isa.ALUAdd, 0, 1, 0, 0),
			i(ldxdw, 1, 10, -8, 0),
			i(alu64X|isa.ALUAdd, 0, 1, 0, 0),
			i(exit, 0, 0, 0, 0),
		)
	}
	// Frames 0 (the entry) and f(6)..f(0): eight frames, the limit.
	callModes(t, prog(6), vm.Config{}, 3*(6+5+4+3+2+1+0))
	m := machine(t, prog(7), vm.Config{})
	if _, err := m.Run(context.Background()); !errors.Is(err, vm.ErrCallDepth) {
		t.Fatalf("nine frames: err = %v, want ErrCallDepth", err)
	}
}

// helperLog keeps the helper events it sees.
type helperLog struct{ evs []hooks.HelperCall }

func (l *helperLog) Helper(ev *hooks.HelperCall) hooks.Action {
	l.evs = append(l.evs, *ev)
	return hooks.Continue
}

// TestHelperHookChangesDuringCall: a helper hook attached or detached
// while a helper runs (by a hook or an alarm inside it) decides whether
// that call's event goes out, with the arguments of the call.
func TestHelperHookChangesDuringCall(t *testing.T) {
	log := &helperLog{}
	var attach any
	hs := vm.Helpers{7: {Name: "bpf_reattach", Fn: func(m *vm.Machine, a vm.Args) (uint64, error) {
		m.Attach(attach)
		return a[0] + 1, nil
	}}}
	p := load(t, i(movK, 1, 0, 0, 41), i(call, 0, 0, 0, 7), i(exit, 0, 0, 0, 0))
	for _, c := range []struct {
		name         string
		before, then any
		events       int
	}{{"attached", nil, log, 1}, {"detached", log, nil, 0}} {
		t.Run(c.name, func(t *testing.T) {
			log.evs, attach = nil, c.then
			m := machine(t, p, vm.Config{Helpers: hs})
			m.Attach(c.before)
			if r0, err := m.Run(context.Background()); err != nil || r0 != 42 {
				t.Fatalf("r0 = %d, %v; want 42", r0, err)
			}
			if len(log.evs) != c.events {
				t.Fatalf("%d helper events, want %d", len(log.evs), c.events)
			}
			if c.events > 0 && (log.evs[0].Args[0] != 41 || log.evs[0].Ret != 42 || log.evs[0].PC != 1) {
				t.Fatalf("event %+v, want args[0] 41, ret 42 at pc 1", log.evs[0])
			}
		})
	}
}

// TestCallStackNamesCalls: CallStack names each frame's call instruction,
// the helper's for a callback.
func TestCallStackNamesCalls(t *testing.T) {
	var got []vm.CallFrame
	hs := vm.Helpers{181: loop3[181], 9: {Name: "where", Fn: func(m *vm.Machine, _ vm.Args) (uint64, error) {
		got = m.CallStack()
		return 0, nil
	}}}
	p := load(t,
		i(call, 0, isa.PseudoCall, 0, 1), // -> f at pc 2
		i(exit, 0, 0, 0, 0),
		i(lddw, 1, isa.PseudoFunc, 0, 3), // f: r1 = cb at pc 6
		i(0, 0, 0, 0, 0),
		i(call, 0, 0, 0, 181), // loop3 calls cb
		i(exit, 0, 0, 0, 0),
		i(call, 0, 0, 0, 9), // cb
		i(movK, 0, 0, 0, 0),
		i(exit, 0, 0, 0, 0),
	)
	for _, hook := range []any{nil, &callLog{}} {
		got = nil
		m := machine(t, p, vm.Config{Helpers: hs})
		m.Attach(hook)
		if _, err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []vm.CallFrame{{Prog: p, CallPC: -1}, {Prog: p, CallPC: 0}, {Prog: p, CallPC: 4, Callback: true}}
		if len(got) != len(want) {
			t.Fatalf("hook %T: call stack %+v, want %+v", hook, got, want)
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("hook %T: frame %d is %+v, want %+v", hook, k, got[k], want[k])
			}
		}
	}
}
