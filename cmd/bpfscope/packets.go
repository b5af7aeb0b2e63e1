package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	kcap "github.com/bpfscope/bpfscope/capture"
	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/internal/pcaprec"
	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// packet is one input of a run.
type packet struct {
	N    int // 1-based position in the input
	Info gopacket.CaptureInfo
	Data []byte
	Err  error // the packet cannot be run (a capture frame with no Ethernet form)
}

// source yields packets in order. Next returns io.EOF at the end; any
// other error names the packet that could not be read, and the packets
// before it have been returned.
type source interface {
	Next() (packet, error)
	LinkType() layers.LinkType
	Close() error
}

// captureError reports a capture that cannot be read past packet N.
type captureError struct {
	File string
	N    int
	Err  error
}

func (e *captureError) Error() string {
	return fmt.Sprintf("%s: packet %d: %v", e.File, e.N, e.Err)
}

func (e *captureError) Unwrap() error { return e.Err }

// inputs reads the --ctx-in file, if any, and opens the packets.
func (in *inputFlags) inputs(p *program) (ctxIn []byte, src source, err error) {
	if ctxIn, err = readOptional(in.ctxIn); err != nil {
		return nil, nil, err
	}
	if src, err = in.packets(p); err != nil {
		return nil, nil, err
	}
	return ctxIn, src, nil
}

// packets opens the input the flags name: a capture, one packet from a
// file, the bundled capture for the bundled program, or one empty input.
func (in *inputFlags) packets(p *program) (source, error) {
	switch {
	case in.pcap != "" && in.dataIn != "":
		return nil, errors.New("--pcap and --data-in exclude each other")
	case in.pcap != "":
		if in.pcapOpened { // by load, for the seed
			c, err := in.opened, in.openErr
			in.pcapOpened, in.opened, in.openErr = false, nil, nil
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		return openCaptureFile(in.pcap)
	case in.dataIn != "":
		var b []byte
		var err error
		if in.dataIn == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(in.dataIn)
		}
		if err != nil {
			return nil, err
		}
		return &single{data: b}, nil
	case p.bundled:
		b, err := fs.ReadFile(examples.Progs, examples.SamplePcap)
		if err != nil {
			return nil, err
		}
		return openCapture(io.NopCloser(bytes.NewReader(b)), examples.SamplePcap)
	case in.ctxIn == "" && takesData(p.typ):
		return nil, errors.New("no input: give --data-in, --pcap or --ctx-in")
	}
	return &single{}, nil
}

// pcapSeed opens the --pcap capture for packets to read on from, and
// returns the map snapshot a bpfscope capture starts with: nil for other
// captures, and when the file cannot be opened (packets then says why).
// The seed and the packets come from one reading of the file.
func (in *inputFlags) pcapSeed() *kcap.Snapshot {
	if !in.pcapOpened {
		in.pcapOpened = true
		in.opened, in.openErr = openCaptureFile(in.pcap)
	}
	if in.opened == nil {
		return nil
	}
	return in.opened.seed
}

func openCaptureFile(path string) (*capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := openCapture(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// takesData reports the program types whose test runs need a packet.
func takesData(t ebpf.ProgramType) bool {
	switch t {
	case ebpf.SkLookup, ebpf.RawTracepoint, ebpf.Syscall, ebpf.Netfilter:
		return false
	}
	return true
}

// single is one packet (possibly empty) from --data-in.
type single struct {
	data []byte
	done bool
}

func (s *single) Next() (packet, error) {
	if s.done {
		return packet{}, io.EOF
	}
	s.done = true
	return packet{N: 1, Data: s.data, Info: gopacket.CaptureInfo{CaptureLength: len(s.data), Length: len(s.data)}}, nil
}

func (s *single) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (s *single) Close() error              { return nil }

// packetReader is what pcapgo's pcap and pcapng readers have in common.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

type capture struct {
	name string
	r    packetReader
	c    io.Closer
	n    int
	err  error
	conv func([]byte) ([]byte, error) // to Ethernet, for other link types
	// seed is the first map snapshot of a bpfscope capture, read with
	// the blocks before the first packet: run and trace start from the
	// maps as the kernel had them.
	seed *kcap.Snapshot
}

// pcapng files start with a section header block.
var ngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// openCapture reads a pcap or pcapng file, telling them apart by magic.
func openCapture(rc io.ReadCloser, name string) (*capture, error) {
	br := bufio.NewReaderSize(rc, pcaprec.BufferSize)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: too short", name)
	}
	c := &capture{name: name, c: rc}
	if bytes.Equal(magic, ngMagic) {
		r := io.Reader(br)
		if f, rest, err := kcap.ReadHead(br); len(rest) > 0 {
			if err == nil && len(f.Snapshots) > 0 {
				c.seed = f.Snapshots[0]
			}
			// One buffer: once rest is read, large reads go past br's.
			r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), br), 1<<16)
		}
		c.r, err = pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{})
	} else if pcaprec.IsCompressed(magic) {
		c.r, err = pcapgo.NewReader(br)
	} else {
		c.r, err = pcaprec.NewReader(br) // no copy of each packet
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: %v", name, err)
	}
	if c.conv, err = toEthernet(c.r.LinkType()); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return c, nil
}

