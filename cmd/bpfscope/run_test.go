package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/pcapgen"
)

// TestRunParallelSame runs the firewall with one, two and three workers
// over a capture of several batches that ends inside one: the reports and
// the output captures are byte for byte the same, in capture order.
func TestRunParallelSame(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gen.pcap")
	var buf bytes.Buffer
	if err := pcapgen.WritePcap(&buf, 5*batchLen+77, 5); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, buf.Bytes(), 0o644)
	type outcome struct{ report, pass, drop string }
	firsts := map[string]outcome{}
	for _, jobs := range []string{"1", "2", "3"} {
		for _, format := range []string{"--json", "-q", ""} {
			args := []string{"run", "--jobs", jobs, "--pcap", path, "--pcap-out", filepath.Join(dir, "pass"), "--drop-out", filepath.Join(dir, "drop")}
			if format != "" {
				args = append(args, format)
			}
			out, errs, code := bpfscope(t, args...)
			if code != 0 {
				t.Fatalf("--jobs %s %s: status %d: %s", jobs, format, code, errs)
			}
			pass, _ := os.ReadFile(filepath.Join(dir, "pass"))
			drop, _ := os.ReadFile(filepath.Join(dir, "drop"))
			got := outcome{out, string(pass), string(drop)}
			if jobs == "1" {
				firsts[format] = got
			} else if got != firsts[format] {
				t.Errorf("--jobs %s %s: report or output captures differ from --jobs 1", jobs, format)
			}
		}
	}
	first := firsts["--json"]
	if !strings.Contains(first.report, `"packets":1357`) || len(first.pass) < 1000 || len(first.drop) < 1000 {
		t.Errorf("not every packet ran: %s", first.report[strings.LastIndex(first.report, "summary"):])
	}
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
	out := &runOutput{w: io.Discard, typ: p.typ, quiet: true, counts: map[uint32]int{}, redirects: map[string]int{}}
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
