// Package pcaprec reads the packet records of a classic (libpcap) capture
// file without copying them: each packet is a slice of the reader's
// buffer, valid until the next read. gopacket's pcapgo reader, which reads
// the file header here, copies every record into a buffer of its own
// with four reads per packet; at a million packets a second that copy is
// a tenth of the time a run of a small program takes. Records, lengths,
// timestamps and errors are pcapgo's (FuzzSameAsPcapgo).
package pcaprec

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// maxSnaplen is libpcap's MAXIMUM_SNAPLEN: pcapgo takes records up to it,
// or up to the file's snap length if that is longer.
const maxSnaplen = 262144

// BufferSize is the buffer a Reader's records are read into: records up
// to libpcap's largest snap length fit, longer ones are copied. (A larger
// buffer reads no faster, and a fresh MiB costs a command half a
// millisecond of page faults.)
const BufferSize = maxSnaplen + 16

// Reader reads the records of a pcap file.
type Reader struct {
	br      *bufio.Reader
	order   binary.ByteOrder
	factor  uint32 // timestamp fraction to nanoseconds
	snaplen uint32
	maxLen  int // the longest record taken
	link    layers.LinkType
	skip    int    // bytes of the last record still in br
	big     []byte // the last record too long for br's buffer
	// For ReadChunk: the bytes read past a chunk's last whole record, the
	// error after the last record, and how much it reads at a time.
	carry []byte
	cerr  error
	unit  int
}

// IsCompressed reports whether a file starting with magic is a gzip
// stream, which pcapgo reads and Reader does not.
func IsCompressed(magic []byte) bool {
	return len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// NewReader reads the file header from r, as pcapgo.NewReader does, and
// returns a reader of the records that follow. r is read through a buffer
// of BufferSize bytes; a gzip-compressed file is refused (IsCompressed).
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, BufferSize)
	if magic, _ := br.Peek(2); IsCompressed(magic) {
		return nil, fmt.Errorf("pcaprec: a compressed file")
	}
	hdr, _ := br.Peek(4)
	order := binary.ByteOrder(binary.LittleEndian)
	if len(hdr) == 4 && hdr[0] == 0xa1 { // a1b2c3d4 or a1b23c4d, big-endian
		order = binary.BigEndian
	}
	h, err := pcapgo.NewReader(br) // reads 24 bytes from br itself: it is large enough
	if err != nil {
		return nil, err
	}
	pr := &Reader{br: br, order: order, factor: 1, snaplen: h.Snaplen(), link: h.LinkType(), unit: br.Size()}
	if h.Resolution() == gopacket.TimestampResolutionMicrosecond {
		pr.factor = 1000
	}
	pr.maxLen = max(int(pr.snaplen), maxSnaplen)
	return pr, nil
}

// LinkType is the file header's link type.
func (r *Reader) LinkType() layers.LinkType { return r.link }

// ReadPacketData reads the next packet into a slice of its own.
func (r *Reader) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := r.ZeroCopyReadPacketData()
	return bytes.Clone(data), ci, err
}

// ZeroCopyReadPacketData reads the next packet: data is valid until the
// next read. At the end of the file the error is io.EOF; a record cut
// short is io.ErrUnexpectedEOF, or io.EOF when the cut is right after its
// header (as pcapgo has it).
func (r *Reader) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	if r.skip > 0 {
		r.br.Discard(r.skip)
		r.skip = 0
	}
	hdr, err := r.br.Peek(16)
	if err != nil {
		r.br.Discard(len(hdr))
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, ci, err
	}
	if ci, err = r.header(hdr); err != nil {
		r.br.Discard(16)
		return nil, ci, err
	}
	n := 16 + ci.CaptureLength
	if n <= r.br.Size() {
		rec, err := r.br.Peek(n)
		if err != nil { // the file ends inside the record
			r.br.Discard(len(rec))
			if err == io.EOF && len(rec) > 16 {
				err = io.ErrUnexpectedEOF
			}
			return nil, ci, err
		}
		r.skip = n
		return rec[16:n:n], ci, nil
	}
	// Longer than the buffer: copied, growing with the bytes there are.
	r.br.Discard(16)
	b := bytes.NewBuffer(r.big[:0])
	m, err := io.CopyN(b, r.br, int64(ci.CaptureLength))
	r.big = b.Bytes()
	if err == io.EOF && m > 0 {
		err = io.ErrUnexpectedEOF
	}
	return r.big, ci, err
}

