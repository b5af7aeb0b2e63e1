package loader

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
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
