package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var b strings.Builder
	if err := run(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// Packet 10 (from the address blocked_v4 would hold) passes here: this
	// example leaves the blocklist empty. XDP_TX (3) answers the ping.
	for _, want := range []string{"packet 7:", "verdict 3", "verdict 0", "bpf_map_lookup_elem", "line 125:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
