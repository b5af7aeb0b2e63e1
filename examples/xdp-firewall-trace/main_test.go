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
	// Only packet 10 comes from the blocked address.
	if strings.Count(out, "dropped:") != 1 || !strings.Contains(out, "packet 10 dropped:") {
		t.Errorf("want exactly packet 10 dropped:\n%s", out)
	}
	if !strings.Contains(out, "map blocked_v4 lookup key=192.0.2.66 hit") {
		t.Errorf("trace lacks the blocklist hit:\n%s", out)
	}
}
