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
