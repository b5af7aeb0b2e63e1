package cbpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/bpfscope/bpfscope/vm"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// attachFilter attaches f to fd with SO_ATTACH_FILTER.
func attachFilter(fd int, f Filter) error {
	if len(f) == 0 {
		return unix.EINVAL
	}
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: (*unix.SockFilter)(unsafe.Pointer(&f[0]))}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
}

// kernelSocketPair returns a datagram socket pair whose receiving end runs
// f in the kernel (sk_filter on unix_dgram_sendmsg): a datagram is dropped
// when the filter returns 0 and cut to its return value otherwise.
func kernelSocketPair(t *testing.T, f Filter) (send, recv int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Skipf("socketpair: %v", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	if err := attachFilter(fds[1], f); err != nil {
		t.Fatalf("SO_ATTACH_FILTER: %v\n%s", err, f)
	}
	return fds[0], fds[1]
}

// kernelKeeps sends frame through the pair and returns how many bytes the
// receiver got, or 0 if the kernel's filter dropped it.
func kernelKeeps(t *testing.T, send, recv int, frame []byte) int {
	t.Helper()
	if err := unix.Send(send, frame, 0); err != nil {
		t.Fatalf("send %d bytes: %v", len(frame), err)
	}
	buf := make([]byte, 65536)
	n, _, err := unix.Recvfrom(recv, buf, unix.MSG_DONTWAIT)
	if errors.Is(err, unix.EAGAIN) {
		return 0
	}
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return n
}

// TestAgainstKernel runs every test expression over the test frames in the
// kernel (SO_ATTACH_FILTER) and in bpfscope: same frames accepted, at the
// same length.
func TestAgainstKernel(t *testing.T) {
	frames := testFrames(t, 300)
	for _, expr := range testExprs {
		f := compile(t, expr)
		// Snap lengths that cut frames make the comparison see the length too.
		f[len(f)-2].K, f[len(f)-1].K = fixSnap(f[len(f)-2], 100), fixSnap(f[len(f)-1], 100)
		send, recv := kernelSocketPair(t, f)
		p, err := Load(expr, f, Socket)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := p.NewSocketRunner(nil, vm.Config{})
		accepted := 0
		for i, fr := range frames {
			want := kernelKeeps(t, send, recv, fr)
			got, err := r.Run(context.Background(), fr)
			if err != nil {
				t.Fatalf("%s frame %d: %v", expr, i, err)
			}
			if got.Len != want {
				t.Errorf("%s frame %d (%d bytes): bpfscope keeps %d bytes, the kernel %d", expr, i, len(fr), got.Len, want)
			}
			if want > 0 {
				accepted++
			}
		}
		t.Logf("%-45s kernel and bpfscope accept %3d of %d frames", expr, accepted, len(frames))
	}
}

// fixSnap changes a "ret #262144" to "ret #snap" (tcpdump's snap length).
func fixSnap(in bpf.RawInstruction, snap uint32) uint32 {
	if in.Op == clsRET|retK && in.K != 0 {
		return snap
	}
	return in.K
}

// TestCheckAgainstKernel: the kernel accepts and refuses the same filters
// as Check (SO_ATTACH_FILTER runs bpf_check_classic).
func TestCheckAgainstKernel(t *testing.T) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Close(fd)
	for _, c := range checkCases {
		if len(c.f) == 0 {
			continue // the syscall refuses a NULL program before checking it
		}
		kerr := attachFilter(fd, c.f)
		if (kerr == nil) != c.ok {
			t.Errorf("%s: kernel says %v, the case expects ok=%v", c.name, kerr, c.ok)
		}
		if err := c.f.Check(); (err == nil) != (kerr == nil) {
			t.Errorf("%s: kernel says %v, Check says %v", c.name, kerr, err)
		}
	}
}

// TestAncillaryLoads reads each ancillary value of a VLAN-tagged frame as a
// packet socket on the loopback device sees it: the values eth_type_trans
// and the flow dissector derive from the frame (the tag stays in the frame,
// as without VLAN offload), loopback's ifindex and device type.
func TestAncillaryLoads(t *testing.T) {
	frames := testFrames(t, 0)
	vlanFrame := frames[7] // VLAN-tagged UDP: the tag stays in the frame (no offload here)
	for _, c := range []struct {
		ext  bpf.Extension
		want uint32
	}{
		{bpf.ExtProto, 0x8100},
		{bpf.ExtType, 3}, // PACKET_OTHERHOST: 02:00:00:00:00:02 is not loopback's address
		{bpf.ExtInterfaceIndex, 1},
		{bpf.ExtLinkLayerType, 772}, // ARPHRD_LOOPBACK
		{bpf.ExtLen, uint32(len(vlanFrame))},
		{bpf.ExtVLANTagPresent, 0},
		{bpf.ExtPayloadOffset, 14 + 4 + 20 + 8},
	} {
		f, err := FromInstructions([]bpf.Instruction{bpf.LoadExtension{Num: c.ext}, bpf.RetA{}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Load("anc", f, Socket)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := p.NewSocketRunner(nil, vm.Config{})
		v, err := r.Run(context.Background(), vlanFrame)
		if err != nil || v.Ret != c.want {
			t.Errorf("extension %d = %d, %v; want %d", c.ext, v.Ret, err, c.want)
		}
	}
}

// Seccomp against the kernel: a child process (this test binary again)
// installs a policy and makes one system call; the parent compares what
// happened with bpfscope's verdict.

const seccompChildEnv = "BPFSCOPE_SECCOMP_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(seccompChildEnv); spec != "" {
		os.Exit(seccompChild(spec))
	}
	os.Exit(m.Run())
}

