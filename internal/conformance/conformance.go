// Package conformance reads the test files of the bpf_conformance suite
// (github.com/Alan-Jowett/bpf_conformance, tests/*.data) and runs them.
package conformance

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/isa"
)

// Test is one parsed .data file.
type Test struct {
	Name string // as given to Parse; LoadDir uses the file name, e.g. "add.data"

	Asm     string     // the "-- asm" section
	Program []isa.Insn // from "-- raw" when present, else the assembled "-- asm"
	FromRaw bool       // Program came from "-- raw"

	Mem       []byte // "-- mem": the input memory, nil when there is none
	Result    uint64 // "-- result": the expected r0
	HasResult bool
	Error     string // "-- error": the expected error text, "" when none

	CSource          string // "-- c": the C source the program was compiled from
	NoRegisterOffset bool   // the file has a "-- no register offset" section

	// The CPU version (1..4) and conformance groups the program needs, by
	// the rules with which the reference runner skips tests; see Requirements.
	CPUVersion int
	Groups     Groups
}

// The sections of a .data file.
const (
	sectionNone = ""
	sectionAsm  = "asm"
	sectionRaw  = "raw"
	sectionMem  = "mem"
	sectionRes  = "result"
	sectionErr  = "error"
	sectionC    = "c"
	sectionNoRO = "no register offset"
)

var knownSections = map[string]bool{
	sectionAsm: true, sectionRaw: true, sectionMem: true, sectionRes: true,
	sectionErr: true, sectionC: true, sectionNoRO: true,
}

// Parse reads a .data file. Lines of the form "-- name" start a section;
// "#" starts a comment everywhere but in the C source; blank lines are
// ignored. The file must have a program and a result or an error.
func Parse(name string, data []byte) (*Test, error) {
	sections, err := splitSections(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &Test{Name: name}
	if err := t.fill(sections); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t.CPUVersion, t.Groups = Requirements(t.Program)
	return t, nil
}

// splitSections returns the lines of each section; comments and blank lines
// are dropped except in the C source.
func splitSections(text string) (map[string][]string, error) {
	sections := map[string][]string{}
	current := sectionNone
	for _, raw := range strings.Split(text, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		line := raw
		if current != sectionC {
			line, _, _ = strings.Cut(line, "#")
		}
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "--"); ok {
			name = strings.TrimSpace(name)
			if !knownSections[name] {
				return nil, fmt.Errorf("unknown section %q", line)
			}
			current = name
			if _, seen := sections[name]; !seen {
				sections[name] = []string{}
			}
			continue
		}
		switch {
		case current == sectionC:
			sections[current] = append(sections[current], raw)
		case line != "" && current != sectionNone:
			sections[current] = append(sections[current], line)
		}
	}
	return sections, nil
}

func (t *Test) fill(s map[string][]string) error {
	t.Asm = strings.Join(s[sectionAsm], "\n")
	t.CSource = strings.TrimSpace(strings.Join(s[sectionC], "\n"))
	_, t.NoRegisterOffset = s[sectionNoRO]
	if lines := s[sectionErr]; len(lines) > 0 {
		t.Error = lines[len(lines)-1]
	}
	if lines := s[sectionRes]; len(lines) > 0 {
		v, err := parseResult(lines[len(lines)-1])
		if err != nil {
			return err
		}
		t.Result, t.HasResult = v, true
	}
	if !t.HasResult && t.Error == "" {
		return fmt.Errorf("no result or error")
	}
	if err := t.fillProgram(s); err != nil {
		return err
	}
	return t.fillMem(s[sectionMem])
}

func (t *Test) fillProgram(s map[string][]string) error {
	var err error
	if raw := s[sectionRaw]; len(raw) > 0 {
		t.FromRaw = true
		t.Program, err = parseRaw(raw)
	} else {
		t.Program, err = isa.AssembleConformance(t.Asm)
	}
	if err != nil {
		return err
	}
	if len(t.Program) == 0 {
		return fmt.Errorf("no instructions")
	}
	return nil
}

// fillMem reads the input memory: hexadecimal bytes separated by white space.
func (t *Test) fillMem(lines []string) error {
	for _, tok := range strings.Fields(strings.Join(lines, " ")) {
		v, err := strconv.ParseUint(tok, 16, 8)
		if err != nil {
			return fmt.Errorf("mem: invalid byte %q", tok)
		}
		t.Mem = append(t.Mem, byte(v))
	}
	return nil
}

// parseResult reads r0: hexadecimal when it has a 0x prefix, else decimal.
// A negative decimal wraps, as the C runner's strtoull does.
func parseResult(s string) (uint64, error) {
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(digits), "0x"); ok {
		digits, base = h, 16
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		return 0, fmt.Errorf("result: invalid number %q", s)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// parseRaw reads "-- raw" words: each is a slot as a little-endian 64-bit
// number, in hex with 0x or in decimal.
func parseRaw(lines []string) ([]isa.Insn, error) {
	var code []byte
	for _, tok := range strings.Fields(strings.Join(lines, " ")) {
		digits, base := tok, 10
		if h, ok := strings.CutPrefix(tok, "0x"); ok {
			digits, base = h, 16
		}
		v, err := strconv.ParseUint(digits, base, 64)
		if err != nil {
			return nil, fmt.Errorf("raw: invalid word %q", tok)
		}
		code = binary.LittleEndian.AppendUint64(code, v)
	}
	return isa.Decode(code)
}

// LoadDir parses every .data file in dir, in name order.
func LoadDir(dir string) ([]*Test, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.data"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	tests := make([]*Test, 0, len(names))
	for _, path := range names {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		t, err := Parse(filepath.Base(path), data)
		if err != nil {
			return nil, err
		}
		tests = append(tests, t)
	}
	return tests, nil
}
