package capture

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// FuzzRead feeds damaged capture files to Read: it returns what it could
// read and an error, never panics, and never allocates past a block's
// stated length (blocks are capped at 64 MiB).
func FuzzRead(f *testing.F) {
	if b, err := os.ReadFile("testdata/firewall-testrun.pcapng"); err == nil {
		f.Add(b[:min(len(b), 1024)])
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Program{Name: "p", Kind: "skb", Tag: "00"})
	if err != nil {
		f.Fatal(err)
	}
	w.WriteRun("skb", &Run{In: []byte{1, 2, 3}, InLen: 3, Out: []byte{4}, OutLen: 1, Time: time.Unix(1, 0), Skb: &Skb{Mark: 1}})
	w.WriteSnapshot(&Snapshot{Maps: []MapDump{{Name: "m", Entries: []Entry{{Key: []byte{1}, Value: []byte{2}}}}}})
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(bytes.NewReader(b))
		if file == nil {
			t.Fatalf("nil file (err %v)", err)
		}
		for _, r := range file.Runs {
			if len(r.In) > len(b) {
				t.Fatalf("a run holds %d bytes from a %d-byte file", len(r.In), len(b))
			}
		}
	})
}