// seccompChild installs the filter in BPFSCOPE_SECCOMP_FILTER (hex sock_filter
// bytes) on every thread and calls getpriority(which, who) as spec says
// ("which who"); it prints the errno (0 for success) and exits 0.
func seccompChild(spec string) int {
	var which, who int
	fmt.Sscan(spec, &which, &who)
	raw, err := hexDecode(os.Getenv("BPFSCOPE_SECCOMP_FILTER"))
	if err != nil {
		fmt.Println("bad filter:", err)
		return 3
	}
	f, _ := FromBytes(raw)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("no_new_privs:", err)
		return 3
	}
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: (*unix.SockFilter)(unsafe.Pointer(&f[0]))}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, 1 /* SECCOMP_SET_MODE_FILTER */, 1 /* TSYNC */, uintptr(unsafe.Pointer(&prog))); e != 0 {
		fmt.Println("seccomp:", e)
		return 4
	}
	_, _, e := unix.Syscall(unix.SYS_GETPRIORITY, uintptr(which), uintptr(who), 0)
	fmt.Println(int(e))
	return 0
}

func hexDecode(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

func TestSeccompAgainstKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("seccomp differential runs as root (no_new_privs works anyway, but keep CI's setup)")
	}
	getpriority, _ := Syscall("getpriority")
	// getpriority(which, who): EACCES when which == 1 (PRIO_PGRP) and who >
	// 100, ERRNO(ESRCH) when who's high half is set, ALLOW otherwise; an
	// unknown action for which == 2 (kills the process); everything else
	// (the Go runtime's calls) is allowed.
	f, err := FromInstructions([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: AuditArchX8664, SkipTrue: 1},
		bpf.RetConstant{Val: uint32(RetKillProcess)},
		bpf.LoadAbsolute{Off: 0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(getpriority), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(RetAllow)},
		bpf.LoadAbsolute{Off: 16 + 8 + 4, Size: 4}, // args[1] high half
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: uint32(RetErrno) | uint32(syscall.ESRCH)},
		bpf.LoadAbsolute{Off: 16, Size: 4}, // args[0] low half
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 2, SkipFalse: 1},
		bpf.RetConstant{Val: 0x12340000},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipFalse: 4},
		bpf.LoadAbsolute{Off: 24, Size: 4}, // args[1] low half
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 100, SkipFalse: 1},
		bpf.RetConstant{Val: uint32(RetErrno) | uint32(syscall.EACCES)},
		bpf.RetConstant{Val: uint32(RetAllow)},
		bpf.RetConstant{Val: uint32(RetAllow)},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load("policy", f, Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.NewSeccompRunner(nil, vm.Config{})
	hexf := fmt.Sprintf("%x", f.Bytes())
	for _, c := range []struct{ which, who uint64 }{
		{0, 0}, {1, 50}, {1, 101}, {1, 1 << 32}, {2, 0}, {0, 0x7fffffff},
	} {
		verdict, err := r.Run(context.Background(), SeccompData{Nr: getpriority, Arch: AuditArchX8664, Args: [6]uint64{c.which, c.who}})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), seccompChildEnv+"="+fmt.Sprint(c.which, " ", c.who), "BPFSCOPE_SECCOMP_FILTER="+hexf)
		out, err := cmd.Output()
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled()
		if err != nil && !killed {
			t.Fatalf("child (%d %d): %v %s", c.which, c.who, err, out)
		}
		switch verdict.Kind() {
		case RetKillProcess, RetKillThread:
			if !killed {
				t.Errorf("getpriority(%d, %d): bpfscope says %v, the child survived: %s", c.which, c.who, verdict, out)
			}
		case RetErrno:
			if killed || strings.TrimSpace(string(out)) != fmt.Sprint(verdict.Data()) {
				t.Errorf("getpriority(%d, %d): bpfscope says %v, the kernel's errno: %q (killed %v)", c.which, c.who, verdict, out, killed)
			}
		case RetAllow:
			// The real call ran: its errno is the kernel's own answer, not
			// the filter's, so only check the filter did not intervene.
			if killed {
				t.Errorf("getpriority(%d, %d): bpfscope says ALLOW, the kernel killed the child", c.which, c.who)
			}
		default:
			t.Fatalf("unexpected verdict %v", verdict)
		}
		t.Logf("getpriority(%d, %#x): %v", c.which, c.who, verdict)
	}
}
