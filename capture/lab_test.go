package capture

import (
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// lab is two network namespaces of the test's own joined by a veth pair:
// capA in nsA, capB in nsB. Traffic stays on the pair.
type lab struct {
	t          testing.TB
	nsA, nsB   netns.NsHandle
	ifA, ifB   int // ifindexes, each in its namespace
	macA, macB net.HardwareAddr
}

const (
	labIfA = "capA"
	labIfB = "capB"
)

// newLab builds the lab, or skips the test where that is refused.
func newLab(t testing.TB) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, veth and BPF trampolines")
	}
	l := &lab{t: t}
	err := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		defer netns.Set(orig)
		if l.nsA, err = netns.New(); err != nil {
			return err
		}
		if l.nsB, err = netns.New(); err != nil {
			return err
		}
		return nil
	}()
	if err != nil {
		if l.nsA.IsOpen() {
			l.nsA.Close()
		}
		t.Skipf("network namespaces refused here: %v", err)
	}
	t.Cleanup(func() { l.nsA.Close(); l.nsB.Close() })

	ha, err := netlink.NewHandleAt(l.nsA)
	if err != nil {
		t.Skipf("netlink in a new namespace: %v", err)
	}
	defer ha.Close()
	hb, err := netlink.NewHandleAt(l.nsB)
	if err != nil {
		t.Skipf("netlink in a new namespace: %v", err)
	}
	defer hb.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: labIfA, Flags: net.FlagUp},
		PeerName:      labIfB,
		PeerNamespace: netlink.NsFd(int(l.nsB)),
	}
	if err := ha.LinkAdd(veth); err != nil {
		t.Skipf("creating a veth pair refused: %v", err)
	}
	for _, x := range []struct {
		h    *netlink.Handle
		name string
		idx  *int
		mac  *net.HardwareAddr
	}{{ha, labIfA, &l.ifA, &l.macA}, {hb, labIfB, &l.ifB, &l.macB}} {
		lk, err := x.h.LinkByName(x.name)
		if err != nil {
			t.Fatal(err)
		}
		// No IPv6 link-local address: no stray router solicitations or
		// MLD reports on the pair while the test counts frames.
		if err := x.h.LinkSetIP6AddrGenMode(lk, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
			t.Logf("%s: addrgenmode none: %v", x.name, err)
		}
		if err := x.h.LinkSetARPOff(lk); err != nil {
			t.Fatal(err)
		}
		if err := x.h.LinkSetUp(lk); err != nil {
			t.Fatal(err)
		}
		*x.idx = lk.Attrs().Index
		*x.mac = lk.Attrs().HardwareAddr
	}
	return l
}

// in runs f on a thread in namespace ns.
func (l *lab) in(ns netns.NsHandle, f func() error) error { return inNetns(ns, f) }

// packetSocket opens an AF_PACKET socket bound to ifindex in ns, for
// every protocol; the socket stays in ns.
func (l *lab) packetSocket(ns netns.NsHandle, ifindex int) int {
	l.t.Helper()
	var fd int
	err := l.in(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	if err != nil {
		l.t.Skipf("AF_PACKET socket: %v", err)
	}
	l.t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// send writes one frame on the socket, with the frame's ethertype as the
// skb protocol.
func send(t testing.TB, fd, ifindex int, frame []byte) {
	t.Helper()
	proto := uint16(0)
	if len(frame) >= 14 {
		proto = uint16(frame[12])<<8 | uint16(frame[13])
	}
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: htons(proto), Halen: 6}
	copy(sa.Addr[:], frame[0:6])
	if err := unix.Sendto(fd, frame, 0, sa); err != nil {
		t.Fatalf("sending a %d-byte frame: %v", len(frame), err)
	}
}

// received reads the frames that arrive on fd (not the ones the
// namespace sends) until quiet for the given time.
func received(t testing.TB, fd int, quiet time.Duration) [][]byte {
	t.Helper()
	tv := unix.NsecToTimeval(quiet.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, 65536)
	for range 100000 { // bounded: the test sends far fewer
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				return out
			}
			t.Fatal(err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
	return out
}
