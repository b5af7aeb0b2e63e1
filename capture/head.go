package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"slices"
)

// maxHead bounds the blocks other than bpfscope's that ReadHead holds in
// memory: a section header and interface descriptions take a few hundred
// bytes; a file whose first packet is further on is read as it comes.
const maxHead = 1 << 20

// ReadHead reads the blocks of a little-endian pcapng stream that come
// before its first packet: for a bpfscope capture the program and the map
// snapshot taken when it started. It returns them as a File without runs
// (with ErrNotCapture when there is no program block), and the other
// blocks it consumed (section header, interface descriptions, ...) as
// they were in the stream. A pcapng reader given rest followed by what r
// still holds reads the same packets as from the whole stream, so a
// command that seeds its maps from the snapshot and runs the packets
// reads the file once.
//
// ReadHead stops, leaving r at the block, at the first packet block, at
// anything it does not understand (a big-endian section, a bad length) and
// when rest would pass 1 MiB; the packet reader then reports any damage.
// r must buffer at least 20 bytes (a block header and the magic).
func ReadHead(r *bufio.Reader) (f *File, rest []byte, err error) {
	var ours []byte
	for {
		hdr, err := r.Peek(12)
		if err != nil {
			break
		}
		typ := binary.LittleEndian.Uint32(hdr)
		total := binary.LittleEndian.Uint32(hdr[4:])
		switch {
		case typ == 0x0A0D0D0A && binary.LittleEndian.Uint32(hdr[8:]) != 0x1A2B3C4D,
			len(rest) == 0 && typ != 0x0A0D0D0A,
			typ == 2 || typ == 3 || typ == 6, // packet blocks
			total < 12 || total%4 != 0 || total > 64<<20:
			return headFile(ours, rest)
		}
		mine := false
		if (typ == blockCustom || typ == 0x40000BAD) && total >= 20 {
			if b, err := r.Peek(20); err == nil && bytes.Equal(b[12:20], Magic[:]) {
				mine = true
			}
		}
		if !mine && len(rest)+int(total) > maxHead {
			return headFile(ours, rest)
		}
		start := len(rest)
		rest = slices.Grow(rest, int(total))[:start+int(total)]
		n, err := io.ReadFull(r, rest[start:])
		if err != nil {
			// Cut short: the packet reader gets the bytes that are there
			// and reports the cut.
			return headFile(ours, rest[:start+n])
		}
		if mine {
			ours = append(ours, rest[start:]...)
			rest = rest[:start]
		}
	}
	return headFile(ours, rest)
}

func headFile(ours, rest []byte) (*File, []byte, error) {
	f, err := Read(bytes.NewReader(ours))
	return f, rest, err
}
