package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/pcapgen"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// readRecords returns a pcap file's records with their capture info.
func readRecords(t *testing.T, path string) ([][]byte, []gopacket.CaptureInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var data [][]byte
	var infos []gopacket.CaptureInfo
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			return data, infos
		}
		data, infos = append(data, d), append(infos, ci)
	}
}

// TestClassicPcapOutMatchesTcpdump: run --cbpf-expr ... --pcap-out writes
// the frames tcpdump -r ... -w writes for the same expression.
func TestClassicPcapOutMatchesTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "gen.pcap")
	var buf bytes.Buffer
	if err := pcapgen.WritePcap(&buf, 1000, 11); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(in, buf.Bytes(), 0o644)
	for _, expr := range []string{"tcp", "udp and not ip6", "ip[9] == 1 or arp", "greater 600"} {
		ours, theirs := filepath.Join(dir, "ours.pcap"), filepath.Join(dir, "theirs.pcap")
		out, errs, code := bpfscope(t, "run", "-q", "--cbpf-expr", expr, "--pcap", in, "--pcap-out", ours)
		if code != 0 {
			t.Fatalf("%s: status %d: %s", expr, code, errs)
		}
		if msg, err := exec.Command("tcpdump", "-n", "-r", in, "-w", theirs, expr).CombinedOutput(); err != nil {
			t.Fatalf("tcpdump: %v: %s", err, msg)
		}
		a, ai := readRecords(t, ours)
		b, bi := readRecords(t, theirs)
		if len(a) != len(b) || len(a) == 0 {
			t.Fatalf("%s: bpfscope kept %d frames, tcpdump %d\n%s", expr, len(a), len(b), out)
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) || ai[i].Length != bi[i].Length || !ai[i].Timestamp.Equal(bi[i].Timestamp) {
				t.Fatalf("%s: frame %d differs from tcpdump's", expr, i)
			}
		}
		if !strings.Contains(out, "accepted ") {
			t.Errorf("%s: no summary: %s", expr, out)
		}
	}
}

// TestClassicCommands: the forms a filter is given in, trace output with
// classic instructions, seccomp, and the errors.
func TestClassicCommands(t *testing.T) {
	dir := t.TempDir()
	// A hand-written filter in -ddd form: IPv4 frames, first 64 bytes.
	ddd := "4\n40 0 0 12\n21 0 1 2048\n6 0 0 64\n6 0 0 0\n"
	out, errs, code := bpfscope(t, "run", "--cbpf", ddd)
	if code != 0 || !strings.Contains(out, "accept 64") || !strings.Contains(out, "accepted 9 of 12 frames") {
		t.Fatalf("status %d: %s\n%s", code, errs, out)
	}
	raw := filepath.Join(dir, "filter.bin")
	os.WriteFile(raw, []byte{0x28, 0, 0, 0, 12, 0, 0, 0, 6, 0, 0, 0, 0, 0, 1, 0}, 0o644) // ldh [12]; ret #65536
	if out, errs, code := bpfscope(t, "run", "--cbpf", "@"+raw); code != 0 || !strings.Contains(out, "accepted 12 of 12") {
		t.Fatalf("raw bytes: status %d: %s\n%s", code, errs, out)
	}
	out, _, code = bpfscope(t, "trace", "--cbpf", ddd)
	if code != 0 || !strings.Contains(out, "; filter.cbpf:1: (000) ldh [12]") || !strings.Contains(out, "r0 = *(u16 *)skb[12]") || !strings.Contains(out, "; filter.cbpf:3: (002) ret #64") {
		t.Fatalf("trace: status %d\n%s", code, out)
	}

	// Seccomp, in -ddd form: kill foreign architectures, deny ptrace (101)
	// with ERRNO(EPERM), allow the rest.
	policy := `7
32 0 0 4
21 1 0 3221225534
6 0 0 2147483648
32 0 0 0
21 0 1 101
6 0 0 327681
6 0 0 2147418112
`
	out, errs, code = bpfscope(t, "run", "--seccomp", policy, "--syscall", "ptrace 0 1", "--syscall", "getpid", "--syscall", "getpid", "--syscall", "getpid")
	if code != 0 || !strings.Contains(out, "ptrace(0x0, 0x1)") || !strings.Contains(out, "SECCOMP_RET_ERRNO(1 EPERM)") || !strings.Contains(out, "getpid()                                 SECCOMP_RET_ALLOW") {
		t.Fatalf("seccomp: status %d: %s\n%s", code, errs, out)
	}
	js := filepath.Join(dir, "calls.json")
	os.WriteFile(js, []byte(`[{"nr": "ptrace"}, {"nr": 39, "arch": 1073741827}]`), 0o644)
	out, errs, code = bpfscope(t, "trace", "--seccomp", policy, "--syscalls", js)
	if code != 0 || !strings.Contains(out, "seccomp_data.arch") || !strings.Contains(out, "SECCOMP_RET_KILL_PROCESS") {
		t.Fatalf("seccomp trace: status %d: %s\n%s", code, errs, out)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"run", "--cbpf", "1\n6 0 0 0\n", "--seccomp", "1\n6 0 0 0\n"}, 2, "give one of"},
		{[]string{"run", "--cbpf", "{ 0x28, 0, 0 }"}, 1, "line 1"},
		{[]string{"run", "--cbpf", "2\n21 0 5 1\n6 0 0 0\n"}, 1, "insn 0 (jeq #0x1 jt 1 jf 6): jump target"},
		{[]string{"run", "--cbpf", "1\n6 0 0 0\n", "prog.o"}, 2, "takes no program"},
		{[]string{"run", "--seccomp", "2\n40 0 0 0\n6 0 0 0\n"}, 1, "not allowed in a seccomp filter"},
		{[]string{"run", "--seccomp", "2\n32 0 0 64\n6 0 0 0\n"}, 1, "inside seccomp_data"},
		{[]string{"run", "--seccomp", "1\n6 0 0 0\n"}, 2, "no system call"},
		{[]string{"run", "--seccomp", "1\n6 0 0 0\n", "--syscall", "nosuch 1"}, 1, "unknown x86-64 system call"},
		{[]string{"run", "--cbpf-expr", "tcp port"}, 1, "tcpdump cannot compile"},
	} {
		_, errs, code := bpfscope(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%q: status %d, %q; want %d and %q", c.args, code, errs, c.code, c.msg)
		}
	}
}

