package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/isa"
)

const testsDir = "../../testdata/conformance/tests"

func loadSuite(t *testing.T) []*Test {
	t.Helper()
	tests, err := LoadDir(testsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 313 {
		t.Fatalf("loaded %d tests, want 313", len(tests))
	}
	return tests
}

// runnerText renders a test the way the reference runner's -asm flag prints
// it, the format of testdata/conformance/golden.
func runnerText(tc *Test) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %d slots, needs cpu v%d, groups %s\n", tc.Name, len(tc.Program), tc.CPUVersion, tc.Groups)
	if len(tc.Mem) > 0 {
		fmt.Fprintf(&b, "# mem (argv[1]): %s\n", hexBytes(tc.Mem))
	}
	if tc.HasResult {
		fmt.Fprintf(&b, "# expected r0: 0x%x\n", tc.Result)
	}
	if tc.Error != "" {
		fmt.Fprintf(&b, "# expected error: %s\n", tc.Error)
	}
	fmt.Fprintln(&b, hexBytes(isa.Encode(tc.Program)))
	return b.String()
}

func hexBytes(p []byte) string {
	var b strings.Builder
	for _, c := range p {
		fmt.Fprintf(&b, "%02x  ", c)
	}
	return b.String()
}

// TestGolden checks the parser, AssembleConformance and Requirements against
// the reference runner's output for all 313 files.
func TestGolden(t *testing.T) {
	for _, tc := range loadSuite(t) {
		want, err := os.ReadFile(filepath.Join("../../testdata/conformance/golden", strings.TrimSuffix(tc.Name, ".data")+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		if got := runnerText(tc); got != string(want) {
			t.Errorf("%s:\n got: %s\nwant: %s", tc.Name, got, want)
		}
	}
}

// TestAsmMatchesRaw: the one file with a "-- raw" section assembles to it.
func TestAsmMatchesRaw(t *testing.T) {
	n := 0
	for _, tc := range loadSuite(t) {
		if !tc.FromRaw {
			continue
		}
		n++
		prog, err := isa.AssembleConformance(tc.Asm)
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		if fmt.Sprint(prog) != fmt.Sprint(tc.Program) {
			t.Errorf("%s: asm gives %v, raw %v", tc.Name, prog, tc.Program)
		}
	}
	if n != 1 {
		t.Errorf("%d files with -- raw, want 1 (lddw.data)", n)
	}
}

func TestParseSections(t *testing.T) {
	src := `# comment
-- asm
mov %r0, %r2 # r2 is the length
exit
-- mem
00 01
ff
-- c
#include <stdint.h>
int x;
-- no register offset
call instruction
-- result
0x10
`
	tc, err := Parse("x.data", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !tc.HasResult || tc.Result != 0x10 || tc.Error != "" {
		t.Errorf("result = %#x (%v), error %q", tc.Result, tc.HasResult, tc.Error)
	}
	if string(tc.Mem) != "\x00\x01\xff" {
		t.Errorf("mem = %x", tc.Mem)
	}
	if tc.CSource != "#include <stdint.h>\nint x;" || !tc.NoRegisterOffset {
		t.Errorf("c = %q, no register offset %v", tc.CSource, tc.NoRegisterOffset)
	}
	want := []isa.Insn{{Op: 0xbf, Src: 2}, {Op: 0x95}}
	if fmt.Sprint(tc.Program) != fmt.Sprint(want) || tc.Asm != "mov %r0, %r2\nexit" {
		t.Errorf("program %v from %q", tc.Program, tc.Asm)
	}
	if tc.CPUVersion != 1 || tc.Groups != GroupBase32|GroupBase64 {
		t.Errorf("needs v%d %v", tc.CPUVersion, tc.Groups)
	}
}

func TestParseErrorSection(t *testing.T) {
	tc, err := Parse("e.data", []byte("-- asm\nexit\n-- error\nfirst\nlast line  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if tc.HasResult || tc.Error != "last line" {
		t.Errorf("error = %q, has result %v", tc.Error, tc.HasResult)
	}
}

func TestParseRejects(t *testing.T) {
	for name, src := range map[string]string{
		"unknown section": "-- asm\nexit\n-- bogus\n-- result\n0\n",
		"no result":       "-- asm\nexit\n",
		"no program":      "-- result\n1\n",
		"bad asm":         "-- asm\nfrob %r0\n-- result\n1\n",
		"bad mem":         "-- asm\nexit\n-- mem\nzz\n-- result\n1\n",
		"bad result":      "-- asm\nexit\n-- result\nabc\n",
		"bad raw":         "-- asm\n-- raw\n0xzz\n-- result\n1\n",
	} {
		if _, err := Parse(name, []byte(src)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRequirements(t *testing.T) {
	for _, c := range []struct {
		asm     string
		version int
		groups  Groups
	}{
		{"mov32 %r0, 1\nexit", 1, GroupBase32},
		{"jlt %r0, 1, +0\nexit", 2, GroupBase32 | GroupBase64},
		{"jlt32 %r0, 1, +0\nexit", 3, GroupBase32},
		{"lock add32 [%r10-4], %r1\nexit", 3, GroupBase32 | GroupAtomic32},
		{"sdiv %r0, 3\nexit", 4, GroupBase32 | GroupDivMul64},
		{"call %r2\nexit", 1, GroupBase32 | GroupCallx},
		{"lddw %r0, 1\nexit", 1, GroupBase32 | GroupBase64},
		{"neg %r0\nexit", 1, GroupBase32}, // the reference's quirk for 0x87
	} {
		prog, err := isa.AssembleConformance(c.asm)
		if err != nil {
			t.Fatal(err)
		}
		v, g := Requirements(prog)
		if v != c.version || g != c.groups {
			t.Errorf("%q: v%d %v, want v%d %v", c.asm, v, g, c.version, c.groups)
		}
	}
}
