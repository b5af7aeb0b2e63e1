package vm

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/bpfscope/bpfscope/hooks"
)

// ErrNotAHook: Attach was given a value that would receive no event.
var ErrNotAHook = errors.New("not a hook")

// hookInterfaces are the interfaces of package hooks, with their methods:
// a type that has a method of one of these names but not the interface
// has the method's signature wrong, and would silently miss its events.
var hookInterfaces = []struct {
	iface   reflect.Type
	methods []string
}{
	{reflect.TypeFor[hooks.StepHook](), []string{"BeforeStep", "AfterStep"}},
	{reflect.TypeFor[hooks.PCHook](), []string{"PCs"}},
	{reflect.TypeFor[hooks.AccessHook](), []string{"Access"}},
	{reflect.TypeFor[hooks.HelperHook](), []string{"Helper"}},
	{reflect.TypeFor[hooks.CallHook](), []string{"Call"}},
	{reflect.TypeFor[hooks.RunHook](), []string{"Enter", "Exit"}},
	{reflect.TypeFor[hooks.MapHook](), []string{"MapOp"}},
	{reflect.TypeFor[hooks.OutputHook](), []string{"Output"}},
}

// hookChecks caches checkHook's answer by dynamic type: Attach is called
// per run by some callers.
var hookChecks sync.Map // reflect.Type → checked

// checkHook explains why h would miss events it looks meant to receive:
// it implements no hook interface, only its pointer does, or one of its
// methods is named like a hook method but has another signature.
func checkHook(h any) error {
	t := reflect.TypeOf(h)
	if c, ok := hookChecks.Load(t); ok {
		return c.(checked).err
	}
	err := hookProblem(t)
	hookChecks.Store(t, checked{err})
	return err
}

type checked struct{ err error }

func hookProblem(t reflect.Type) error {
	var wrong []string
	implements := false
	for _, hi := range hookInterfaces {
		if t.Implements(hi.iface) {
			implements = true
			continue
		}
		for _, name := range hi.methods {
			if m, ok := t.MethodByName(name); ok {
				want, _ := hi.iface.MethodByName(name)
				if got := withoutReceiver(m.Type); got != want.Type {
					wrong = append(wrong, fmt.Sprintf("method %s is %s, %s wants %s", name, got, hi.iface, want.Type))
				} else {
					wrong = append(wrong, fmt.Sprintf("it has %s but not every method of %s", name, hi.iface))
				}
			}
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("vm: Attach(%s): %w: %s", t, ErrNotAHook, strings.Join(wrong, "; "))
	}
	if implements {
		return nil
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		for _, hi := range hookInterfaces {
			if pt.Implements(hi.iface) {
				return fmt.Errorf("vm: Attach(%s): %w: its methods have pointer receivers; attach a *%s", t, ErrNotAHook, t)
			}
		}
	}
	return fmt.Errorf("vm: Attach(%s): %w: it implements no interface of package hooks", t, ErrNotAHook)
}

// withoutReceiver is the signature of a method as declared.
func withoutReceiver(f reflect.Type) reflect.Type {
	in := make([]reflect.Type, f.NumIn()-1)
	for i := range in {
		in[i] = f.In(i + 1)
	}
	out := make([]reflect.Type, f.NumOut())
	for i := range out {
		out[i] = f.Out(i)
	}
	return reflect.FuncOf(in, out, f.IsVariadic())
}
