package cbpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"golang.org/x/net/bpf"
)

func compile(t testing.TB, expr string) Filter {
	t.Helper()
	f, err := Compile(expr)
	if errors.Is(err, ErrNoTcpdump) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestParseForms reads the same filter from tcpdump's -dd and -ddd output
// and from raw bytes.
func TestParseForms(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	want := compile(t, "tcp port 80") // -ddd
	dd, err := exec.Command("tcpdump", "-n", "-r", writeEmptyPcap(t), "-dd", "tcp port 80").Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(string(dd))
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(got, want) {
		t.Fatalf("-dd parsed to\n%v\n-ddd to\n%v", got, want)
	}
	raw, err := FromBytes(want.Bytes())
	if err != nil || !slicesEqual(raw, want) {
		t.Fatalf("bytes round trip: %v %v", raw, err)
	}
	// tcpdump -d's listing and ours agree on the opcodes' names.
	d, err := exec.Command("tcpdump", "-n", "-r", writeEmptyPcap(t), "-d", "tcp port 80").Output()
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(d)), "\n") {
		theirs := strings.Fields(line)[1]
		ours := strings.Fields(Disasm(want[i], i))[0]
		if theirs != ours {
			t.Errorf("insn %d: tcpdump -d says %q, we say %q", i, line, Disasm(want[i], i))
		}
	}
}

