package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// captureFile holds runs of the bundled firewall as the kernel ran them
// (BPF_PROG_TEST_RUN of the live program, with its map snapshots; see
// capture.TestReplayKernelRuns), including a blocklist change between the
// last two runs.
const captureFile = "../../capture/testdata/firewall-testrun.pcapng"

func TestVerifyCapture(t *testing.T) {
	out, errs, code := bpfscope(t, "verify", "--capture", captureFile, "../../examples/progs/xdp_firewall.o")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"capture: XDP \"xdp_firewall\"",
		"not atomic with the runs",
		"XDP_DROP      same      192.0.2.66:40000 > 10.1.0.2:7777 UDP",
		"XDP_TX        same",
		"XDP_DROP      explained 10.1.0.1:40007 > 10.1.0.2:7777 UDP",
		"blocked_v4 0a010001: added",
		"26 runs: 25 same as the kernel, 1 explained by a later map snapshot, 0 different, 0 not replayable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestVerifyCaptureWrongProgram(t *testing.T) {
	out, errs, code := bpfscope(t, "verify", "--capture", captureFile, "../../examples/progs/xdp_loop.o")
	if code != 1 || !strings.Contains(errs, "xdp_loop.o is not the program that ran") || !strings.Contains(errs, "--force") {
		t.Fatalf("exit %d, want 1 and a refusal naming the tags\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "#1 ") {
		t.Errorf("runs replayed despite the refusal:\n%s", out)
	}
	out, errs, code = bpfscope(t, "verify", "--capture", captureFile, "--force", "--trace-lines", "5", "../../examples/progs/xdp_loop.o")
	if code != 1 {
		t.Fatalf("--force with another program: exit %d, want 1\n%s\n%s", code, out, errs)
	}
	// The first difference comes with the end of its trace.
	m := regexp.MustCompile(`(?s)DIFFERENT.*?trace of run (\d+) in bpfscope, its last 5 lines.*?\n(.*?)\n#`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(m[2], "exit") {
		t.Fatalf("no trace for the first difference:\n%s", out)
	}
	if strings.Count(out, "trace of run") != 1 {
		t.Errorf("more than one trace printed")
	}
}

// TestRunCaptureSeedsMaps runs the firewall object (with an empty
// blocklist of its own) over the capture: the capture's first snapshot
// fills the blocklist, so 192.0.2.66 is dropped as in the kernel.
func TestRunCaptureSeedsMaps(t *testing.T) {
	out, errs, code := bpfscope(t, "run", "--pcap", captureFile, "../../examples/progs/xdp_firewall.o")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "#2    ") || !regexp.MustCompile(`#2 +\S+ XDP_DROP +192\.0\.2\.66`).MatchString(out) {
		t.Errorf("the blocked source is not dropped:\n%s", out)
	}
	out, _, _ = bpfscope(t, "trace", "--pcap", captureFile, "--flight", "12", "--flight-on", "XDP_DROP", "../../examples/progs/xdp_firewall.o")
	if !strings.Contains(out, "map blocked_v4 lookup key=c0000242 hit") && !strings.Contains(out, "drop from c0000242") {
		t.Errorf("the flight recorder does not show why the frame was dropped:\n%s", out)
	}
}

func TestCaptureBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prog-id", "1"}, "-o FILE is required"},
		{[]string{"-o", "/dev/null"}, "exactly one of"},
		{[]string{"-o", "/dev/null", "--prog-id", "1", "--iface", "lo"}, "exactly one of"},
		{[]string{"-o", "/dev/null", "--prog-id", "1", "--sample", "3"}, "want 1/N"},
		{[]string{"-o", "/dev/null", "--prog-id", "1", "--ethertype", "ipx"}, "--ethertype"},
		{[]string{"-o", "/dev/null", "--prog-id", "1", "--hook", "egress"}, "applies to an interface"},
	} {
		_, errs, code := bpfscope(t, append([]string{"capture"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("capture %s: exit %d, stderr %q; want %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
	if os.Geteuid() != 0 {
		_, errs, code := bpfscope(t, "capture", "-o", "/dev/null", "--prog-id", "1")
		if code == 0 || !strings.Contains(errs, "needs root") {
			t.Errorf("not root: exit %d, %q", code, errs)
		}
		return
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prog-id", "4294967295"}, "no program with id 4294967295"},
		{[]string{"--iface", "nosuch0"}, `no interface "nosuch0"`},
		{[]string{"--iface", "lo"}, "lo has no XDP program"},
		{[]string{"--iface", "lo", "--hook", "ingress"}, "lo has no tc program on ingress"},
		{[]string{"--pin", "/sys/fs/bpf/bpfscope-no-such-pin"}, "nothing pinned at"},
	} {
		_, errs, code := bpfscope(t, append([]string{"capture", "-o", t.TempDir() + "/c.pcapng"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("capture %s: exit %d, stderr %q; want %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}
