package main

import (
	"strings"
	"testing"
)

// TestMaxMapMemory: the 9 KB hostile.o claims 2 GiB of arrays. By default
// run refuses it at the map that passes 1 GiB; --max-map-memory moves the
// limit, and the message says how.
func TestMaxMapMemory(t *testing.T) {
	const obj = "../../loader/testdata/hostile.o"
	for _, c := range []struct {
		args []string
		map_ string
	}{
		{[]string{"run", obj}, `map "big2"`},
		{[]string{"run", "--max-map-memory", "1M", obj}, `map "big0"`},
	} {
		_, errs, code := bpfscope(t, c.args...)
		if code != 1 || !strings.Contains(errs, c.map_) || !strings.Contains(errs, "--max-map-memory") {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errs)
		}
	}
	if _, errs, code := bpfscope(t, "run", "--max-map-memory", "lots", obj); code != 2 || !strings.Contains(errs, "max-map-memory") {
		t.Errorf("bad size: exit %d, stderr %q", code, errs)
	}
}
