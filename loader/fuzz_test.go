package loader

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/watchdog"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/btf"
)

// FuzzLoadELF feeds random bytes and mutated objects (the bundled
// examples, which carry BTF, and the hostile ones) to the loader and binds
// each program to a machine: it must never panic, every failure must be
// an *Error, and the watchdog bounds each execution to 5 s and 160 MiB
// (64 for the maps' budget) plus 1 KiB per input byte.
func FuzzLoadELF(f *testing.F) {
	objs, _ := filepath.Glob(filepath.Join(examples, "*.o"))
	for _, o := range append(objs, "testdata/bad.o", "testdata/core.o", "testdata/hostile.o") {
		if b, err := os.ReadFile(o); err == nil {
			f.Add(b)
		}
	}
	f.Add(cyclicBTF(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		watchdog.Run(t, watchdog.Limits{Wall: 5 * time.Second, Alloc: 160<<20 + 1024*uint64(len(b))}, func() {
			c, err := LoadReader(bytes.NewReader(b), Options{KernelBTF: "testdata/core_target.o", MaxMapMemory: 64 << 20})
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Errorf("error %v (%T) is not an *Error", err, err)
					return
				}
				_ = e.Error()
				return
			}
			for name, p := range c.Programs {
				if p.Prog == nil || p.Prog.Len() == 0 {
					t.Errorf("program %s loaded empty", name)
				}
				if _, err := c.Machine(name, vm.Config{MaxInsns: 1000}); err != nil {
					var e *Error
					if !errors.As(err, &e) {
						t.Errorf("machine for %s: %v (%T) is not an *Error", name, err, err)
					}
				}
			}
		})
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
