package loader_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"golang.org/x/sys/unix"
)

func udpFrame() []byte {
	f := make([]byte, 60)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0x66, 0xbc, 10, 0, 0, 1, 10, 0, 0, 2,
		0x04, 0xd2, 0, 80, 0, 26, 0x12, 0x34})
	copy(f[42:], "hello, kfuncs!")
	return f
}

// inFreshNetns runs f on a thread of its own in a new network namespace,
// so conntrack entries a program inserts stay out of the host's table.
func inFreshNetns(t *testing.T, f func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Skip("unshare(CLONE_NEWNET):", err)
	}
}

// TestKfuncsKernel runs testdata/kfunc.o's programs (dynptrs over XDP and
// skb, open-coded iterators, RCU, XDP metadata, conntrack) in the kernel,
// in a fresh network namespace, and in bpfscope, and compares the return
// value, data_out and the results the programs store in out[].
func TestKfuncsKernel(t *testing.T) {
	const obj = "testdata/kfunc.o"
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	for _, prog := range []string{"xdp_dynptr", "tc_dynptr", "xdp_iter", "xdp_ct", "tc_ct"} {
		t.Run(prog, func(t *testing.T) {
			in := kernel.Input{Data: udpFrame()}
			var want *kernel.Result
			var kerr error
			inFreshNetns(t, func() { want, kerr = kernel.Run(obj, prog, in) })
			if kerr != nil {
				t.Fatal(kerr)
			}
			c, err := loader.Load(obj, loader.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := testrun.RunProgram(c, prog, vm.Config{Helpers: helpers.New(nil)}, testrun.Options{Data: in.Data})
			if err != nil {
				t.Fatal(err)
			}
			if got.Retval != want.Retval {
				t.Errorf("retval: kernel %d, bpfscope %d", want.Retval, got.Retval)
			}
			if !bytes.Equal(got.DataOut, want.DataOut) {
				t.Errorf("data_out\nkernel   %x\nbpfscope %x", want.DataOut, got.DataOut)
			}
			wantOut := want.Maps[".bss"]
			if len(wantOut) != 1 {
				t.Fatalf("kernel .bss: %v", want.Maps)
			}
			gotOut := make([]byte, len(wantOut[0].Value))
			if err := c.Maps[".bss"].Get(make([]byte, 4), gotOut); err != nil {
				t.Fatal(err)
			}
			for i := 0; i+8 <= len(gotOut); i += 8 {
				w, g := binary.LittleEndian.Uint64(wantOut[0].Value[i:]), binary.LittleEndian.Uint64(gotOut[i:])
				if w != g {
					t.Errorf("out[%d]: kernel %#x, bpfscope %#x", i/8, w, g)
				}
			}
		})
	}
}

// TestKfuncUnknown checks that a kfunc the kernel's BTF lacks fails the
// load naming it (TestErrors covers one the kernel has and bpfscope not).
func TestKfuncUnknown(t *testing.T) {
	_, err := loader.Load("testdata/kfunc_unknown.o", loader.Options{})
	var le *loader.Error
	if !errors.As(err, &le) || !errors.Is(err, loader.ErrKfunc) || le.Detail != "bpf_no_such_kfunc (no such function in the kernel's BTF)" {
		t.Fatalf("err = %v, want ErrKfunc naming bpf_no_such_kfunc", err)
	}
}

// TestKfuncMetadata runs the XDP metadata kfuncs. The kernel loads them
// only into device-bound programs, and bound to a device without metadata
// ops (lo) they are net/core/xdp.c's defaults: -EOPNOTSUPP, outputs
// untouched. bpfscope answers so for every XDP program.
func TestKfuncMetadata(t *testing.T) {
	c, err := loader.Load("testdata/kfunc_meta.o", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testrun.RunProgram(c, "xdp_meta", vm.Config{Helpers: helpers.New(nil)}, testrun.Options{Data: udpFrame()}); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 8*32)
	if err := c.Maps[".bss"].Get(make([]byte, 4), out); err != nil {
		t.Fatal(err)
	}
	e := int64(unix.EOPNOTSUPP)
	eopnotsupp := uint64(-e)
	want := map[int]uint64{4: eopnotsupp, 5: 7, 6: 3, 7: eopnotsupp, 8: 9}
	for i, w := range want {
		if g := binary.LittleEndian.Uint64(out[8*i:]); g != w {
			t.Errorf("out[%d] = %#x, want %#x", i, g, w)
		}
	}
}
