package main

import (
	"path/filepath"
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
