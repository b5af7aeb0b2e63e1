package capture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngPackets is what pcapgo reads from r: the frames, then whether it
// ended cleanly.
func ngPackets(r io.Reader) (frames [][]byte, clean bool) {
	ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, false
	}
	for {
		data, _, err := ng.ReadPacketData()
		if err != nil {
			return frames, errors.Is(err, io.EOF)
		}
		frames = append(frames, data)
	}
}

// checkHead reads the head of b, then checks that a pcapng reader given
// rest and the unread remainder reads what it reads from b itself.
func checkHead(t *testing.T, b []byte) *File {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(b), 32) // small: blocks pass the buffer
	f, rest, _ := ReadHead(br)
	if f == nil {
		t.Fatal("nil file")
	}
	if len(f.Runs) > 0 {
		t.Fatalf("%d runs read from the head", len(f.Runs))
	}
	if len(rest) > len(b) {
		t.Fatalf("rest holds %d bytes of a %d-byte file", len(rest), len(b))
	}
	wantFrames, wantClean := ngPackets(bytes.NewReader(b))
	frames, clean := ngPackets(io.MultiReader(bytes.NewReader(rest), br))
	if !reflect.DeepEqual(frames, wantFrames) || clean != wantClean {
		t.Fatalf("after the head: %d frames (clean end %v), from the whole file %d (%v)", len(frames), clean, len(wantFrames), wantClean)
	}
	return f
}

func TestReadHead(t *testing.T) {
	b, err := os.ReadFile("testdata/firewall-testrun.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	f := checkHead(t, b)
	if !reflect.DeepEqual(f.Program, whole.Program) {
		t.Errorf("program %+v, want %+v", f.Program, whole.Program)
	}
	// The snapshot taken at the start is before the first packet; the
	// one after the blocklist change is not.
	if len(f.Snapshots) != 1 || !reflect.DeepEqual(f.Snapshots[0], whole.Snapshots[0]) || whole.Snapshots[0].AfterRun != 0 {
		t.Errorf("head snapshots %+v, want the first of %d", f.Snapshots, len(whole.Snapshots))
	}
	// Cut anywhere, the packet reader still sees what it would have seen.
	for cut := len(b) - 1; cut > 0; cut -= 29 {
		checkHead(t, b[:cut])
	}
	// A pcapng file from elsewhere has no program: its blocks are all rest.
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: 3, Length: 3}, []byte{1, 2, 3})
	w.Flush()
	if f := checkHead(t, buf.Bytes()); f.Program != (Program{}) {
		t.Errorf("a plain pcapng file read as a capture: %+v", f.Program)
	}
}

// FuzzReadHead: for any input, reading the head first changes nothing
// for the packet reader, and the head holds no runs.
func FuzzReadHead(f *testing.F) {
	if b, err := os.ReadFile("testdata/firewall-testrun.pcapng"); err == nil {
		f.Add(b[:min(len(b), 4096)])
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Program{Name: "p", Kind: "skb", Tag: "00"})
	if err != nil {
		f.Fatal(err)
	}
	w.WriteSnapshot(&Snapshot{Maps: []MapDump{{Name: "m", Entries: []Entry{{Key: []byte{1}, Value: []byte{2}}}}}})
	w.WriteRun("skb", &Run{In: []byte{1, 2, 3}, InLen: 3, Out: []byte{4}, OutLen: 1, Time: time.Unix(1, 0), Skb: &Skb{Mark: 1}})
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { checkHead(t, b) })
}
