package conformance

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bpfscope/bpfscope/isa"
)

// TestSuite runs all 313 vendored bpf_conformance tests in the interpreter,
// with the plugin protocol's machine (Execute), and requires every expected
// result: the same score the reference runner gives cmd/conformance-plugin.
func TestSuite(t *testing.T) {
	tests, err := LoadDir(filepath.Join("..", "..", "testdata", "conformance", "tests"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 313 {
		t.Fatalf("loaded %d tests, want the suite's 313", len(tests))
	}
	passed := 0
	for _, tc := range tests {
		r0, err := Execute(context.Background(), isa.Encode(tc.Program), tc.Mem)
		switch {
		case tc.Error != "":
			if err == nil {
				t.Errorf("%s: ran to r0=%#x, want an error (%s)", tc.Name, r0, tc.Error)
				continue
			}
		case err != nil:
			t.Errorf("%s: %v", tc.Name, err)
			continue
		case r0 != tc.Result:
			t.Errorf("%s: r0 = %#x, want %#x", tc.Name, r0, tc.Result)
			continue
		}
		passed++
	}
	t.Logf("%d passed, %d failed", passed, len(tests)-passed)
}
