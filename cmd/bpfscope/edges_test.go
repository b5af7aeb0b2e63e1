package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writePcap writes frames to a pcap file of the given link type.
func writePcap(t *testing.T, path string, link layers.LinkType, frames ...[]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i, b := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHelpAndVersion: asked-for help goes to stdout with status 0, so that
// 'bpfscope -h | less' works; a missing command is a usage error.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"run", "-h"}, {"trace", "--help"}, {"diff", "-h"}, {"version", "-h"}} {
		out, errs, code := bpfscope(t, args...)
		if code != 0 || !strings.Contains(out, "usage: bpfscope") || errs != "" {
			t.Errorf("%v: status %d, stdout %q, stderr %q; want usage on stdout, status 0", args, code, out, errs)
		}
	}
	if out, errs, code := bpfscope(t); code != 2 || out != "" || !strings.Contains(errs, "usage:") {
		t.Errorf("no arguments: status %d, stdout %q, stderr %q; want usage on stderr, status 2", code, out, errs)
	}
	out, _, _ := bpfscope(t, "-h")
	for _, c := range bundledDefault {
		if !strings.Contains(out, c) {
			t.Errorf("usage does not name %s among the commands with a bundled default", c)
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errs, code := bpfscope(t, args...)
		if code != 0 || !strings.HasPrefix(out, "bpfscope ") || !strings.Contains(out, "built with go") {
			t.Errorf("%v: status %d, %q %q", args, code, out, errs)
		}
	}
}

// TestFlagSetsFitCommands: disasm does not run the program, so it offers
// no input flags.
func TestFlagSetsFitCommands(t *testing.T) {
	out, _, _ := bpfscope(t, "disasm", "-h")
	for _, f := range []string{"-pcap", "-map", "-data-in", "-ctx-in"} {
		if strings.Contains(out, f) {
			t.Errorf("disasm -h lists %s:\n%s", f, out)
		}
	}
	if _, errs, code := bpfscope(t, "disasm", "--pcap", "x.pcap"); code != 2 || !strings.Contains(errs, "not defined") {
		t.Errorf("disasm --pcap: status %d, %q", code, errs)
	}
}

// TestDiffStatus: 1 when the traces differ, 2 when they cannot be read, as
// diff(1).
func TestDiffStatus(t *testing.T) {
	dir := t.TempDir()
	if _, _, code := bpfscope(t, "diff", filepath.Join(dir, "missing.bpft"), filepath.Join("testdata", "blocked.bpft")); code != 2 {
		t.Errorf("diff of a missing file: status %d, want 2", code)
	}
	bad := filepath.Join(dir, "bad.bpft")
	os.WriteFile(bad, []byte("not a trace"), 0o644)
	if _, _, code := bpfscope(t, "diff", bad, filepath.Join("testdata", "blocked.bpft")); code != 2 {
		t.Errorf("diff of a damaged file: status %d, want 2", code)
	}
	b := filepath.Join("testdata", "blocked.bpft")
	if _, _, code := bpfscope(t, "diff", b, b); code != 0 {
		t.Errorf("diff of a file with itself: status %d, want 0", code)
	}
}

// shortFrame is refused by test_run: shorter than an Ethernet header.
var shortFrame = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

