package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkTraceRecordPcap is 'bpfscope trace -q --record FILE' of the
// bundled firewall over a generated capture: every frame's run recorded
// into one trace file, next to 'run -q' of the same capture (one worker)
// for the ratio.
func BenchmarkTraceRecordPcap(b *testing.B) {
	dir := b.TempDir()
	path := benchCapture(b, dir, "mixed.pcap")
	b.Run("run", func(b *testing.B) {
		benchCommand(b, "run", "-q", "--jobs", "1", "--pcap", path)
	})
	b.Run("record", func(b *testing.B) {
		benchCommand(b, "trace", "-q", "--record", filepath.Join(dir, "all.bpft"), "--pcap", path)
	})
}

// BenchmarkTracePcap is 'bpfscope trace' of the bundled firewall over a
// generated capture, as text and as JSON Lines (to io.Discard): what a
// trace of a whole capture costs per packet, about 75 instructions each.
func BenchmarkTracePcap(b *testing.B) {
	dir := b.TempDir()
	path := benchCapture(b, dir, "mixed.pcap")
	b.Run("text", func(b *testing.B) {
		benchCommand(b, "trace", "--pcap", path)
	})
	b.Run("jsonl", func(b *testing.B) {
		benchCommand(b, "trace", "--format", "json", "--pcap", path)
	})
}

// TestRecordCapture: 'trace --record' writes one file for the whole
// capture; each command reads run N of it (FILE#N) as it reads the file
// of that packet alone ('--record-each'), and the whole file run by run.
func TestRecordCapture(t *testing.T) {
	dir := t.TempDir()
	all := filepath.Join(dir, "fw.bpft")
	if out, errs, code := bpfscope(t, "trace", "-q", "--record", all); code != 0 || out != "" {
		t.Fatalf("trace -q --record: status %d, output %q %s", code, out, errs)
	}
	if _, errs, code := bpfscope(t, "trace", "-q", "--packet", "1,10", "--record", filepath.Join(dir, "one.bpft"), "--record-each"); code != 0 {
		t.Fatal(errs)
	}
	out, errs, code := bpfscope(t, "replay", all, all+"#10")
	want := all + ": ok, 12 runs replayed identically (897 instructions), the last r0=0\n" +
		all + "#10: ok, 171 events replayed identically, r0=1\n"
	if code != 0 || out != want {
		t.Errorf("replay: status %d\n%s%s", code, out, errs)
	}
	// Run 10 of the capture's file is packet 10's own file (the golden of
	// TestRecordReplayDiff), in dump, trace and diff.
	for _, args := range [][]string{{"dump", all + "#10"}, {"trace", all + "#10"}} {
		got, errs, code := bpfscope(t, args...)
		if code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
		golden(t, "dump.txt", got, dir)
	}
	a, _, _ := bpfscope(t, "diff", all+"#1", all+"#10")
	b, _, _ := bpfscope(t, "diff", filepath.Join(dir, "one.1.bpft"), filepath.Join(dir, "one.10.bpft"))
	if a == "" || strings.ReplaceAll(a, "fw.bpft#", "one.") != strings.ReplaceAll(b, ".bpft", "") {
		t.Errorf("diff of runs 1 and 10:\n%s\ndiff of their own files:\n%s", a, b)
	}
	if _, errs, code := bpfscope(t, "diff", all, all+"#2"); code != 2 || !strings.Contains(errs, "holds 12 runs: name one as") {
		t.Errorf("diff of a file of 12 runs: status %d, %s", code, errs)
	}
	// The whole file as text: a header per run, then its events.
	out, _, _ = bpfscope(t, "dump", all)
	if strings.Count(out, "\n=== run ") != 12 || !strings.Contains(out, "=== run 10: 192.0.2.66:6666 > 10.0.0.2:80 TCP [S] (60 bytes) ===") {
		t.Errorf("dump of the whole file:\n%.2000s", out)
	}
	if _, errs, code := bpfscope(t, "dump", all+"#13"); code == 0 || !strings.Contains(errs, "holds 12 run(s)") {
		t.Errorf("run 13 of 12: status %d, %s", code, errs)
	}
	// With the pc stream: read back and checked by replay.
	pcs := filepath.Join(dir, "pcs.bpft")
	if _, errs, code := bpfscope(t, "trace", "-q", "--record", pcs, "--record-pcs"); code != 0 {
		t.Fatal(errs)
	}
	if out, errs, code := bpfscope(t, "replay", pcs, pcs+"#7"); code != 0 || strings.Count(out, ": ok, ") != 2 {
		t.Errorf("replay with pcs: status %d\n%s%s", code, out, errs)
	}
}
