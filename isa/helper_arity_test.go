package isa

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHelperArityMatchesLibbpf checks the arity table against libbpf's
// declarations of the helpers, where the header is installed (libbpf-dev).
func TestHelperArityMatchesLibbpf(t *testing.T) {
	src, err := os.ReadFile("/usr/include/bpf/bpf_helper_defs.h")
	if err != nil {
		t.Skip("libbpf's bpf_helper_defs.h is not installed")
	}
	decl := regexp.MustCompile(`static [^;]*?\(\s*\*\s*(\w+)\s*\)\s*\(([^)]*)\)\s*=\s*\(void \*\)\s*(\d+);`)
	n := 0
	for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
		id, _ := strconv.Atoi(m[3])
		args := strings.TrimSpace(m[2])
		want := strings.Count(args, ",") + 1
		switch {
		case args == "void":
			want = 0
		case strings.Contains(args, "..."):
			want = 5
		}
		if got := HelperArity(int32(id)); got != want {
			t.Errorf("%s (%d): arity %d, libbpf declares %d: %s", m[1], id, got, want, args)
		}
		if HelperName(int32(id)) != m[1] {
			t.Errorf("helper %d: name %s, libbpf says %s", id, HelperName(int32(id)), m[1])
		}
		n++
	}
	if n < 200 {
		t.Fatalf("found %d helper declarations; the header's format changed?", n)
	}
	for id, want := range map[int32]int{1: 2, 5: 0, 9: 5, 12: 3, 51: 3, -1: 5, 1 << 20: 5} {
		if got := HelperArity(id); got != want {
			t.Errorf("HelperArity(%d) = %d, want %d", id, got, want)
		}
	}
}