func (c *capture) Next() (packet, error) {
	pk, err := c.NextShared()
	pk.Data = bytes.Clone(pk.Data)
	return pk, err
}

// sharedSource is a source that can also hand out packets without
// copying them: NextShared's packet Data stays valid only until the next
// call. A loop done with each packet before reading the next uses it.
type sharedSource interface {
	source
	NextShared() (packet, error)
}

// NextShared implements sharedSource: the packet is the reader's buffer.
func (c *capture) NextShared() (packet, error) {
	if c.err != nil {
		return packet{}, c.err
	}
	data, ci, err := c.r.ZeroCopyReadPacketData()
	if err != nil {
		c.fail(err)
		return packet{}, c.err
	}
	c.n++
	if c.conv != nil {
		if data, err = c.conv(data); err != nil {
			return packet{N: c.n, Info: ci, Err: err}, nil
		}
		ci.CaptureLength, ci.Length = len(data), ci.Length-ci.CaptureLength+len(data)
		return packet{N: c.n, Info: ci, Data: data}, nil
	}
	return packet{N: c.n, Info: ci, Data: data}, nil
}

// fail ends the capture with err, the error reading the packet after
// the last one.
func (c *capture) fail(err error) {
	if errors.Is(err, io.EOF) {
		c.err = io.EOF
		return
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("capture truncated")
	}
	c.err = &captureError{File: c.name, N: c.n + 1, Err: err}
}

// inChunks reports whether the capture's packets can be read in place,
// many at a time, with readChunk: a classic pcap file of Ethernet frames.
func (c *capture) inChunks() bool {
	_, ok := c.r.(*pcaprec.Reader)
	return ok && c.conv == nil
}

// readChunk reads the next packets into ch, in place (inChunks says
// when it can): they are packets first+1, first+2, ... The error is as
// NextShared's after them (io.EOF at the end).
func (c *capture) readChunk(ch *pcaprec.Chunk) (first int, err error) {
	first = c.n
	if c.err != nil {
		ch.Recs = ch.Recs[:0]
		return first, c.err
	}
	err = c.r.(*pcaprec.Reader).ReadChunk(ch)
	c.n += len(ch.Recs)
	if err != nil {
		c.fail(err)
	}
	return first, c.err
}

// LinkType is Ethernet for every capture: other link types are converted.
func (c *capture) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (c *capture) Close() error              { return c.c.Close() }

// pcapWriter writes packets to a pcap file, created on first use.
type pcapWriter struct {
	path string
	link layers.LinkType
	f    *os.File
	bw   *bufio.Writer
	w    *pcapgo.Writer
	n    int
}

func newPcapWriter(path string, link layers.LinkType) *pcapWriter {
	if path == "" {
		return nil
	}
	return &pcapWriter{path: path, link: link}
}

// open creates the file at once, so an empty result still leaves a valid
// capture behind.
func (w *pcapWriter) open() error {
	if w == nil || w.f != nil {
		return nil
	}
	f, err := os.Create(w.path)
	if err != nil {
		return err
	}
	w.f, w.bw = f, bufio.NewWriterSize(f, 1<<20) // few writes: a small buffer costs a syscall every few packets
	w.w = pcapgo.NewWriterNanos(w.bw)
	return w.w.WriteFileHeader(262144, w.link)
}

func (w *pcapWriter) write(ts time.Time, data []byte) error {
	if w == nil {
		return nil
	}
	if err := w.open(); err != nil {
		return err
	}
	w.n++
	return w.w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data)
}

func (w *pcapWriter) close() error {
	if w == nil {
		return nil
	}
	if err := w.open(); err != nil {
		return err
	}
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
