package helpers

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite HELPERS.md")

// TestHelpersTable fails when HELPERS.md does not match the registry.
func TestHelpersTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeTable(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("HELPERS.md", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("HELPERS.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Error("HELPERS.md is stale: run go test ./helpers -run TestHelpersTable -update")
	}
}
