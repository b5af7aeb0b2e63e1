package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// TestBadFlagValues: out-of-range values are one-line usage errors;
// filters that select nothing are warnings.
func TestBadFlagValues(t *testing.T) {
	b := filepath.Join("testdata", "blocked.bpft")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--jobs", "0"}, "--jobs 0: want 1 or more"},
		{[]string{"run", "--jobs", "-3"}, "--jobs -3: want 1 or more"},
		{[]string{"run", "--repeat", "-1"}, "--repeat -1: want 0 or more"},
		{[]string{"run", "--data-size-out", "-1"}, "--data-size-out -1"},
		{[]string{"trace", "--flight", "-1"}, "--flight -1: want 1 or more"},
		{[]string{"diff", "--context", "-3", b, b}, "--context -3: want 0 or more"},
		{[]string{"profile", "--top", "-1"}, "--top -1: want 0 or more"},
		{[]string{"trace", "--packet", "0"}, "--packet 0: packets are numbered from 1"},
	} {
		out, errs, code := bpfscope(t, tt.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tt.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: status %d, stdout %q, stderr %q; want one line with %q, status 2", tt.args, code, out, errs, tt.want)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "-q", "--packet", "99"}, "--packet 99: the input has 12 packet(s)"},
		{[]string{"trace", "-q", "--line", "9999"}, "no instruction of xdp_firewall matches --line 9999"},
		{[]string{"trace", "-q", "--pc", "5000"}, "no instruction of xdp_firewall matches --pc 5000"},
	} {
		_, errs, code := bpfscope(t, tt.args...)
		if code != 0 || !strings.Contains(errs, "warning: "+tt.want) {
			t.Errorf("%v: status %d, stderr %q; want a warning %q", tt.args, code, errs, tt.want)
		}
	}
}

// TestNoInput: a packet program with no input says what to give.
func TestNoInput(t *testing.T) {
	_, errs, code := bpfscope(t, "run", "../../examples/progs/tc_classifier.o")
	if code != 1 || errs != "bpfscope run: no input: give --data-in, --pcap or --ctx-in\n" {
		t.Errorf("status %d, stderr %q", code, errs)
	}
}

// TestRunLikeBpftool: the duration, output buffer sizes, - for stdout,
// ctx_out refused where the kernel refuses it, repeated printk once.
func TestRunLikeBpftool(t *testing.T) {
	dir := t.TempDir()
	pkt := filepath.Join(dir, "pkt")
	frames := readPcap(t, samplePath(t))
	os.WriteFile(pkt, frames[0], 0o644)
	out, errs, code := bpfscope(t, "run", "--data-in", pkt)
	if code != 0 || !durations.MatchString(out) {
		t.Errorf("no duration: %s%s", out, errs)
	}
	// data_out to stdout, byte for byte; the report on stderr.
	out, errs, code = bpfscope(t, "run", "--data-in", pkt, "--data-out", "-")
	if code != 0 || out != string(frames[0]) || !strings.Contains(errs, "Return value: 2 (XDP_PASS)") {
		t.Errorf("--data-out -: status %d, %d bytes on stdout, stderr %q", code, len(out), errs)
	}
	// A buffer too small: cut there, ENOSPC, as the kernel.
	out, _, code = bpfscope(t, "run", "--data-in", pkt, "--data-size-out", "10", "--data-out", filepath.Join(dir, "cut"))
	cut, _ := os.ReadFile(filepath.Join(dir, "cut"))
	if code != 1 || !strings.Contains(out, "no space left on device") || len(cut) != 0 {
		t.Errorf("--data-size-out 10: status %d, %d bytes written, %s", code, len(cut), out)
	}
	// raw_tp takes no ctx_out: the kernel refuses it (EINVAL).
	ctxOut := filepath.Join(dir, "ctx")
	_, errs, code = bpfscope(t, "run", "--ctx-in", pkt, "--ctx-out", ctxOut, "../../examples/progs/raw_tp.o")
	if _, err := os.Stat(ctxOut); code != 1 || !strings.Contains(errs, "EINVAL") || err == nil {
		t.Errorf("raw_tp --ctx-out: status %d, %q, file left: %v", code, errs, err == nil)
	}
	// The blocked frame prints once per run: shown once with --repeat.
	blocked := filepath.Join(dir, "blocked")
	os.WriteFile(blocked, frames[9], 0o644)
	out, errs, _ = bpfscope(t, "run", "--data-in", blocked, "--repeat", "5")
	if n := strings.Count(out, "bpf_printk:"); n != 1 || !strings.Contains(out, "(each of 5 runs)") {
		t.Errorf("--repeat 5: %d printk lines:\n%s%s", n, out, errs)
	}
}

