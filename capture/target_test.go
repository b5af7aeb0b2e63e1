package capture

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// TestResolveRefuses checks the clear errors for targets capture cannot
// trace: a program type without an XDP or skb context, and a program
// loaded without BTF (trampolines need its function's BTF).
func TestResolveRefuses(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	coll := loadExample(t, "socket_filter.o", "dns_filter")
	info, _ := coll.Programs["dns_filter"].Info()
	id, _ := info.ID()
	if _, err := Resolve(TargetSpec{ID: uint32(id)}); err == nil || !strings.Contains(err.Error(), "capture traces XDP and tc") {
		t.Errorf("socket filter: %v", err)
	}

	noBTF, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		t.Skipf("loading a program without BTF: %v", err)
	}
	defer noBTF.Close()
	info, _ = noBTF.Info()
	id, _ = info.ID()
	if _, err := Resolve(TargetSpec{ID: uint32(id)}); err == nil || !strings.Contains(err.Error(), "without BTF") {
		t.Errorf("program without BTF: %v", err)
	}
	if _, err := Resolve(TargetSpec{ID: 4294967295}); err == nil || !strings.Contains(err.Error(), "no program with id") {
		t.Errorf("no such id: %v", err)
	}

	// By pinned path.
	fw := loadExample(t, "xdp_firewall.o", "xdp_firewall")
	pin := filepath.Join("/sys/fs/bpf", fmt.Sprintf("bpfscope-capture-test-%d", os.Getpid()))
	if err := fw.Programs["xdp_firewall"].Pin(pin); err != nil {
		t.Skipf("pinning (bpffs at /sys/fs/bpf?): %v", err)
	}
	defer fw.Programs["xdp_firewall"].Unpin()
	tgt, err := Resolve(TargetSpec{Pin: pin})
	if err != nil {
		t.Fatalf("by pin: %v", err)
	}
	defer tgt.Close()
	fwInfo, _ := fw.Programs["xdp_firewall"].Info()
	if fwID, _ := fwInfo.ID(); tgt.ID != fwID || tgt.Func != "xdp_firewall" {
		t.Errorf("by pin: id %d func %q, want %d", tgt.ID, tgt.Func, fwID)
	}
	if _, err := Resolve(TargetSpec{Pin: pin + "-absent"}); err == nil || !strings.Contains(err.Error(), "nothing pinned at") {
		t.Errorf("absent pin: %v", err)
	}
}

// TestResolveInterface finds programs by interface: XDP, and tcx on
// ingress and egress, in a namespace of the test's own; and notices when
// the XDP program is replaced.
func TestResolveInterface(t *testing.T) {
	l := newLab(t)
	fw := loadExample(t, "xdp_firewall.o", "xdp_firewall")
	tc := loadExample(t, "tc_classifier.o", "tc_dnat")
	var links []link.Link
	defer func() {
		for _, k := range links {
			k.Close()
		}
	}()
	err := l.in(l.nsB, func() error {
		x, err := link.AttachXDP(link.XDPOptions{Program: fw.Programs["xdp_firewall"], Interface: l.ifB})
		if err != nil {
			return err
		}
		links = append(links, x)
		i, err := link.AttachTCX(link.TCXOptions{Program: tc.Programs["tc_dnat"], Attach: ebpf.AttachTCXIngress, Interface: l.ifB})
		if err != nil {
			return err
		}
		links = append(links, i)
		return nil
	})
	if err != nil {
		t.Skipf("attaching to a veth: %v", err)
	}
	want := map[Hook]string{HookXDP: "xdp_firewall", HookIngress: "tc_dnat"}
	var xdpTarget *Target
	for hook, fn := range want {
		var tgt *Target
		if err := l.in(l.nsB, func() (err error) { tgt, err = Resolve(TargetSpec{Iface: labIfB, Hook: hook}); return err }); err != nil {
			t.Fatalf("%s: %v", hook, err)
		}
		if tgt.Func != fn {
			t.Errorf("%s: function %q, want %q", hook, tgt.Func, fn)
		}
		if hook == HookXDP {
			xdpTarget = tgt
		} else {
			defer tgt.Close()
		}
	}
	defer xdpTarget.Close()
	err = l.in(l.nsB, func() (err error) { _, err = Resolve(TargetSpec{Iface: labIfB, Hook: HookEgress}); return err })
	if err == nil || !strings.Contains(err.Error(), "no tc program on egress") {
		t.Errorf("egress: %v", err)
	}
	// From this thread (another namespace), the check still looks in nsB.
	if ok, err := xdpTarget.StillAttached(); !ok || err != nil {
		t.Fatalf("still attached: %v %v", ok, err)
	}
	// Replace the XDP program: the target is no longer what runs there.
	other := loadExample(t, "xdp_loop.o", "xdp_loop")
	if err := links[0].Update(other.Programs["xdp_loop"]); err != nil {
		t.Fatal(err)
	}
	if ok, _ := xdpTarget.StillAttached(); ok {
		t.Error("replaced XDP program still reported attached")
	}
}

// TestCaptureEndsWhenDetached detaches the target from its interface
// during a capture: the capture ends by itself and keeps what it had.
func TestCaptureEndsWhenDetached(t *testing.T) {
	l := newLab(t)
	fw := loadExample(t, "xdp_firewall.o", "xdp_firewall")
	var xl link.Link
	if err := l.in(l.nsB, func() (err error) {
		xl, err = link.AttachXDP(link.XDPOptions{Program: fw.Programs["xdp_firewall"], Interface: l.ifB})
		return err
	}); err != nil {
		t.Skipf("attaching XDP: %v", err)
	}
	var tgt *Target
	if err := l.in(l.nsB, func() (err error) { tgt, err = Resolve(TargetSpec{Iface: labIfB}); return err }); err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	run := startCapture(t, tgt, Options{})
	sender := l.packetSocket(l.nsA, l.ifA)
	send(t, sender, l.ifA, firewallFrame(t, l.macB, 0, 0))
	run.waitFor(t, 1)
	xl.Close()
	select {
	case <-run.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the capture did not end when its target was detached")
	}
	st, f := run.stop(t)
	if !strings.Contains(st.Ended, "no longer attached") || len(f.Runs) != 1 || f.Stats == nil {
		t.Fatalf("ended %q with %d runs, stats %v", st.Ended, len(f.Runs), f.Stats)
	}
}
