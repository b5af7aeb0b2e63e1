package conformance

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzConformanceParse: Parse never panics, and what it accepts has a
// program and an expectation.
func FuzzConformanceParse(f *testing.F) {
	for _, name := range []string{"add.data", "lddw.data", "prime.data", "mem-len.data", "callx.data"} {
		data, err := os.ReadFile(filepath.Join(testsDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tc, err := Parse("fuzz.data", data)
		if err != nil {
			return
		}
		if len(tc.Program) == 0 || (!tc.HasResult && tc.Error == "") {
			t.Fatalf("accepted a test without program or expectation: %+v", tc)
		}
		if tc.CPUVersion < 1 || tc.CPUVersion > 4 {
			t.Fatalf("CPU version %d", tc.CPUVersion)
		}
	})
}
