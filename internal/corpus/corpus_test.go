package corpus

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// corpusPath is where the shared kernel corpus sits beside the project.
var corpusPath = filepath.Join("..", "..", "..", "shared", "kernel-corpus", "cases.jsonl")

// TestKernelCorpus runs every case of the public corpus and compares r0,
// the output packet and the maps with what Linux 6.18 returned.
func TestKernelCorpus(t *testing.T) {
	if _, err := os.Stat(corpusPath); err != nil {
		t.Skipf("kernel corpus not found at %s: %v", corpusPath, err)
	}
	cases, err := ReadFile(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	pass := map[string]int{}
	total := map[string]int{}
	for _, c := range cases {
		total[c.Family]++
		got, err := c.Run(context.Background())
		if err != nil {
			t.Errorf("%s (%s): %v", c.ID, c.Family, err)
			continue
		}
		if d := Diff(c.Expected, got); d != "" {
			t.Errorf("%s (%s): %s", c.ID, c.Family, d)
			continue
		}
		pass[c.Family]++
	}
	for f, n := range total {
		t.Logf("%-7s %d/%d", f, pass[f], n)
	}
}