func writeEmptyPcap(t testing.TB) string {
	t.Helper()
	f, err := Compile("ip") // makes sure tcpdump is there
	if err != nil || len(f) == 0 {
		t.Skip(err)
	}
	dir := t.TempDir()
	path := dir + "/empty.pcap"
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0}
	if err := os.WriteFile(path, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func slicesEqual(a, b Filter) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "no instructions"},
		{"{ 0x28, 0, 0 },", "line 1"},
		{"2\n6 0 0 1\n", "count line says 2"},
		{"{ 0x28, 0, 0x100, 12 },", "field 3 (jf)"},
		{"hello", "line 1"},
		{"1\n6 0 0 65535\n", ""},
	} {
		_, err := Parse(c.in)
		if c.want == "" {
			if err != nil {
				t.Errorf("Parse(%q): %v", c.in, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an ErrSyntax naming %q", c.in, err, c.want)
		}
	}
	if _, err := FromBytes(make([]byte, 12)); !errors.Is(err, ErrSyntax) {
		t.Errorf("FromBytes(12 bytes) = %v", err)
	}
}

// TestCheckRules gives bpf_check_classic one filter per rule; the kernel's
// answer for each comes from TestCheckAgainstKernel.
var checkCases = []struct {
	name string
	f    Filter
	ok   bool
	msg  string // part of the error, when refused
}{
	{"ret only", Filter{{Op: clsRET | retK, K: 1}}, true, ""},
	{"empty", Filter{}, false, "0 instructions"},
	{"no ret last", Filter{{Op: clsLD | modeIMM, K: 1}}, false, "last instruction must be a RET"},
	{"unknown opcode", Filter{{Op: 0xff}, {Op: clsRET | retA}}, false, "unknown opcode"},
	{"div by zero", Filter{{Op: clsALU | aluDIV | srcK}, {Op: clsRET | retA}}, false, "division by constant zero"},
	{"mod by zero", Filter{{Op: clsALU | aluMOD | srcK}, {Op: clsRET | retA}}, false, "division by constant zero"},
	{"shift 32", Filter{{Op: clsALU | aluLSH | srcK, K: 32}, {Op: clsRET | retA}}, false, "shift by 32"},
	{"shift 31", Filter{{Op: clsALU | aluRSH | srcK, K: 31}, {Op: clsRET | retA}}, true, ""},
	{"scratch 16", Filter{{Op: clsST, K: 16}, {Op: clsRET | retA}}, false, "M[16]"},
	{"ja out", Filter{{Op: clsJMP | jmpJA, K: 1}, {Op: clsRET | retA}}, false, "leaves the filter"},
	{"jeq out", Filter{{Op: clsJMP | jmpJEQ | srcK, Jt: 0, Jf: 1}, {Op: clsRET | retA}}, false, "leaves the filter"},
	{"jeq in", Filter{{Op: clsJMP | jmpJEQ | srcK, Jt: 0, Jf: 1}, {Op: clsRET | retA}, {Op: clsRET | retK}}, true, ""},
	{"read unwritten", Filter{{Op: clsLD | modeMEM, K: 3}, {Op: clsRET | retA}}, false, "M[3] is read before"},
	{"read written on one path", Filter{
		{Op: clsJMP | jmpJEQ | srcK, Jt: 0, Jf: 1},
		{Op: clsST, K: 2},
		{Op: clsLD | modeMEM, K: 2},
		{Op: clsRET | retA}}, false, "M[2] is read before"},
	{"read written on all paths", Filter{
		{Op: clsST, K: 2},
		{Op: clsJMP | jmpJEQ | srcK, Jt: 0, Jf: 1},
		{Op: clsST, K: 2},
		{Op: clsLD | modeMEM, K: 2},
		{Op: clsRET | retA}}, true, ""},
	{"ancillary proto", Filter{{Op: clsLD | modeABS | szH, K: 0xfffff000}, {Op: clsRET | retA}}, true, ""},
	{"ancillary unknown", Filter{{Op: clsLD | modeABS | szW, K: 0xfffff000 + 64}, {Op: clsRET | retA}}, false, "unknown ancillary"},
	{"net offset", Filter{{Op: clsLD | modeABS | szB, K: uint32(0x100000000 + skfNetOff + 9)}, {Op: clsRET | retA}}, true, ""},
	{"ldx msh", Filter{{Op: clsLDX | szB | modeMSH, K: 14}, {Op: clsRET | retA}}, true, ""},
	{"4097 insns", make(Filter, MaxInsns+1), false, "BPF_MAXINSNS"},
}

func TestCheckRules(t *testing.T) {
	for _, c := range checkCases {
		err := c.f.Check()
		if c.ok != (err == nil) {
			t.Errorf("%s: Check() = %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if err != nil {
			var ce *CheckError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: Check() = %v, want a *CheckError (EINVAL) saying %q", c.name, err, c.msg)
			}
		}
	}
}

// TestAgainstXNetVM runs every test expression over the test frames in
// bpfscope and in golang.org/x/net/bpf's VM, whose semantics for packet
// filters without ancillary loads are the kernel's.
func TestAgainstXNetVM(t *testing.T) {
	frames := testFrames(t, 300)
	for _, expr := range testExprs {
		f := compile(t, expr)
		insns, ok := f.Instructions()
		if !ok {
			t.Fatalf("%s: x/net/bpf cannot decode", expr)
		}
		ref, err := bpf.NewVM(insns)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		p, err := Load(expr, f, Socket)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		r, err := p.NewSocketRunner(nil, vm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		accepted := 0
		for i, fr := range frames {
			want, err := ref.Run(fr)
			if err != nil {
				t.Fatalf("%s frame %d: x/net/bpf: %v", expr, i, err)
			}
			got, err := r.Run(context.Background(), fr)
			if err != nil {
				t.Fatalf("%s frame %d: %v", expr, i, err)
			}
			if int(got.Ret) != want || got.Len != min(want, len(fr)) {
				t.Errorf("%s frame %d (%d bytes): bpfscope returns %d (keeps %d bytes), x/net/bpf %d", expr, i, len(fr), got.Ret, got.Len, want)
			}
			if got.Accepted() {
				accepted++
			}
		}
		if accepted == 0 || accepted == len(frames) {
			t.Errorf("%s accepts %d of %d frames: the frames do not exercise it", expr, accepted, len(frames))
		}
	}
}

// TestDivisionByZeroReturnsZero: A / X with X == 0 ends the filter with 0.
func TestDivisionByZeroReturnsZero(t *testing.T) {
	f, err := FromInstructions([]bpf.Instruction{
		bpf.LoadConstant{Dst: bpf.RegA, Val: 100},
		bpf.LoadConstant{Dst: bpf.RegX, Val: 0},
		bpf.ALUOpX{Op: bpf.ALUOpDiv},
		bpf.RetConstant{Val: 99},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load("div0", f, Socket)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.NewSocketRunner(nil, vm.Config{})
	v, err := r.Run(context.Background(), make([]byte, 60))
	if err != nil || v.Ret != 0 {
		t.Fatalf("A/0 = %+v, %v; want a return of 0", v, err)
	}
}

// TestTraceNamesClassicInstructions: every eBPF step of a traced filter
// carries the classic instruction it came from.
func TestTraceNamesClassicInstructions(t *testing.T) {
	f := compile(t, "tcp port 80")
	p, err := Load("port80", f, Socket)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.NewSocketRunner(nil, vm.Config{})
	var classic []int
	rec := &stepRecorder{fn: func(s *hooks.Step) {
		if l := r.Machine().Line(s.PC); l != nil && (len(classic) == 0 || classic[len(classic)-1] != l.Line-1) {
			classic = append(classic, l.Line-1)
		}
	}}
	if err := attach(r.Machine(), rec); err != nil {
		t.Fatal(err)
	}
	frames := testFrames(t, 0)
	if _, err := r.Run(context.Background(), frames[0]); err != nil { // IPv4 TCP to port 80
		t.Fatal(err)
	}
	// The classic path: ldh [12]; jeq #0x86dd; jeq #0x800; ldb [23]; ...
	if len(classic) < 5 || classic[0] != 0 || classic[1] != 1 {
		t.Fatalf("classic instructions traced: %v\n%s", classic, f)
	}
	for i := 1; i < len(classic); i++ {
		if classic[i] <= classic[i-1] {
			t.Fatalf("classic pcs must only go forward: %v", classic)
		}
	}
	if got := p.EBPF.Lines[len(p.EBPF.Lines)-1].Text; !strings.HasPrefix(got, fmt.Sprintf("(%03d) ret", len(f)-1)) {
		t.Errorf("last eBPF instruction's classic line is %q", got)
	}
}

type stepRecorder struct{ fn func(*hooks.Step) }

func (s *stepRecorder) BeforeStep(st *hooks.Step) hooks.Action { s.fn(st); return hooks.Continue }
func (s *stepRecorder) AfterStep(*hooks.Step) hooks.Action     { return hooks.Continue }

// attach attaches h, tolerating Attach with or without an error result.
func attach(m *vm.Machine, h any) error {
	m.Attach(h)
	return nil
}

func TestSeccompActions(t *testing.T) {
	for _, c := range []struct {
		a    Action
		want string
	}{
		{RetAllow, "SECCOMP_RET_ALLOW"},
		{RetErrno | 13, "SECCOMP_RET_ERRNO(13 EACCES)"},
		{RetKillProcess, "SECCOMP_RET_KILL_PROCESS"},
		{RetKillThread, "SECCOMP_RET_KILL_THREAD"},
		{RetTrap | 5, "SECCOMP_RET_TRAP(5)"},
		{RetLog, "SECCOMP_RET_LOG"},
		{RetUserNotif, "SECCOMP_RET_USER_NOTIF"},
		{RetTrace | 7, "SECCOMP_RET_TRACE(7)"},
		{0x12340000, "SECCOMP_RET_KILL_PROCESS (unknown action 0x12340000 acts as KILL_PROCESS)"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%#x: %q, want %q", uint32(c.a), got, c.want)
		}
	}
}

func TestSeccompCheck(t *testing.T) {
	ld := func(k uint32) Filter {
		return Filter{{Op: clsLD | szW | modeABS, K: k}, {Op: clsRET | retK, K: uint32(RetAllow)}}
	}
	for _, c := range []struct {
		name string
		f    Filter
		msg  string
	}{
		{"nr", ld(0), ""},
		{"args[5].hi", ld(60), ""},
		{"past seccomp_data", ld(64), "inside seccomp_data"},
		{"unaligned", ld(2), "aligned"},
		{"half word", Filter{{Op: clsLD | szH | modeABS, K: 0}, {Op: clsRET | retA}}, "not allowed"},
		{"mod", Filter{{Op: clsALU | aluMOD | srcK, K: 3}, {Op: clsRET | retA}}, "not allowed"},
		{"ind", Filter{{Op: clsLD | szW | modeIND, K: 0}, {Op: clsRET | retA}}, "not allowed"},
		{"msh", Filter{{Op: clsLDX | szB | modeMSH, K: 0}, {Op: clsRET | retA}}, "not allowed"},
		{"len", Filter{{Op: clsLD | szW | modeLEN}, {Op: clsRET | retA}}, ""},
	} {
		err := c.f.CheckSeccomp()
		if (c.msg == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("%s: CheckSeccomp() = %v, want %q", c.name, err, c.msg)
		}
	}
}

// TestSeccompRun runs a small policy: ERRNO(EPERM) for ptrace, KILL for a
// foreign architecture, ALLOW otherwise, and the length load.
func TestSeccompRun(t *testing.T) {
	ptrace, _ := Syscall("ptrace")
	f, err := FromInstructions([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: AuditArchX8664, SkipTrue: 1},
		bpf.RetConstant{Val: uint32(RetKillProcess)},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // nr
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ptrace), SkipFalse: 1},
		bpf.RetConstant{Val: uint32(RetErrno) | 1},
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: SeccompDataSize, SkipFalse: 1},
		bpf.RetConstant{Val: uint32(RetAllow)},
		bpf.RetConstant{Val: uint32(RetTrap)},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load("policy", f, Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.NewSeccompRunner(nil, vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		call string
		arch uint32
		want Action
	}{
		{"ptrace 16 1", AuditArchX8664, RetErrno | 1},
		{"getpid", AuditArchX8664, RetAllow},
		{"getpid", 0x40000003, RetKillProcess}, // AUDIT_ARCH_I386
	} {
		d, err := ParseSyscall(c.call)
		if err != nil {
			t.Fatal(err)
		}
		d.Arch = c.arch
		got, err := r.Run(context.Background(), d)
		if err != nil || got != c.want {
			t.Errorf("%s (arch %#x) = %v, %v; want %v", c.call, c.arch, got, err, c.want)
		}
	}
	if _, err := p.NewSocketRunner(nil, vm.Config{}); !errors.Is(err, ErrMode) {
		t.Errorf("a seccomp filter as a socket filter: %v", err)
	}
}

func TestParseSyscalls(t *testing.T) {
	d, err := ParseSyscall("openat(-100, 0x1000, 2)")
	if err != nil {
		t.Fatal(err)
	}
	if d.Nr != 257 || d.Args[0] != uint64(0xffffffffffffff9c) || d.Args[1] != 0x1000 || d.Arch != AuditArchX8664 {
		t.Errorf("openat parsed to %+v", d)
	}
	if _, err := ParseSyscall("nosuchcall 1"); err == nil {
		t.Error("unknown syscall accepted")
	}
	list, err := ParseSyscallsJSON([]byte(`[{"nr":"write","args":[1,2,3]},{"nr":39}]`))
	if err != nil || len(list) != 2 || list[0].Nr != 1 || list[0].Args[2] != 3 || list[1].Nr != 39 {
		t.Fatalf("%+v %v", list, err)
	}
	if SyscallName(39) != "getpid" {
		t.Errorf("SyscallName(39) = %q", SyscallName(39))
	}
}
