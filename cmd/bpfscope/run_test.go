package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/pcapgen"
)

// TestRunParallelSame runs the firewall with one, two and three workers
// over captures of several batches (a pcap file, read in chunks in place,
// and a pcapng file, copied into batches), each also cut inside a record:
// the reports, the errors, the exit status and the output captures are
// byte for byte the same, in capture order, in every output mode (text,
// --json, -q with output captures, and -q alone, where the workers count).
func TestRunParallelSame(t *testing.T) {
	dir := t.TempDir()
	const frames = 5000 // about 2 MB: several chunks
	var pcap, pcapng bytes.Buffer
	if err := pcapgen.WritePcap(&pcap, frames, 5); err != nil {
		t.Fatal(err)
	}
	if err := pcapgen.WritePcapng(&pcapng, frames, 5); err != nil {
		t.Fatal(err)
	}
	captures := map[string][]byte{
		"gen.pcap": pcap.Bytes(), "cut.pcap": pcap.Bytes()[:pcap.Len()*2/3],
		"gen.pcapng": pcapng.Bytes(), "cut.pcapng": pcapng.Bytes()[:pcapng.Len()/3],
	}
	pass, drop := filepath.Join(dir, "pass"), filepath.Join(dir, "drop")
	modes := [][]string{
		{"--pcap-out", pass, "--drop-out", drop},
		{"--json", "--pcap-out", pass, "--drop-out", drop},
		{"-q", "--pcap-out", pass},
		{"-q"},
		{"-q", "--json"},
	}
	type outcome struct {
		report, errs, pass, drop string
		code                     int
	}
	for name, b := range captures {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mode := range modes {
			var first outcome
			for _, jobs := range []string{"1", "2", "3"} {
				os.Remove(pass)
				os.Remove(drop)
				args := append([]string{"run", "--jobs", jobs, "--pcap", path}, mode...)
				out, errs, code := bpfscope(t, args...)
				errs = strings.ReplaceAll(errs, "bpfscope run: "+jobs+" workers with separate maps: packets do not see each other's map updates\n", "")
				p, _ := os.ReadFile(pass)
				d, _ := os.ReadFile(drop)
				got := outcome{out, errs, string(p), string(d), code}
				what := fmt.Sprintf("%s --jobs %s %s", name, jobs, strings.Join(mode, " "))
				cut := strings.HasPrefix(name, "cut")
				if cut != (code == 1 && strings.Contains(errs, "packet ")) || !cut && code != 0 {
					t.Errorf("%s: status %d, stderr %q", what, code, errs)
				}
				if jobs == "1" {
					first = got
					continue
				}
				if got != first {
					t.Errorf("%s: report, errors or output captures differ from --jobs 1:\n%s", what, firstDiff(got.report+got.errs, first.report+first.errs))
				}
			}
			summary := first.report[max(0, strings.LastIndex(first.report, "verdict")-1):]
			if strings.Contains(strings.Join(mode, " "), "json") {
				summary = first.report[strings.LastIndex(first.report, "summary"):]
			}
			if !strings.HasPrefix(name, "cut") && !strings.Contains(summary, fmt.Sprint(frames)) {
				t.Errorf("%s %s: not every packet ran: %s", name, strings.Join(mode, " "), summary)
			}
		}
	}
}

// firstDiff returns the first line where a and b differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: %q, want %q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(al), len(bl))
}

// TestRunParallelOutputFails: when an output capture cannot be written
// the workers stop and the command fails, with any number of them.
func TestRunParallelOutputFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gen.pcap")
	var buf bytes.Buffer
	if err := pcapgen.WritePcap(&buf, 3*batchLen, 5); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, buf.Bytes(), 0o644)
	for _, jobs := range []string{"1", "2"} {
		_, errs, code := bpfscope(t, "run", "-q", "--jobs", jobs, "--pcap", path, "--pcap-out", filepath.Join(dir, "missing", "pass"))
		if code == 0 || !strings.Contains(errs, "missing") {
			t.Errorf("--jobs %s: status %d, stderr %q: want a failure naming the output", jobs, code, errs)
		}
	}
}

// TestRunLoopAllocs: once under way, the serial packet loop of 'run -q'
// allocates nothing per packet (opening the capture allocates a few
// buffers), bpf_printk lines included.
func TestRunLoopAllocs(t *testing.T) {
	var buf bytes.Buffer
	const frames = 3000
	if err := pcapgen.WritePcap(&buf, frames, 1); err != nil {
		t.Fatal(err)
	}
	var in inputFlags
	p, err := in.load(nil)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := p.collection()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := p.instantiate(coll, helpers.NewDefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	out := &runOutput{w: io.Discard, typ: p.typ, quiet: true}
	loop := func() {
		src, err := openCapture(io.NopCloser(bytes.NewReader(buf.Bytes())), "gen")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := runSerial(context.Background(), inst, p.typ, src, nil, 0, outSizes{}, out, nil); err != nil {
			t.Fatal(err)
		}
	}
	loop()
	if n := testing.AllocsPerRun(3, loop); n > 20 {
		t.Errorf("%v allocations for %d packets", n, frames)
	}
	if out.small[1] == 0 {
		t.Error("no packet dropped: the loop did not print")
	}
}
