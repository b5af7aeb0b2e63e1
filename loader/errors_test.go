package loader

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// TestNotELF: a file that is not ELF at all is said to be so, not
// described by the ELF reader's "bad magic number [114 111 ...]".
func TestNotELF(t *testing.T) {
	for _, in := range [][]byte{[]byte("root:x:0:0:root:/root:/bin/bash\n"), {0x7f, 'E'}, nil} {
		_, err := LoadReader(bytes.NewReader(in), Options{})
		if !errors.Is(err, ErrInvalidObject) || !errors.Is(err, ErrNotELF) || strings.Contains(err.Error(), "magic") {
			t.Errorf("LoadReader(%q) = %v, want ErrInvalidObject and ErrNotELF", in, err)
		}
	}
}

// TestRawErrorNamesPCOnce: the program's error says its instruction once.
func TestRawErrorNamesPCOnce(t *testing.T) {
	code := isa.Encode([]isa.Insn{{Op: 0x68}, {Op: 0x95}})
	_, err := Raw("bad", code, ebpf.XDP)
	if !errors.Is(err, vm.ErrUnknownOpcode) || !errors.Is(err, ErrInvalidProgram) {
		t.Fatalf("err %v, want ErrInvalidProgram and vm.ErrUnknownOpcode", err)
	}
	if got, want := err.Error(), "program bad: insn 0: invalid program: op 0x68: unknown opcode"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	_, err = Raw("short", []byte{1, 2, 3}, ebpf.XDP)
	var le *vm.LoadError
	if !errors.As(err, &le) || !errors.Is(err, vm.ErrBytecodeLength) {
		t.Errorf("Raw of 3 bytes: %v, want a *vm.LoadError with ErrBytecodeLength", err)
	}
}
