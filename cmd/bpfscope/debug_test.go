package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the master the test drives and
// the slave the debugger sees as its terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	ws := &unix.Winsize{Row: 50, Col: 200}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, ws)
	return m, s
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// screenText is what terminal output leaves as text: escape sequences
// and carriage returns dropped, backspaces applied.
func screenText(b []byte) string {
	s := strings.ReplaceAll(ansi.ReplaceAllString(string(b), ""), "\r", "")
	out := make([]rune, 0, len(s))
	for _, c := range s {
		if c == '\b' {
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// ptyReader collects what the debugger writes to its terminal.
type ptyReader struct {
	ch  chan []byte
	buf []byte
}

func newPTYReader(f *os.File) *ptyReader {
	r := &ptyReader{ch: make(chan []byte, 64)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			if n > 0 {
				r.ch <- bytes.Clone(b[:n])
			}
			if err != nil {
				close(r.ch)
				return
			}
		}
	}()
	return r
}

// until reads until the clean text ends with the prompt.
func (r *ptyReader) until(t *testing.T, prompt string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		clean := screenText(r.buf)
		if strings.HasSuffix(clean, prompt) {
			r.buf = nil
			return strings.TrimSuffix(clean, prompt)
		}
		select {
		case b, ok := <-r.ch:
			if !ok {
				r.buf = nil
				return clean
			}
			r.buf = append(r.buf, b...)
		case <-deadline:
			t.Fatalf("no prompt; the terminal shows:\n%s\nraw %q", clean, r.buf)
		}
	}
}

// TestDebugTerminal drives `bpfscope debug` through a pseudo-terminal as a
// person would, and compares the session with a golden transcript: a
// breakpoint by line, locals with C types, a watchpoint on a map value, a
// conditional breakpoint in a BPF-to-BPF call, finish, reverse execution,
// memory, maps, and errors the session survives.
func TestDebugTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "bpfscope")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(bin, "debug", "--packet", "10", "--history", "")
	cmd.Dir = "../.." // the C sources are found under examples/progs
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	defer cmd.Process.Kill()
	r := newPTYReader(master)

	const prompt = "(bpfscope) "
	script := []string{
		"break xdp_firewall.c:114",
		"break record if action == 1",
		"run",
		"info locals",
		"p/x eth->h_proto",
		"p eth->h_source",
		"watch map blocked_v4[c0000242]",
		"c",
		"p iph->saddr",
		"p *iph",
		"c",
		"bt",
		"info args",
		"finish",
		"info breakpoints",
		"c",
		"reverse-continue",
		"reverse-stepi",
		"info registers",
		"x/8xb pkt+26",
		"map dump blocked_v4",
		"list 131",
		"p no_such_thing",
		"p len +",
		"watch 0x12345",
		"break nowhere",
		"next",
		"step",
		"quit",
	}
	var tr strings.Builder
	tr.WriteString(r.until(t, prompt))
	for _, c := range script {
		master.Write([]byte(c + "\r"))
		if c == "quit" {
			break
		}
		out := r.until(t, prompt)
		_, out, _ = strings.Cut(out, "\n") // the echoed command line
		tr.WriteString(prompt + c + "\n" + out)
	}
	tr.WriteString(prompt + "quit\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("quit did not end the debugger")
	}
	golden(t, "debug-session.txt", tr.String(), "")
}

// A trace file debugs the run it recorded, at BTF-line level (it holds no
// DWARF), forwards and backwards; commands come from a pipe.
func TestDebugTraceFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "t10.bpft")
	if out, errs, code := bpfscope(t, "trace", "--packet", "10", "--record", file); code != 0 {
		t.Fatalf("trace: %s %s", out, errs)
	}
	var out, errb bytes.Buffer
	in := strings.NewReader("break xdp_firewall.c:133\nrun\ninfo registers\nreverse-stepi\ncontinue\ndelete\ncontinue\nquit\n")
	// The file holds every packet's run; the debugger takes run 10.
	if code := run([]string{"debug", "--history", "", file + "#10"}, &env{stdout: &out, stderr: &errb, stdin: in}); code != 0 {
		t.Fatalf("debug: %d %s", code, errb.String())
	}
	for _, want := range []string{"(recorded)", "Breakpoint 1, xdp_firewall () at xdp_firewall.c:133", "<map blocked_v4{c0000242}>",
		"132\t", "[program exited with XDP_DROP (1) after 68 instructions]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}
