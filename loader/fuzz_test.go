package loader

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// FuzzLoadELF feeds random bytes and mutated objects to the loader: it
// must never panic, and every failure must be an *Error.
func FuzzLoadELF(f *testing.F) {
	objs, _ := filepath.Glob(filepath.Join(examples, "*.o"))
	for _, o := range append(objs, "testdata/bad.o", "testdata/core.o") {
		if b, err := os.ReadFile(o); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := LoadReader(bytes.NewReader(b), Options{KernelBTF: "testdata/core_target.o"})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			_ = e.Error()
			return
		}
		for name, p := range c.Programs {
			if p.Prog == nil || p.Prog.Len() == 0 {
				t.Fatalf("program %s loaded empty", name)
			}
		}
	})
}

// FuzzKernelConfig parses arbitrary kernel configurations and stores each
// value into externs of every kind: an error or a value, never a panic.
func FuzzKernelConfig(f *testing.F) {
	f.Add([]byte("CONFIG_HZ=250\n# CONFIG_X is not set\nCONFIG_S=\"(none)\"\nCONFIG_M=m\n"))
	f.Add([]byte("CONFIG_A=0x7fffffffffffffff\nCONFIG_B=-1\nCONFIG_C=\"\n"))
	types := []btf.Type{
		&btf.Int{Size: 4}, &btf.Int{Size: 1, Encoding: btf.Char}, &btf.Int{Size: 1, Encoding: btf.Bool},
		&btf.Int{Size: 8, Encoding: btf.Signed}, &btf.Enum{Name: "libbpf_tristate", Size: 4},
		&btf.Array{Type: &btf.Int{Size: 1, Encoding: btf.Char}, Nelems: 8},
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg, err := parseKernelConfig(bytes.NewReader(in))
		if err != nil {
			return
		}
		for _, v := range cfg {
			for _, typ := range types {
				size, err := btf.Sizeof(typ)
				if err != nil {
					t.Fatal(err)
				}
				_ = putKconfig(make([]byte, size), typ, v)
			}
		}
	})
}
