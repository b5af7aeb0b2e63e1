package capture

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// TestTagMatchesKernel loads every example object into the running
// kernel with cilium/ebpf and compares the kernel's prog_tag with Tag over
// bpfscope's loader output for the same object.
func TestTagMatchesKernel(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	objs, _ := filepath.Glob("../examples/progs/*.o")
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skip(err)
	}
	compared := 0
	for _, obj := range objs {
		b, err := os.ReadFile(obj)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		coll, err := loader.LoadReader(bytes.NewReader(b), loader.Options{KernelTypes: kspec})
		if err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		for name, ps := range spec.Programs {
			lp, ok := coll.Programs[name]
			if !ok {
				continue
			}
			one := spec.Copy()
			for n := range one.Programs {
				if n != name {
					delete(one.Programs, n)
				}
			}
			kc, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{})
			if err != nil {
				t.Logf("%s %s: the kernel does not load it alone here: %v", filepath.Base(obj), name, firstLine(err))
				continue
			}
			info, err := kc.Programs[name].Info()
			kc.Close()
			if err != nil {
				t.Fatal(err)
			}
			s256, s1 := Tags(lp.Prog.Insns)
			if s256 != info.Tag && s1 != info.Tag {
				t.Errorf("%s %s (%s): tags %s (SHA-256) and %s (SHA-1), kernel %s", filepath.Base(obj), name, ps.Type, s256, s1, info.Tag)
			}
			if !TagMatches(lp.Prog.Insns, info.Tag) {
				t.Errorf("%s %s: TagMatches false", filepath.Base(obj), name)
			}
			// A changed instruction changes the tag.
			changed := append([]isa.Insn(nil), lp.Prog.Insns...)
			changed[0].Off ^= 1
			if TagMatches(changed, info.Tag) {
				t.Errorf("%s %s: a changed instruction still matches", filepath.Base(obj), name)
			}
			compared++
		}
	}
	if compared < 10 {
		t.Fatalf("only %d programs compared", compared)
	}
	t.Logf("%d programs: tags equal the kernel's", compared)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
