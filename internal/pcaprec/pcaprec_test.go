package pcaprec

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/pcapgen"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type record struct {
	data []byte
	ci   gopacket.CaptureInfo
	err  string
}

// records reads b to its end or first error with next.
func records(next func() ([]byte, gopacket.CaptureInfo, error)) []record {
	var rs []record
	for len(rs) < 1e5 {
		data, ci, err := next()
		r := record{ci: ci}
		if len(data) > 0 { // nil or empty alike
			r.data = bytes.Clone(data)
		}
		if err != nil {
			r.err = err.Error()
			// Neither says anything but the error with it.
			r.data, r.ci = nil, gopacket.CaptureInfo{}
		}
		rs = append(rs, r)
		if err != nil {
			break
		}
	}
	return rs
}

// same checks that Reader reads b as pcapgo does: the same packets,
// timestamps and lengths, then the same error (io.EOF at the end). A
// gzip stream, which pcapgo reads, Reader refuses (its callers give it
// to pcapgo).
func same(t *testing.T, b []byte) {
	t.Helper()
	if IsCompressed(b) {
		if _, err := NewReader(bytes.NewReader(b)); err == nil {
			t.Fatal("a compressed file read")
		}
		return
	}
	want, werr := pcapgo.NewReader(bytes.NewReader(b))
	got, gerr := NewReader(bytes.NewReader(b))
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("header: error %v, pcapgo %v", gerr, werr)
	}
	if werr != nil {
		return
	}
	if got.LinkType() != want.LinkType() {
		t.Fatalf("link type %v, pcapgo %v", got.LinkType(), want.LinkType())
	}
	w := records(want.ZeroCopyReadPacketData)
	g := records(got.ZeroCopyReadPacketData)
	sameRecords(t, "", g, w)
	// In chunks: of the real size, and of a few bytes, so that records
	// cross chunks and outgrow them.
	for _, unit := range []int{0, 1, 40, 700} {
		cr, _ := NewReader(bytes.NewReader(b))
		if unit > 0 {
			cr.unit = unit
		}
		sameRecords(t, fmt.Sprintf("chunks of %d: ", 2*cr.unit), chunkRecords(cr), w)
	}
}

func sameRecords(t *testing.T, how string, g, w []record) {
	t.Helper()
	if !reflect.DeepEqual(g, w) {
		for i := range min(len(g), len(w)) {
			if !reflect.DeepEqual(g[i], w[i]) {
				t.Fatalf("%srecord %d: %+v, pcapgo %+v", how, i+1, g[i], w[i])
			}
		}
		t.Fatalf("%s%d records, pcapgo %d", how, len(g), len(w))
	}
}

// chunkRecords reads r to its end or first error with ReadChunk, as
// records does, checking that an error stays.
func chunkRecords(r *Reader) []record {
	var rs []record
	var c Chunk
	for len(rs) < 1e5 {
		err := r.ReadChunk(&c)
		for i, rec := range c.Recs {
			r := record{ci: rec.Info}
			if p := c.Packet(i); len(p) > 0 {
				r.data = bytes.Clone(p)
			}
			rs = append(rs, r)
		}
		if err != nil {
			if again := r.ReadChunk(&c); again != err || len(c.Recs) > 0 {
				rs = append(rs, record{err: fmt.Sprintf("read again: %v, %d records", again, len(c.Recs))})
			}
			rs = append(rs, record{err: err.Error()})
			break
		}
		if len(c.Recs) == 0 {
			rs = append(rs, record{err: "a chunk of no records without an error"})
			break
		}
	}
	return rs
}

// capture is a pcap file of n generated frames, in either byte order
// and timestamp resolution.
func capture(t testing.TB, n int, nanos bool) []byte {
	var buf bytes.Buffer
	if !nanos {
		if err := pcapgen.WritePcap(&buf, n, 2); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	w := pcapgo.NewWriterNanos(&buf)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	g := pcapgen.New(2)
	for i := range n {
		f, err := g.Frame()
		if err != nil {
			t.Fatal(err)
		}
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 999999999), CaptureLength: len(f), Length: len(f) + i%3}, f)
	}
	return buf.Bytes()
}

// bigEndian rewrites a little-endian pcap file in big-endian order.
func bigEndian(b []byte) []byte {
	b = bytes.Clone(b)
	swap := func(p []byte) { p[0], p[1], p[2], p[3] = p[3], p[2], p[1], p[0] }
	swap(b[0:4])
	b[4], b[5], b[6], b[7] = b[5], b[4], b[7], b[6]
	for o := 8; o < 24; o += 4 {
		swap(b[o : o+4])
	}
	for o := 24; o+16 <= len(b); {
		for k := 0; k < 16; k += 4 {
			swap(b[o+k : o+k+4])
		}
		n := int(b[o+8])<<24 | int(b[o+9])<<16 | int(b[o+10])<<8 | int(b[o+11])
		o += 16 + n
	}
	return b
}

func TestSameAsPcapgo(t *testing.T) {
	for _, nanos := range []bool{false, true} {
		b := capture(t, 300, nanos)
		same(t, b)
		same(t, bigEndian(b))
		for cut := len(b) - 1; cut > 0; cut -= 97 {
			same(t, b[:cut])
		}
	}
	// A record longer than the buffer.
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	w.WriteFileHeader(4<<20, layers.LinkTypeEthernet)
	big := bytes.Repeat([]byte{7}, BufferSize+100)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(big), Length: len(big)}, big)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(2, 0), CaptureLength: 3, Length: 3}, []byte{1, 2, 3})
	same(t, buf.Bytes())
	same(t, buf.Bytes()[:buf.Len()-50])
	same(t, buf.Bytes()[:BufferSize])
}

func FuzzSameAsPcapgo(f *testing.F) {
	b := capture(f, 5, false)
	f.Add(b)
	f.Add(bigEndian(b))
	f.Add(capture(f, 3, true))
	f.Add(b[:60])
	f.Fuzz(func(t *testing.T, b []byte) { same(t, b) })
}

// BenchmarkRead compares reading a capture of generated frames from
// memory with Reader and with pcapgo's zero-copy read.
func BenchmarkRead(b *testing.B) {
	data := capture(b, 20000, false)
	for _, c := range []struct {
		name string
		open func(io.Reader) (func() ([]byte, gopacket.CaptureInfo, error), error)
	}{
		{"pcaprec", func(r io.Reader) (func() ([]byte, gopacket.CaptureInfo, error), error) {
			pr, err := NewReader(r)
			if err != nil {
				return nil, err
			}
			return pr.ZeroCopyReadPacketData, nil
		}},
		{"pcapgo", func(r io.Reader) (func() ([]byte, gopacket.CaptureInfo, error), error) {
			pr, err := pcapgo.NewReader(r)
			if err != nil {
				return nil, err
			}
			return pr.ZeroCopyReadPacketData, nil
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				next, err := c.open(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				for _, _, err := next(); err == nil; _, _, err = next() {
					n++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
		})
	}
}
