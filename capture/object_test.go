package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
)

// TestObjectUpToDate rebuilds bpf/capture.c with bpf/build.sh when
// clang-19 is on PATH and checks that the committed capture.o holds the
// same programs (instructions, CO-RE and map references) and maps.
func TestObjectUpToDate(t *testing.T) {
	const clang = "clang-19"
	if testing.Short() {
		t.Skip("-short: not rebuilding bpf/capture.c")
	}
	if _, err := exec.LookPath(clang); err != nil {
		t.Skipf("%s not on PATH: cannot rebuild bpf/capture.c", clang)
	}
	dir := t.TempDir()
	for _, f := range []string{"capture.c", "build.sh"} {
		b, err := os.ReadFile(filepath.Join("bpf", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", filepath.Join(dir, "build.sh"))
	cmd.Env = append(os.Environ(), "CLANG="+clang)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	committed, err := describeObject(filepath.Join("bpf", "capture.o"))
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := describeObject(filepath.Join(dir, "capture.o"))
	if err != nil {
		t.Fatal(err)
	}
	if committed != rebuilt {
		t.Errorf("bpf/capture.o differs from a fresh build of bpf/capture.c; run capture/bpf/build.sh and commit it")
	}
	embedded, err := os.ReadFile(filepath.Join("bpf", "capture.o"))
	if err != nil || !bytes.Equal(embedded, captureObject) {
		t.Errorf("the embedded object is not bpf/capture.o")
	}
}

// describeObject prints what an object defines: per program its type,
// attach point and instructions with their references; per map its spec.
func describeObject(path string) (string, error) {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for _, name := range []string{"xdp_entry", "xdp_exit", "tc_entry", "tc_exit", "xdp_check"} {
		p, ok := spec.Programs[name]
		if !ok {
			return "", fmt.Errorf("%s: no program %s", path, name)
		}
		fmt.Fprintf(&b, "prog %s %s %s %s\n", name, p.Type, p.AttachType, p.AttachTo)
		var raw bytes.Buffer
		if err := p.Instructions.Marshal(&raw, binary.LittleEndian); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  %x\n", raw.Bytes())
		for _, ins := range p.Instructions {
			if ref := ins.Reference(); ref != "" {
				fmt.Fprintf(&b, "  ref %s\n", ref)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Maps)) {
		m := spec.Maps[name]
		fmt.Fprintf(&b, "map %s %s %d %d %d %x\n", name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Contents)
	}
	return b.String(), nil
}
