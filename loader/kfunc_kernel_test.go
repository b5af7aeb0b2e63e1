package loader_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
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
	runKernelCompare(t, "testdata/kfunc.o", "xdp_dynptr", "tc_dynptr", "xdp_iter", "xdp_ct", "xdp_nat", "tc_ct")
}

// TestTimersKernel compares the bpf_timer helpers' answers: init, set
// callback, start, cancel, in and out of order (testdata/timer.o).
func TestTimersKernel(t *testing.T) {
	runKernelCompare(t, "testdata/timer.o", "xdp_timer")
}

// TestSocketHelpersKernel compares the socket helpers on the test
// runner's socket, in tc and cgroup_skb programs (testdata/sock.o).
func TestSocketHelpersKernel(t *testing.T) {
	runKernelCompare(t, "testdata/sock.o", "tc_sock", "cg_sock")
}

// TestStorageKernel compares socket storage on the test runner's socket
// (tc, cgroup_skb) and task storage on the current task (XDP).
func TestStorageKernel(t *testing.T) {
	runKernelCompare(t, "testdata/storage.o", "tc_storage", "cg_storage", "xdp_task_storage")
}

func runKernelCompare(t *testing.T, obj string, progs ...string) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	jumbo := append(udpFrame(), make([]byte, 5000)...) // linear part and fragments
	for i := range jumbo[60:] {
		jumbo[60+i] = byte(i)
	}
	type run struct {
		prog   string
		frame  []byte
		repeat int
	}
	var runs []run
	for _, p := range progs {
		runs = append(runs, run{p, udpFrame(), 0})
		switch p {
		case "xdp_dynptr":
			runs = append(runs, run{p, jumbo, 0})
		case "xdp_timer": // timers outlive a run
			runs = append(runs, run{p, udpFrame(), 3})
		}
	}
	for _, r := range runs {
		prog, repeat := r.prog, r.repeat
		c := r
		t.Run(fmt.Sprintf("%s/%d/%d", prog, len(c.frame), c.repeat), func(t *testing.T) {
			in := kernel.Input{Data: c.frame, Repeat: c.repeat}
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
			got, err := testrun.RunProgram(c, prog, vm.Config{Helpers: helpers.New(nil)}, testrun.Options{Data: in.Data, Repeat: repeat})
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

// TestUserRingbufKernel drains an empty user ring buffer in both (0
// samples; -EINVAL for unknown flags).
func TestUserRingbufKernel(t *testing.T) {
	runKernelCompare(t, "testdata/userringbuf.o", "drain")
}

// TestUserRingbuf drains samples user space submitted: the callback sees
// each through a dynptr, in order, and stops the drain by returning 1.
func TestUserRingbuf(t *testing.T) {
	c, err := loader.Load("testdata/userringbuf.o", loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := c.Maps["urb"].(*bpfmaps.UserRingBufMap)
	for _, v := range []uint32{5, 7, 0xffffffff, 11} {
		if err := u.Submit(binary.LittleEndian.AppendUint32(nil, v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := testrun.RunProgram(c, "drain", vm.Config{Helpers: helpers.New(nil)}, testrun.Options{Data: udpFrame()}); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	if err := c.Maps[".bss"].Get(make([]byte, 4), out); err != nil {
		t.Fatal(err)
	}
	get := func(i int) uint64 { return binary.LittleEndian.Uint64(out[8*i:]) }
	// The first drain takes 5, 7 and the stopping sample; the second has
	// an unknown flag: -EINVAL, and 11 stays.
	einval := int64(unix.EINVAL)
	if get(0) != 3 || get(1) != uint64(-einval) || get(2) != 5+7+0xffffffff || get(3) != 3 || u.Pending() != 1 {
		t.Errorf("out %d %#x %#x %d, %d pending", get(0), get(1), get(2), get(3), u.Pending())
	}
}