// header decodes and checks a record header (16 bytes), as pcapgo does.
func (r *Reader) header(hdr []byte) (ci gopacket.CaptureInfo, err error) {
	ci.Timestamp = time.Unix(int64(r.order.Uint32(hdr[0:4])), int64(r.order.Uint32(hdr[4:8])*r.factor)).UTC()
	ci.CaptureLength = int(r.order.Uint32(hdr[8:12]))
	ci.Length = int(r.order.Uint32(hdr[12:16]))
	if ci.CaptureLength > r.maxLen {
		return ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, r.snaplen)
	}
	if ci.CaptureLength > ci.Length {
		return ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	return ci, nil
}

// Chunk is whole records read in one piece by ReadChunk, each record's
// bytes in place in Data. Workers can share a Chunk's packets without a
// copy of any of them; the next ReadChunk into the Chunk reuses it.
type Chunk struct {
	Data []byte
	Recs []Record
}

// Record is one record of a Chunk.
type Record struct {
	Off  int // its packet is Data[Off : Off+Info.CaptureLength]
	Info gopacket.CaptureInfo
}

// Packet returns the bytes of record i.
func (c *Chunk) Packet(i int) []byte {
	r := c.Recs[i]
	end := r.Off + r.Info.CaptureLength
	return c.Data[r.Off:end:end]
}

// ReadChunk reads the next records into c, as many whole ones as the
// reads of about twice BufferSize bring (at least one record if the file
// has one more, however long). Its records are those
// ZeroCopyReadPacketData reads, with their lengths and timestamps; err is
// the error the read after the chunk's last record gets (io.EOF at the
// end), and stays: nil means more may follow. The file is read straight
// into c.Data, so its bytes are copied once, by the read itself. Do not
// mix ReadChunk with the Reader's other reads.
func (r *Reader) ReadChunk(c *Chunk) (err error) {
	c.Recs = c.Recs[:0]
	if r.cerr != nil {
		c.Data = c.Data[:0]
		return r.cerr
	}
	if r.skip > 0 {
		r.br.Discard(r.skip)
		r.skip = 0
	}
	if cap(c.Data) < 2*r.unit {
		c.Data = make([]byte, 0, 2*r.unit)
	}
	buf := append(c.Data[:0], r.carry...)
	off, eof := 0, false // off: the end of the last whole record
	for {
		for len(buf)-off >= 16 {
			ci, err := r.header(buf[off : off+16])
			if err != nil {
				r.cerr = err
				break
			}
			n := 16 + ci.CaptureLength
			if len(buf)-off < n {
				break
			}
			c.Recs = append(c.Recs, Record{Off: off + 16, Info: ci})
			off += n
		}
		if r.cerr != nil {
			break
		}
		if eof {
			switch rest := len(buf) - off; {
			case rest == 0, rest == 16: // a record cut after its header is io.EOF, as in pcapgo
				r.cerr = io.EOF
			default:
				r.cerr = io.ErrUnexpectedEOF
			}
			break
		}
		room := cap(buf) - len(buf)
		if room >= r.unit || len(c.Recs) == 0 && room > 0 {
			// A read of unit bytes or more bypasses br's buffer.
			n, err := r.br.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				eof = true
			} else if err != nil {
				r.cerr = err
				break
			}
			continue
		}
		if len(c.Recs) > 0 {
			break // the rest starts the next chunk
		}
		// One record longer than buf: grown with the bytes there are,
		// not to what its header claims.
		grown := make([]byte, len(buf), 2*cap(buf)+r.unit)
		copy(grown, buf)
		buf = grown
	}
	r.carry = append(r.carry[:0], buf[off:]...)
	c.Data = buf
	return r.cerr
}
