// Command conformance-plugin runs one program for the bpf_conformance suite's
// plugin protocol: the program arrives on stdin as hex, the input memory as
// the first argument in hex; it prints r0 in hex, or fails with a message.
//
//	go build -o /tmp/plugin ./cmd/conformance-plugin
//	conformance-runner -dir tests -plugin /tmp/plugin -all
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bpfscope/bpfscope/internal/conformance"
)

func main() {
	if err := run(os.Stdin, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-plugin:", err)
		os.Exit(1)
	}
}

func run(stdin io.Reader, args []string, stdout io.Writer) error {
	var mem []byte
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue // options such as --interpret: there is only the interpreter
		}
		b, err := decodeHex(a)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		mem = b
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	code, err := decodeHex(line)
	if err != nil {
		return fmt.Errorf("program: %w", err)
	}
	r0, err := conformance.Execute(context.Background(), code, mem)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%x\n", r0)
	return err
}

func decodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(s), ""))
}
