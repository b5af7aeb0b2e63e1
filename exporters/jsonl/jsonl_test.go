package jsonl_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

var goldenConformance = []string{"call_local.data", "call_unwind_fail.data", "lock_cmpxchg.data", "subnet.data"}

func TestGolden(t *testing.T) {
	cases := []*exptest.Case{exptest.XDP(t)}
	for _, name := range goldenConformance {
		cases = append(cases, exptest.Conformance(t, name))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var buf bytes.Buffer
			w := jsonl.New(&buf)
			if _, err := c.Run(t, w); err != nil {
				t.Fatal(err)
			}
			checkLines(t, buf.Bytes())
			exptest.Golden(t, strings.TrimSuffix(c.Name, ".data")+".jsonl", buf.Bytes())
		})
	}
}

// checkLines asserts each line is one JSON object with the version and
// kind first (after the packet number, if any).
func checkLines(t *testing.T, out []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(`{"v":1,"ev":"`)) && !bytes.HasPrefix(line, []byte(`{"v":1,"packet":`)) {
			t.Fatalf("line %d: %s", n, line)
		}
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatalf("line %d: %v: %s", n, err, line)
		}
		if _, ok := obj["ev"].(string); !ok {
			t.Fatalf("line %d: no event kind: %s", n, line)
		}
	}
	if n == 0 {
		t.Fatal("no output")
	}
}

// A faulting instruction still gets its step line, marked "faulted", and
// the exit line carries the error.
func TestFault(t *testing.T) {
	insns, err := isa.Assemble("r1 = 0\nr0 = *(u64 *)(r1 +8)\nexit")
	if err != nil {
		t.Fatal(err)
	}
	p, err := vm.NewProgram("fault", insns)
	if err != nil {
		t.Fatal(err)
	}
	c := &exptest.Case{Name: "fault", Capture: &tracefile.Capture{Prog: p}, Helpers: exptest.ConformanceHelpers}
	var buf bytes.Buffer
	if _, err := c.Run(t, jsonl.New(&buf)); !errors.Is(err, vm.ErrUnmapped) {
		t.Fatalf("err %v", err)
	}
	checkLines(t, buf.Bytes())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if want := `{"v":1,"ev":"step","n":1,"pc":1,"depth":0,"op":121,"insn":"r0 = *(u64 *)(r1 +8)","faulted":true}`; lines[len(lines)-2] != want {
		t.Errorf("faulting step:\n%s\nwant\n%s", lines[len(lines)-2], want)
	}
	if !strings.Contains(lines[len(lines)-1], `"ev":"exit"`) || !strings.Contains(lines[len(lines)-1], `"err":`) {
		t.Errorf("exit: %s", lines[len(lines)-1])
	}
}

func TestStringEscapes(t *testing.T) {
	var buf bytes.Buffer
	w := jsonl.New(&buf)
	w.Output(&hooksOutput)
	w.Flush()
	var obj struct {
		Text string `json:"text"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &obj); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if obj.Text != "a\"b\\c\n\x01é" || obj.Data != "6122625c630a01c3a9" {
		t.Errorf("%+v", obj)
	}
}