// TestTraceJSONAttributesPackets: every event names its packet, and a
// packet test_run refuses gets an error event, in plain and flight mode.
func TestTraceJSONAttributesPackets(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	good := readPcap(t, samplePath(t))[0]
	writePcap(t, in, layers.LinkTypeEthernet, shortFrame, good)
	for _, args := range [][]string{
		{"trace", "--format", "json", "--pcap", in},
		{"trace", "--format", "json", "--flight", "4", "--flight-on", "XDP_PASS", "--pcap", in},
	} {
		out, errs, code := bpfscope(t, args...)
		if code != 1 {
			t.Errorf("%v: status %d, want 1 (a packet failed); %s", args, code, errs)
		}
		seen := map[int][]string{}
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				Packet int    `json:"packet"`
				Ev     string `json:"ev"`
				Err    string `json:"err"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%v: %v: %s", args, err, sc.Text())
			}
			if ev.Packet == 0 {
				t.Fatalf("%v: event without a packet: %s", args, sc.Text())
			}
			seen[ev.Packet] = append(seen[ev.Packet], ev.Ev)
			if ev.Ev == "error" && !strings.Contains(ev.Err, "shorter than an Ethernet header") {
				t.Errorf("%v: error event %s", args, sc.Text())
			}
		}
		if got := seen[1]; len(got) != 1 || got[0] != "error" {
			t.Errorf("%v: packet 1 has events %v, want one error", args, got)
		}
		if got := seen[2]; len(got) < 2 || got[0] != "enter" || got[len(got)-1] != "exit" {
			t.Errorf("%v: packet 2 has events %v, want enter ... exit", args, got)
		}
	}
}

// TestTraceQuietRecord: -q prints nothing and still records.
func TestTraceQuietRecord(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "one.bpft")
	out, errs, code := bpfscope(t, "trace", "-q", "--packet", "7", "--record", rec)
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("status %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, errs, code := bpfscope(t, "replay", rec); code != 0 {
		t.Errorf("replay: %s%s", out, errs)
	}
}

// TestNotAProgram: a file that is neither ELF nor bytecode is said to be
// so, in one line that does not repeat itself.
func TestNotAProgram(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "x.o")
	os.WriteFile(text, []byte("this is a text file, not a program\n"), 0o644)
	_, errs, code := bpfscope(t, "run", text)
	if code != 1 || !strings.Contains(errs, "x.o: not an ELF object or raw bytecode") || strings.Count(errs, "\n") != 1 {
		t.Errorf("status %d, stderr %q", code, errs)
	}
	bad := filepath.Join(dir, "bad.bin") // r11 = 0; exit: the second slot is wrong
	os.WriteFile(bad, []byte{0xb7, 0, 0, 0, 2, 0, 0, 0, 0xb7, 0x0b, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}, 0o644)
	_, errs, _ = bpfscope(t, "run", "--data-in", samplePath(t), bad)
	if strings.Contains(errs, "pc 1") || !strings.Contains(errs, "insn 1: invalid program: op 0xb7: invalid register") {
		t.Errorf("stderr %q: want the pc once, as insn 1", errs)
	}
}

// TestSourceDir: --source-dir finds the sources an object names under
// another directory, by the longest tail of the recorded path that exists
// there, as debuggers' substitute-path does.
func TestSourceDir(t *testing.T) {
	dir := t.TempDir()
	nested := filepath.Join(dir, "checkout", "examples", "progs")
	os.MkdirAll(nested, 0o755)
	os.WriteFile(filepath.Join(nested, "fw.c"), []byte("int x;\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "top.c"), []byte("int y;\n"), 0o644)
	for _, tt := range []struct {
		s          sourceDir
		file, want string
	}{
		// An absolute path from the machine that built the object.
		{sourceDir{dir: filepath.Join(dir, "checkout"), explicit: true}, "/home/builder/src/examples/progs/fw.c", filepath.Join(nested, "fw.c")},
		{sourceDir{dir: nested, explicit: true}, "/home/builder/src/examples/progs/fw.c", filepath.Join(nested, "fw.c")},
		// A relative path, as build.sh records them.
		{sourceDir{dir: dir, explicit: true}, "./top.c", filepath.Join(dir, "top.c")},
		// Nothing there: a --source-dir still re-roots, a default does not.
		{sourceDir{dir: dir, explicit: true}, "/elsewhere/gone.c", filepath.Join(dir, "gone.c")},
		{sourceDir{dir: dir}, "./gone.c", "./gone.c"},
		// A path that exists and is not under DIR (a system header) stays.
		{sourceDir{dir: dir, explicit: true}, "/usr/include/stdio.h", "/usr/include/stdio.h"},
	} {
		if tt.file == "/usr/include/stdio.h" {
			if _, err := os.Stat(tt.file); err != nil {
				continue
			}
		}
		if got := tt.s.resolve(tt.file); got != tt.want {
			t.Errorf("%+v resolve(%s) = %s, want %s", tt.s, tt.file, got, tt.want)
		}
	}

	// The command: lcov, disasm and profile name the sources under DIR.
	progs, _ := filepath.Abs("../../examples/progs")
	want := filepath.Join(progs, "xdp_firewall.c")
	out, errs, code := bpfscope(t, "cover", "--source-dir", progs, "-o", "-")
	if code != 0 || !strings.Contains(out, "SF:"+want+"\n") {
		t.Errorf("cover --source-dir: status %d, %s\n%s", code, errs, out)
	}
	out, errs, code = bpfscope(t, "disasm", "--source-dir", progs)
	if code != 0 || !strings.Contains(out, "; "+want+":112:") {
		t.Errorf("disasm --source-dir: status %d, %s\n%s", code, errs, out)
	}
	out, errs, code = bpfscope(t, "profile", "--source-dir", progs, "-o", filepath.Join(dir, "p.pprof"))
	if code != 0 || !strings.Contains(out, want+":125") {
		t.Errorf("profile --source-dir: status %d, %s\n%s", code, errs, out)
	}
}
