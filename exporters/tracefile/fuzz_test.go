package tracefile_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/exporters/jsonl"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/internal/watchdog"
)

// FuzzTraceReader feeds arbitrary bytes to the reader and through it to
// the exporters: any input must give events or an error, never a panic,
// within the watchdog's bounds: 5 s, and 96 MiB (64 for the maps' budget)
// plus 1 KiB per input byte. Seeds: real traces (here and in
// testdata/fuzz/FuzzTraceReader): version 3 files of one run and of the
// firewall's twelve runs over the bundled capture, with and without the
// pc stream and per-run map checksums, whose events come from running
// them again (each run bounded by its recorded length and MaxInsns);
// version 1 and 2 files with their events stored (names.bpft has a types
// section and access names).
func FuzzTraceReader(f *testing.F) {
	for _, c := range []*exptest.Case{exptest.XDP(f), envCase(f), exptest.Conformance(f, "call_local.data")} {
		file, _ := record(f, c)
		f.Add(file)
	}
	f.Add(recordFirewall(f, nil))
	f.Add(recordFirewall(f, &tracefile.WriterOptions{PCs: true, MapsEveryRun: true}))
	for _, name := range []string{"firewall-v1.bpft", "tailcall.bpft", "names.bpft"} {
		file, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(file)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		watchdog.Run(t, watchdog.Limits{Wall: 5 * time.Second, Alloc: 96<<20 + 1024*uint64(len(data))}, func() {
			r, err := tracefile.NewReader(bytes.NewReader(data))
			if err != nil {
				return
			}
			r.CaptureLimit(64 << 20) // maps, program arrays and maps of maps rebuilt, or an error
			r.SetOptions(&tracefile.Options{MaxInsns: 1 << 12, MaxMapMemory: 64 << 20})
			h := hooks.Multi(text.New(io.Discard), jsonl.New(io.Discard))
			for range 1 << 16 {
				rec, err := r.Next()
				if err != nil {
					return
				}
				rec.Deliver(h)
				rec.Clone()
			}
		})
	})
}
