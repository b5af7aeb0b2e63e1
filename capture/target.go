package capture

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Hook names where on an interface a program runs.
type Hook string

const (
	HookXDP       Hook = "xdp"
	HookIngress   Hook = "ingress" // tcx or cls_bpf on the ingress (clsact) qdisc
	HookEgress    Hook = "egress"
	hookUnchecked Hook = "" // chosen by id or pin: nothing to watch
)

// TargetSpec says which running program to capture: exactly one of ID,
// Pin and Iface.
type TargetSpec struct {
	ID    uint32
	Pin   string
	Iface string
	Hook  Hook // with Iface: xdp (default), ingress or egress
}

// Target is a running program chosen for capture. It holds a reference
// to the program, so it stays loaded while the capture runs.
type Target struct {
	Prog *ebpf.Program
	Info *ebpf.ProgramInfo
	ID   ebpf.ProgramID
	// Func is the name of the program's entry function in its BTF: the
	// attach point of fentry/fexit.
	Func string
	// Where it was found: "prog id 12", "pinned /sys/fs/bpf/x",
	// "eth0 xdp".
	Where string

	spec TargetSpec
	ns   netns.NsHandle // the network namespace of an interface target
}

// Resolve finds the program spec names. It needs root (or CAP_BPF and
// CAP_SYS_ADMIN, to get programs by id and read their BTF).
func Resolve(s TargetSpec) (*Target, error) {
	n := 0
	for _, set := range []bool{s.ID != 0, s.Pin != "", s.Iface != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("choose the program with exactly one of a program id, a pinned path or an interface")
	}
	if s.Iface == "" && s.Hook != "" {
		return nil, errors.New("a hook (xdp, ingress, egress) applies to an interface")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("capture needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: to find programs by id, read their BTF and attach trampolines)")
	}
	t := &Target{spec: s}
	var err error
	switch {
	case s.ID != 0:
		t.Where = fmt.Sprintf("prog id %d", s.ID)
		t.Prog, err = ebpf.NewProgramFromID(ebpf.ProgramID(s.ID))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no program with id %d (bpftool prog list shows the loaded ones)", s.ID)
		}
	case s.Pin != "":
		t.Where = "pinned " + s.Pin
		t.Prog, err = ebpf.LoadPinnedProgram(s.Pin, nil) // programs open read-write only
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("nothing pinned at %s", s.Pin)
		}
	default:
		if t.Hook() == "" {
			t.spec.Hook = HookXDP
		}
		t.Where = s.Iface + " " + string(t.spec.Hook)
		// Interfaces are looked up again during the capture, maybe from
		// another thread: remember this thread's namespace.
		if t.ns, err = netns.Get(); err != nil {
			return nil, fmt.Errorf("%s: network namespace: %w", t.Where, err)
		}
		var id ebpf.ProgramID
		if id, err = ifaceProgram(s.Iface, t.spec.Hook); err != nil {
			return nil, err
		}
		t.Prog, err = ebpf.NewProgramFromID(id)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("%s: %w", t.Where, err)
	}
	if err := t.describe(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Hook is where on its interface the target was found, "" when chosen
// by id or pin.
func (t *Target) Hook() Hook { return t.spec.Hook }

func (t *Target) describe() error {
	info, err := t.Prog.Info()
	if err != nil {
		return fmt.Errorf("%s: program info: %w", t.Where, err)
	}
	t.Info = info
	t.ID, _ = info.ID()
	switch info.Type {
	case ebpf.XDP, ebpf.SchedCLS, ebpf.SchedACT:
	default:
		return fmt.Errorf("%s is a %s program (%q): capture traces XDP and tc (sched_cls, sched_act) programs", t.Where, info.Type, info.Name)
	}
	fis, err := info.FuncInfos()
	if err != nil || len(fis) == 0 {
		return fmt.Errorf("%s (%q) was loaded without BTF function info, so trampolines cannot attach to it (load it from an object built with -g): %v", t.Where, info.Name, err)
	}
	for _, fi := range fis {
		if fi.Offset == 0 {
			t.Func = fi.Func.Name
		}
	}
	if t.Func == "" {
		return fmt.Errorf("%s (%q): its BTF names no function at instruction 0", t.Where, info.Name)
	}
	return nil
}

// Close drops the reference to the program.
func (t *Target) Close() error {
	if t.ns.IsOpen() {
		t.ns.Close()
	}
	if t.Prog == nil {
		return nil
	}
	return t.Prog.Close()
}

// Kind is the context the target gets: "xdp" or "skb".
func (t *Target) Kind() string {
	if t.Info.Type == ebpf.XDP {
		return "xdp"
	}
	return "skb"
}

// StillAttached reports whether an interface target is still the program
// running at its hook; always true for targets chosen by id or pin.
func (t *Target) StillAttached() (bool, error) {
	if t.spec.Iface == "" {
		return true, nil
	}
	var id ebpf.ProgramID
	err := inNetns(t.ns, func() (err error) {
		id, err = ifaceProgram(t.spec.Iface, t.spec.Hook)
		return err
	})
	if err != nil {
		return false, err
	}
	return id == t.ID, nil
}

// inNetns runs f on a thread in namespace ns (netlink and tcx queries
// name interfaces by index within the caller's namespace).
func inNetns(ns netns.NsHandle, f func() error) error {
	done := make(chan error, 1)
	go func() {
		// A thread whose namespace cannot be restored stays locked, so it
		// ends with this goroutine instead of serving others.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		err = f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// ifaceProgram finds the program at an interface's hook: XDP from the
// link's netlink attributes; tc from tcx first, then cls_bpf filters of
// the clsact qdisc.
func ifaceProgram(name string, hook Hook) (ebpf.ProgramID, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("no interface %q in this network namespace: %v", name, err)
	}
	switch hook {
	case HookXDP:
		x := l.Attrs().Xdp
		if x == nil || !x.Attached || x.ProgId == 0 {
			return 0, fmt.Errorf("%s has no XDP program", name)
		}
		return ebpf.ProgramID(x.ProgId), nil
	case HookIngress, HookEgress:
		at, parent := ebpf.AttachTCXIngress, uint32(netlink.HANDLE_MIN_INGRESS)
		if hook == HookEgress {
			at, parent = ebpf.AttachTCXEgress, netlink.HANDLE_MIN_EGRESS
		}
		var ids []ebpf.ProgramID
		if res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: at}); err == nil {
			for _, p := range res.Programs {
				ids = append(ids, p.ID)
			}
		}
		if fs, err := netlink.FilterList(l, parent); err == nil {
			for _, f := range fs {
				if bf, ok := f.(*netlink.BpfFilter); ok && bf.Id != 0 {
					ids = append(ids, ebpf.ProgramID(bf.Id))
				}
			}
		}
		switch len(ids) {
		case 0:
			return 0, fmt.Errorf("%s has no tc program on %s (neither tcx nor cls_bpf)", name, hook)
		case 1:
			return ids[0], nil
		}
		s := make([]string, len(ids))
		for i, id := range ids {
			s[i] = fmt.Sprint(id)
		}
		return 0, fmt.Errorf("%s has %d tc programs on %s (ids %s): choose one by id", name, len(ids), hook, strings.Join(s, ", "))
	}
	return 0, fmt.Errorf("unknown hook %q: want xdp, ingress or egress", hook)
}

// ErrNoTrampolines is returned when the kernel will not load or attach
// fentry/fexit programs.
var ErrNoTrampolines = errors.New("this kernel does not let BPF tracing programs (fentry/fexit) attach to a program: capture needs BPF trampolines")

// checkTrampolines turns the kernel's refusal to load or attach a
// tracing program into a sentence.
func checkTrampolines(err error) error {
	switch {
	case errors.Is(err, unix.Errno(524) /* ENOTSUPP */), errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w (kernel built without BTF, CONFIG_DEBUG_INFO_BTF, or a JIT with trampolines): %v", ErrNoTrampolines, err)
	case errors.Is(err, unix.EPERM) && os.Geteuid() == 0:
		// Root with every capability and still EPERM: the kernel (or a
		// hypervisor that forbids patching kernel text) refuses the
		// program type; `bpftool feature probe kernel` shows
		// "program_type tracing is NOT available".
		// cilium/ebpf's wording suggests RLIMIT_MEMLOCK, which is not it.
		return fmt.Errorf("%w: loading one fails with EPERM as root (`bpftool feature probe kernel | grep tracing` tells whether this kernel has them)", ErrNoTrampolines)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("the kernel refused: capture needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN): %w", err)
	}
	return err
}
