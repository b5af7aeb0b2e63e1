package cbpf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// vethPair is a veth pair in a network namespace of the test's own: frames
// sent on a packet socket of A arrive at B, where a packet socket's filter
// sees them as a capture on B would.
type vethPair struct {
	ns        string
	a, b      *net.Interface
	send, rcv int // packet sockets on A and B
}

func newVethPair(t *testing.T) *vethPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	ns := fmt.Sprintf("bpfscope-cbpf-%d", os.Getpid())
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := ip("netns", "add", ns); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { ip("netns", "del", ns) })
	for _, args := range [][]string{
		{"-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb"},
		{"-n", ns, "link", "set", "va", "up"},
		{"-n", ns, "link", "set", "vb", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Skip(err)
		}
	}
	p := &vethPair{ns: ns}
	err := inNetns(ns, func() error {
		var err error
		if p.a, err = net.InterfaceByName("va"); err != nil {
			return err
		}
		if p.b, err = net.InterfaceByName("vb"); err != nil {
			return err
		}
		if p.send, err = packetSocket(p.a.Index); err != nil {
			return err
		}
		p.rcv, err = packetSocket(p.b.Index)
		return err
	})
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { unix.Close(p.send); unix.Close(p.rcv) })
	return p
}

// inNetns runs fn with the calling thread in namespace ns; sockets made
// there stay in it.
func inNetns(ns string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return err
	}
	defer unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET)
	return fn()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func packetSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// delivered sends frame on A and reports whether B's socket, running f,
// received it (recognised by its bytes; anything else B sees is skipped).
func (p *vethPair) delivered(t *testing.T, f Filter, frame []byte) bool {
	t.Helper()
	if err := attachFilter(p.rcv, f); err != nil {
		t.Fatalf("SO_ATTACH_FILTER: %v", err)
	}
	buf := make([]byte, 65536)
	for { // drain what arrived before this filter
		if _, _, err := unix.Recvfrom(p.rcv, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	if err := unix.Sendto(p.send, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.a.Index, Protocol: htons(unix.ETH_P_ALL)}); err != nil {
		t.Fatalf("send: %v", err)
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(p.rcv, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if n == len(frame) && string(buf[:n]) == string(frame) {
			return true
		}
	}
	return false
}

// TestAncillaryAgainstKernel checks each ancillary load of a packet socket
// on a veth device: for every frame, bpfscope computes the value with the
// device modelled as B (ctx.EthernetDevice), and a kernel filter on B
// accepts the frame only if its own value is the same.
func TestAncillaryAgainstKernel(t *testing.T) {
	p := newVethPair(t)
	dev := bpfctx.EthernetDevice(uint32(p.b.Index), [6]byte(p.b.HardwareAddr))
	src := []byte{0x02, 0xbf, 0x5c, 0x0e, 0x00, 0x01} // marks the test's frames
	frame := func(dst []byte, etype uint16, n int) []byte {
		b := make([]byte, n)
		copy(b, dst)
		copy(b[6:], src)
		b[12], b[13] = byte(etype>>8), byte(etype)
		for i := 14; i < n; i++ {
			b[i] = byte(i)
		}
		return b
	}
	var frames [][]byte
	for _, dst := range [][]byte{p.b.HardwareAddr, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x01, 0, 0x5e, 0, 0, 1}, {0x02, 0, 0, 0, 0, 9}} {
		for _, et := range []uint16{0x0800, 0x86dd, 0x0806, 0x88b5, 0x0100} {
			frames = append(frames, frame(dst, et, 60+int(et%40)))
		}
	}
	for _, ext := range []bpf.Extension{bpf.ExtProto, bpf.ExtType, bpf.ExtInterfaceIndex, bpf.ExtLinkLayerType,
		bpf.ExtLen, bpf.ExtVLANTagPresent, bpf.ExtMark, bpf.ExtQueue} {
		for i, fr := range frames {
			// bpfscope's value for this frame.
			f, _ := FromInstructions([]bpf.Instruction{bpf.LoadExtension{Num: ext}, bpf.RetA{}})
			prog, err := Load("anc", f, Socket)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := prog.NewSocketRunner(nil, vm.Config{})
			r.Device = dev
			v, err := r.Run(context.Background(), fr)
			if err != nil {
				t.Fatal(err)
			}
			// The kernel accepts the frame iff its value equals ours.
			check, err := FromInstructions([]bpf.Instruction{
				bpf.LoadAbsolute{Off: 6, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x02bf5c0e, SkipFalse: 3},
				bpf.LoadExtension{Num: ext},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: v.Ret, SkipFalse: 1},
				bpf.RetConstant{Val: 0xffff},
				bpf.RetConstant{Val: 0},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !p.delivered(t, check, fr) {
				t.Errorf("extension %d, frame %d (dst %x, type %#04x): the kernel's value is not bpfscope's %d", ext, i, fr[:6], uint16(fr[12])<<8|uint16(fr[13]), v.Ret)
			}
		}
	}
}