// TestClassicCoverProfile: cover and profile count classic instructions.
func TestClassicCoverProfile(t *testing.T) {
	dir := t.TempDir()
	ddd := "4\n40 0 0 12\n21 0 1 2048\n6 0 0 64\n6 0 0 0\n" // IPv4: 9 of the 12 sample frames
	lcov := filepath.Join(dir, "c.lcov")
	out, errs, code := bpfscope(t, "cover", "--cbpf", ddd, "-o", lcov)
	if code != 0 {
		t.Fatalf("cover: status %d: %s", code, errs)
	}
	for _, want := range []string{"12  (000) ldh [12]", "12  (001) jeq #0x800 jt 2 jf 3", "9  (002) ret #64", "3  (003) ret #0"} {
		if !strings.Contains(out, want) {
			t.Errorf("cover lacks %q:\n%s", want, out)
		}
	}
	b, _ := os.ReadFile(lcov)
	listing, _ := os.ReadFile(filepath.Join(dir, "filter.cbpf"))
	if !strings.Contains(string(b), "SF:"+filepath.Join(dir, "filter.cbpf")) || !strings.Contains(string(b), "DA:3,9") ||
		!strings.HasPrefix(string(listing), "(000) ldh [12]\n") {
		t.Errorf("lcov:\n%s\nlisting:\n%s", b, listing)
	}
	out, errs, code = bpfscope(t, "profile", "--cbpf", ddd, "-o", filepath.Join(dir, "p.pprof"))
	if code != 0 || !strings.Contains(out, "12 runs") || !strings.Contains(out, "(002) ret #64") {
		t.Fatalf("profile: status %d: %s\n%s", code, errs, out)
	}
}

// TestRunLimitFlags: --max-insns and --max-output bound each run and the
// errors say how to raise them; zero is refused.
func TestRunLimitFlags(t *testing.T) {
	out, _, code := bpfscope(t, "run", "--max-insns", "50")
	if code != 1 || !strings.Contains(out, "instruction budget exhausted: raise vm.Config.MaxInsns, or the command's --max-insns") {
		t.Errorf("--max-insns 50: status %d\n%s", code, out)
	}
	out, _, code = bpfscope(t, "run", "--max-output", "10")
	if code != 1 || !strings.Contains(out, "#10 ") || !strings.Contains(out, "output limit exceeded: bpf_trace_printk") || !strings.Contains(out, "--max-output") {
		t.Errorf("--max-output 10: status %d\n%s", code, out)
	}
	if _, _, code := bpfscope(t, "run", "--max-output", "0"); code != 2 {
		t.Errorf("--max-output 0: status %d, want 2", code)
	}
	if out, _, code := bpfscope(t, "run", "--max-insns", "100000", "--max-output", "1M"); code != 0 || !strings.Contains(out, "XDP_DROP") {
		t.Errorf("roomy limits: status %d\n%s", code, out)
	}
}
