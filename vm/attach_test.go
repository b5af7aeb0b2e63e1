package vm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
)

type ptrHook struct{ n int }

func (h *ptrHook) Access(*hooks.Access) hooks.Action { h.n++; return hooks.Continue }

// valueArg has Access with the event by value: it is no AccessHook.
type valueArg struct{}

func (valueArg) Access(hooks.Access) hooks.Action { return hooks.Continue }
func (valueArg) Enter(*hooks.Run)                 {}
func (valueArg) Exit(*hooks.Run)                  {}

// onlyEnter is half a RunHook.
type onlyEnter struct{}

func (onlyEnter) Enter(*hooks.Run) {}

var _ hooks.AccessHook = (*ptrHook)(nil)

// TestAttachRefusesNonHooks: Attach says when a value would receive no
// events, or miss some it looks meant for, and keeps the hook it had.
func TestAttachRefusesNonHooks(t *testing.T) {
	p := load(t, i(movK, 0, 0, 0, 1), i(stdw, 10, 0, -8, 1), i(exit, 0, 0, 0, 0))
	m := machine(t, p, vm.Config{})
	good := &ptrHook{}
	if err := m.Attach(good); err != nil {
		t.Fatalf("Attach(*ptrHook): %v", err)
	}
	for _, tt := range []struct {
		h    any
		want string
	}{
		{42, "implements no interface of package hooks"},
		{"hook", "implements no interface of package hooks"},
		{ptrHook{}, "attach a *vm_test.ptrHook"},
		{valueArg{}, "method Access is func(hooks.Access) hooks.Action, hooks.AccessHook wants func(*hooks.Access) hooks.Action"},
		{onlyEnter{}, "hooks.RunHook"},
	} {
		err := m.Attach(tt.h)
		if !errors.Is(err, vm.ErrNotAHook) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Attach(%T) = %v, want ErrNotAHook saying %q", tt.h, err, tt.want)
		}
	}
	if _, err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if good.n != 1 {
		t.Errorf("the hook attached before saw %d accesses, want 1: a refused Attach must keep it", good.n)
	}
	if err := m.Attach(nil); err != nil {
		t.Errorf("Attach(nil) = %v", err)
	}
	if err := m.Attach(hooks.Multi(good, &recorder{})); err != nil {
		t.Errorf("Attach(hooks.Multi(...)) = %v", err)
	}
}
