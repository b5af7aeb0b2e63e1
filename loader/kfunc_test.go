package loader

import (
	"flag"
	"os"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/cilium/ebpf/btf"
)

var updateKfuncs = flag.Bool("update-kfuncs", false, "rewrite kfuncs.btf from the running kernel's BTF")

// shallow keeps a kfunc prototype's own types and turns what pointers
// point to into forward declarations, so the bundle holds prototypes only.
func shallow(t btf.Type, depth int) btf.Type {
	switch v := t.(type) {
	case *btf.Pointer:
		return &btf.Pointer{Target: shallow(v.Target, depth+1)}
	case *btf.Struct:
		if depth > 0 {
			return &btf.Fwd{Name: v.Name, Kind: btf.FwdStruct}
		}
	case *btf.Union:
		if depth > 0 {
			return &btf.Fwd{Name: v.Name, Kind: btf.FwdUnion}
		}
	case *btf.Typedef:
		return &btf.Typedef{Name: v.Name, Type: shallow(v.Type, depth)}
	case *btf.Const:
		return &btf.Const{Type: shallow(v.Type, depth)}
	case *btf.Volatile:
		return &btf.Volatile{Type: shallow(v.Type, depth)}
	case *btf.FuncProto:
		p := &btf.FuncProto{Return: shallow(v.Return, depth)}
		for _, a := range v.Params {
			p.Params = append(p.Params, btf.FuncParam{Name: a.Name, Type: shallow(a.Type, depth)})
		}
		return p
	}
	return t
}

// TestBundledKfuncBTF checks that kfuncs.btf declares every kfunc package
// helpers implements, with the running kernel's parameter count.
func TestBundledKfuncBTF(t *testing.T) {
	if *updateKfuncs {
		kernel, err := btf.LoadKernelSpec()
		if err != nil {
			t.Fatal(err)
		}
		var types []btf.Type
		for _, name := range helpers.Kfuncs() {
			var fn *btf.Func
			if err := kernel.TypeByName(name, &fn); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			types = append(types, &btf.Func{Name: fn.Name, Linkage: fn.Linkage, Type: shallow(fn.Type, 0)})
		}
		b, err := btf.NewBuilder(types, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := b.Marshal(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("kfuncs.btf", raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := bundled()
	if err != nil {
		t.Fatal(err)
	}
	kernel, kerr := btf.LoadKernelSpec()
	for _, name := range helpers.Kfuncs() {
		var fn *btf.Func
		if err := spec.TypeByName(name, &fn); err != nil {
			t.Errorf("%s is not in kfuncs.btf: %v (run -update-kfuncs)", name, err)
			continue
		}
		if kerr != nil {
			continue
		}
		var kfn *btf.Func
		if err := kernel.TypeByName(name, &kfn); err != nil {
			t.Errorf("%s: not in the running kernel's BTF: %v", name, err)
			continue
		}
		if n, k := len(fn.Type.(*btf.FuncProto).Params), len(kfn.Type.(*btf.FuncProto).Params); n != k {
			t.Errorf("%s: %d parameters bundled, %d in the kernel", name, n, k)
		}
	}
}