// TestLinkTypes: raw IP and Linux cooked captures run as the Ethernet
// frames they carry; other link types are refused at once.
func TestLinkTypes(t *testing.T) {
	dir := t.TempDir()
	frame := readPcap(t, samplePath(t))[0] // 10.0.0.2:40000 > 10.0.0.53:53 UDP
	ip := frame[14:]
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, 0x08, 0x00}, ip...)
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0}, ip...)
	llc := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, 0x00, 0x04, 0xaa, 0xaa, 3}
	want := "10.0.0.2:40000 > 10.0.0.53:53 UDP"
	for _, tt := range []struct {
		name   string
		link   layers.LinkType
		frames [][]byte
	}{
		{"raw", layers.LinkTypeRaw, [][]byte{ip}},
		{"ipv4", layers.LinkTypeIPv4, [][]byte{ip}},
		{"sll", layers.LinkTypeLinuxSLL, [][]byte{sll, llc}},
		{"sll2", layers.LinkTypeLinuxSLL2, [][]byte{sll2}},
	} {
		in := filepath.Join(dir, tt.name+".pcap")
		writePcap(t, in, tt.link, tt.frames...)
		out, errs, _ := bpfscope(t, "run", "--pcap", in)
		if !strings.Contains(out, "#1") || !strings.Contains(out, "XDP_PASS      "+want+" (71 bytes)") {
			t.Errorf("%s: frame 1 not run as Ethernet:\n%s%s", tt.name, out, errs)
		}
		if len(tt.frames) > 1 && !strings.Contains(out, "#2") && !strings.Contains(out, "has no Ethernet form") {
			t.Errorf("%s: frame 2 (802.2 LLC) not reported:\n%s%s", tt.name, out, errs)
		}
	}
	// The program sees the same bytes as from the Ethernet capture.
	pcapOut := filepath.Join(dir, "out.pcap")
	bpfscope(t, "run", "--pcap", filepath.Join(dir, "sll.pcap"), "--pcap-out", pcapOut)
	if got := readPcap(t, pcapOut); len(got) != 1 || !bytes.Equal(got[0][12:], frame[12:]) {
		t.Errorf("converted frame differs from the Ethernet one past the addresses")
	}
	ppp := filepath.Join(dir, "ppp.pcap")
	writePcap(t, ppp, layers.LinkTypePPP, ip)
	_, errs, code := bpfscope(t, "run", "--pcap", ppp)
	if code != 1 || !strings.Contains(errs, "link type PPP (9) is not supported") {
		t.Errorf("PPP capture: status %d, %q", code, errs)
	}
}

// TestSummaryKeepsWhatDecoded: a payload gopacket cannot decode (not DNS
// on port 53, not NTP on 123, not VXLAN on 4789) leaves the addresses.
func TestSummaryKeepsWhatDecoded(t *testing.T) {
	for _, port := range []layers.UDPPort{53, 123, 4789} {
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 2}, DstMAC: []byte{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{10, 0, 0, 2}, DstIP: []byte{10, 0, 0, 9}}
		udp := &layers.UDP{SrcPort: 40000, DstPort: port}
		udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload{0xff}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("10.0.0.2:40000 > 10.0.0.9:%d UDP", port)
		if got := summarize(buf.Bytes(), layers.LinkTypeEthernet); got != want {
			t.Errorf("port %d: %q, want %q", port, got, want)
		}
	}
}

// TestMapSettings: --map takes numbers where BTF says the key or value is
// an integer (in its size and byte order), raw hex otherwise or with hex:,
// and says what is wrong with a size instead of repeating bytes to fit.
func TestMapSettings(t *testing.T) {
	var in inputFlags
	p, err := in.load(nil) // the bundled firewall
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.collection()
	if err != nil {
		t.Fatal(err)
	}
	get := func(m, key string) string {
		mp := c.Maps[m]
		k, _ := hex.DecodeString(key)
		v := make([]byte, mp.UserValueSize())
		if err := mp.Get(k, v); err != nil {
			return err.Error()
		}
		return hex.EncodeToString(v)
	}
	for _, tt := range []struct{ set, m, key, want string }{
		{"action_packets:2=7", "action_packets", "02000000", "0700000000000000"},
		{"action_packets:0x3=0x100", "action_packets", "03000000", "0001000000000000"},
		{"blocked_v4:3221226050=5", "blocked_v4", "c0000242", "0500000000000000"}, // __be32 key
		{"blocked_v4:hex:0a000001=hex:0900000000000000", "blocked_v4", "0a000001", "0900000000000000"},
		{"blocked_v4:0a000002=01", "blocked_v4", "0a000002", "0100000000000000"}, // a number: 1
		{"blocked_v4:10.0.0.7=2", "blocked_v4", "0a000007", "0200000000000000"},  // __be32 as an address
	} {
		if err := setMap(c, p.mapTypes(), tt.set); err != nil {
			t.Errorf("%s: %v", tt.set, err)
			continue
		}
		if got := get(tt.m, tt.key); got != tt.want {
			t.Errorf("%s: %s[%s] = %s, want %s", tt.set, tt.m, tt.key, got, tt.want)
		}
	}
	// A per-CPU map: one value for every CPU.
	if err := setMap(c, p.mapTypes(), "action_bytes:1=9"); err != nil {
		t.Fatal(err)
	}
	if got, one := get("action_bytes", "01000000"), "0900000000000000"; got != strings.Repeat(one, len(got)/len(one)) {
		t.Errorf("action_bytes[1] = %s, want %s on every CPU", got, one)
	}
	for _, tt := range []struct{ set, want string }{
		{"blocked_v4:hex:c0000242=hex:01", "value is 8 bytes, got 1"},
		{"blocked_v6:01=0", "key is 16 bytes, got 1"},
		{"action_packets:5=1", "index 5 >= max_entries 5"},
		{"action_packets:1=-1", "-1 does not fit a 64-bit unsigned integer"},
		{"action_packets:x=1", `key: "x" is neither a number nor hex bytes`},
		{"nope:1=1", `no map "nope"`},
	} {
		err := setMap(c, p.mapTypes(), tt.set)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.set, err, tt.want)
		}
	}
}
