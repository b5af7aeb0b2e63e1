package main

import (
	"bytes"
	"strings"
	"testing"
)

// The protocol as the reference runner speaks it: program hex on stdin
// (bytes separated by spaces), memory hex as the first argument.
func TestProtocol(t *testing.T) {
	// mov r0, r2 ; exit — returns the memory length (mem-len.data).
	prog := "bf  20  00  00  00  00  00  00  95  00  00  00  00  00  00  00\n"
	var out bytes.Buffer
	if err := run(strings.NewReader(prog), []string{"00  00  00  01  00  00  00  02"}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "8\n" {
		t.Fatalf("output %q, want %q", got, "8\n")
	}
	// An unknown opcode is an error, which the runner reports as a failure.
	if err := run(strings.NewReader("ff 00 00 00 00 00 00 00\n"), nil, &out); err == nil {
		t.Fatal("invalid program accepted")
	}
}
