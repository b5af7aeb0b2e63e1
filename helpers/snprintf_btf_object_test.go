package helpers_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
)

// TestSnprintfBTFObject builds testdata/snprintf_btf.c with clang, whose
// type ids come from CO-RE relocations against the kernel's BTF
// (bpf_core_type_id_kernel), and compares the globals it prints into
// after a run in the kernel and in bpfscope.
func TestSnprintfBTFObject(t *testing.T) {
	clang, err := exec.LookPath("clang-19")
	if err != nil {
		t.Skip("clang-19 not installed")
	}
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	obj := filepath.Join(t.TempDir(), "snprintf_btf.o")
	out, err := exec.Command(clang, "-target", "bpf", "-mcpu=v4", "-O2", "-g", "-Wall", "-Werror",
		"-I/usr/include/x86_64-linux-gnu", "-c", "testdata/snprintf_btf.c", "-o", obj).CombinedOutput()
	if err != nil {
		t.Skipf("clang: %v\n%s", err, out)
	}
	frame := []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
		0x45, 0x10, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0xb1, 0xe6, 192, 0, 2, 1, 198, 51, 100, 7,
	}
	frame = append(frame, make([]byte, 40)...)
	want, err := kernel.Run(obj, "show_headers", kernel.Input{Data: frame})
	if err != nil {
		t.Fatal(err)
	}
	if want.Err != nil {
		t.Skipf("kernel test run: %v", want.Err)
	}
	c, err := loader.Load(obj, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testrun.RunProgram(c, "show_headers", vm.Config{}, testrun.Options{Data: frame}); err != nil {
		t.Fatal(err)
	}
	kv := want.Maps[".bss"]
	if len(kv) != 1 {
		t.Fatalf("kernel .bss: %d entries", len(kv))
	}
	got := make([]byte, len(kv[0].Value))
	if err := c.Maps[".bss"].Get(make([]byte, 4), got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, kv[0].Value) {
		t.Errorf(".bss:\nbpfscope %q\nkernel   %q", cut(got), cut(kv[0].Value))
	}
	if !bytes.Contains(got, []byte("(struct iphdr){\n .ihl = (__u8)0x5,")) {
		t.Errorf("no iphdr text in %q", cut(got))
	}
}

func cut(b []byte) []byte { return bytes.TrimRight(b, "\x00") }
