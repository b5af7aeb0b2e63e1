// Package corpus reads the kernel-verified program corpus (cases.jsonl: XDP
// programs with a packet and the result BPF_PROG_TEST_RUN gave in Linux) and
// runs its cases in bpfscope, producing results in the same schema.
package corpus

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Case is one corpus program with its input and, optionally, the kernel's result.
type Case struct {
	ID       string   `json:"id"`
	Family   string   `json:"family"`
	ProgType string   `json:"prog_type"`
	Insns    []string `json:"insns"`
	Maps     []MapDef `json:"maps,omitempty"`
	PacketIn string   `json:"packet_in"`
	Expected *Result  `json:"expected,omitempty"`
}

// MapDef declares a map the program refers to by index.
type MapDef struct {
	Type       string `json:"type"`
	KeySize    uint32 `json:"key_size"`
	ValueSize  uint32 `json:"value_size"`
	MaxEntries uint32 `json:"max_entries"`
	Init       []KV   `json:"init,omitempty"`
}

// KV is a map entry in hex.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Result is what a run produced: the low 32 bits of r0, the packet from
// data to data_end, and the final map contents.
type Result struct {
	R0        uint32 `json:"r0"`
	PacketOut string `json:"packet_out"`
	Maps      [][]KV `json:"maps,omitempty"`
}

// Code returns the program's bytecode.
func (c *Case) Code() ([]byte, error) {
	code := make([]byte, 0, 8*len(c.Insns))
	for i, s := range c.Insns {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 8 {
			return nil, fmt.Errorf("%s: slot %d: %q is not 8 bytes of hex", c.ID, i, s)
		}
		code = append(code, b...)
	}
	return code, nil
}

// Packet returns the input packet.
func (c *Case) Packet() ([]byte, error) { return hex.DecodeString(c.PacketIn) }

// Read parses a cases.jsonl stream.
func Read(r io.Reader) ([]*Case, error) {
	var cases []*Case
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		c := new(Case)
		if err := json.Unmarshal(sc.Bytes(), c); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		cases = append(cases, c)
	}
	return cases, sc.Err()
}

// ReadFile parses a cases.jsonl file.
func ReadFile(path string) ([]*Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}
