package capture

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The file is pcapng (docs/capture-format.md): every captured run is an
// Enhanced Packet Block holding the frame as the program got it, with the
// verdict as an epb_verdict option and a comment, followed by a Custom
// Block with the rest of the run (the frame as it left, CPU, context
// fields). Custom Blocks also hold the program (name, type, tag), map
// snapshots and the final counters. pcapng readers skip Custom Blocks, so
// tcpdump, Wireshark and `bpfscope run --pcap` see the input frames only.

const (
	blockCustom = 0x00000BAD // copyable Custom Block
	// PEN is the Private Enterprise Number in our Custom Blocks. bpfscope
	// has none registered; 0 (IANA reserved) with the magic below marks
	// ours.
	PEN = 0
)

// Magic starts the data of every Custom Block bpfscope writes.
var Magic = [8]byte{'B', 'P', 'F', 'S', 'C', 'O', 'P', 'E'}

// Kinds of Custom Block, after Magic as a little-endian uint32.
const (
	KindProgram  = 1
	KindRun      = 2
	KindSnapshot = 3
	KindStats    = 4
)

// Program describes the traced program; the first Custom Block.
type Program struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"` // as the kernel has it (15 bytes at most)
	Func string `json:"func"` // BTF name of the entry function
	Type string `json:"type"` // cilium/ebpf's name: XDP, SchedCLS, SchedACT
	// Tag is the kernel's prog_tag, 16 hex digits.
	Tag   string `json:"tag"`
	Where string `json:"where"` // how it was chosen: "veth1 xdp", "prog id 7"
	// Kind of context: "xdp" (struct xdp_md) or "skb" (struct __sk_buff).
	Kind    string    `json:"kind"`
	Kernel  string    `json:"kernel"` // uname release
	CPUs    int       `json:"possible_cpus"`
	Started time.Time `json:"started"`
	Snaplen int       `json:"snaplen"`
	Filter  string    `json:"filter,omitempty"` // the kernel-side filters, as given
}

// Run is one captured run of the program.
type Run struct {
	// N counts runs in the file from 1; Seq is the CPU's run counter in
	// the kernel (gaps are runs not captured).
	N   int    `json:"n"`
	Seq uint64 `json:"seq"`
	CPU uint32 `json:"cpu"`
	// Verdict is the program's return value (XDP action, TC_ACT_*).
	Verdict int32     `json:"verdict"`
	Time    time.Time `json:"time"`
	// In is the frame as the program got it (InLen bytes, In holds the
	// first snaplen), Out as it left.
	In     []byte `json:"-"` // the Enhanced Packet Block's data
	InLen  int    `json:"-"`
	Out    []byte `json:"out"`
	OutLen int    `json:"out_len"`
	// Context fields the program could read.
	Ifindex        uint32 `json:"ifindex"`
	IngressIfindex uint32 `json:"ingress_ifindex"`
	RxQueue        uint32 `json:"rx_queue"` // xdp: rx_queue_index; skb: queue_mapping
	MetaLen        uint32 `json:"meta_len,omitempty"`
	Skb            *Skb   `json:"skb,omitempty"`
}

// Skb holds the __sk_buff fields a tc program could read at entry.
type Skb struct {
	Len       uint32    `json:"len"`
	Mark      uint32    `json:"mark"`
	Priority  uint32    `json:"priority"`
	Hash      uint32    `json:"hash"`
	Protocol  uint16    `json:"protocol"` // network order, as __sk_buff
	VlanProto uint16    `json:"vlan_proto"`
	VlanTCI   uint16    `json:"vlan_tci"`
	TCIndex   uint16    `json:"tc_index"`
	TCClassid uint32    `json:"tc_classid"`
	CB        [5]uint32 `json:"cb"`
	Tstamp    uint64    `json:"tstamp"`
}

// Snapshot is the target's maps read from user space.
type Snapshot struct {
	// AfterRun is the number of runs written to the file before the
	// snapshot was started; Taken and Done bracket the reading.
	AfterRun int       `json:"after_run"`
	Taken    time.Time `json:"taken"`
	Done     time.Time `json:"done"`
	// Atomic is always false: runs on other CPUs go on while the maps are
	// read, so a snapshot may hold a run's writes to one map and not to
	// another.
	Atomic bool      `json:"atomic"`
	Maps   []MapDump `json:"maps"`
}

// MapDump is one map of a snapshot.
type MapDump struct {
	ID         uint32  `json:"id"`
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	KeySize    uint32  `json:"key_size"`
	ValueSize  uint32  `json:"value_size"`
	MaxEntries uint32  `json:"max_entries"`
	Flags      uint32  `json:"flags"`
	PerCPU     bool    `json:"per_cpu,omitempty"`
	Entries    []Entry `json:"entries"`
	// Skipped says why the entries were not read (ring buffers, program
	// arrays: nothing a replay can use).
	Skipped string `json:"skipped,omitempty"`
}

// Entry is one key and its value; per-CPU maps have one value per
// possible CPU in PerCPU instead.
type Entry struct {
	Key    HexBytes   `json:"key"`
	Value  HexBytes   `json:"value,omitempty"`
	PerCPU []HexBytes `json:"per_cpu,omitempty"`
}

// HexBytes marshals as a hex string.
type HexBytes []byte

func (h HexBytes) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%x", []byte(h)), nil
}

func (h *HexBytes) UnmarshalText(b []byte) error {
	*h = make([]byte, len(b)/2)
	_, err := fmt.Sscanf(string(b), "%x", (*[]byte)(h))
	if len(b) == 0 {
		*h = []byte{}
		return nil
	}
	return err
}

// Stats are the counters at the end of the capture.
type Stats struct {
	Runs     uint64 `json:"runs"`      // runs of the target seen by fentry
	Skipped  uint64 `json:"skipped"`   // not sampled, past --duration, frame filter
	Verdict  uint64 `json:"verdict"`   // verdict not asked for
	OverMax  uint64 `json:"over_max"`  // past --count
	Written  uint64 `json:"written"`   // records the kernel wrote to the ring buffer
	Lost     uint64 `json:"lost"`      // records lost: ring buffer full
	Received uint64 `json:"received"`  // records read by user space
	Bad      uint64 `json:"malformed"` // records user space could not parse
	// Ended says why the capture stopped.
	Ended string    `json:"ended"`
	Time  time.Time `json:"time"`
}

// Writer writes a capture file. It buffers: Flush writes out.
type Writer struct {
	w   *bufio.Writer // pcapgo's writer and our Custom Blocks both go here
	ng  *pcapgo.NgWriter
	n   int
	err error
}

// NewWriter starts a capture file on w with the program's block.
func NewWriter(out io.Writer, p Program) (*Writer, error) {
	w := bufio.NewWriterSize(out, 256<<10)
	ng, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{
		Name:        p.Where,
		Description: fmt.Sprintf("bpfscope capture of %s %q (tag %s)", p.Type, p.Name, p.Tag),
		LinkType:    layers.LinkTypeEthernet,
		SnapLength:  uint32(p.Snaplen),
		// Nanosecond timestamps.
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Application: "bpfscope capture",
		Comment:     "frames as the eBPF program got them; verdicts and outgoing frames in bpfscope Custom Blocks (docs/capture-format.md)",
	}})
	if err != nil {
		return nil, err
	}
	cw := &Writer{w: w, ng: ng}
	return cw, cw.custom(KindProgram, p)
}

// custom writes one of our Custom Blocks.
func (w *Writer) custom(kind uint32, v any) error {
	if w.err != nil {
		return w.err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := w.ng.Flush(); err != nil {
		w.err = err
		return err
	}
	data := make([]byte, 0, 16+len(body))
	data = append(data, Magic[:]...)
	data = binary.LittleEndian.AppendUint32(data, kind)
	data = binary.LittleEndian.AppendUint32(data, uint32(len(body)))
	data = append(data, body...)
	for len(data)%4 != 0 {
		data = append(data, 0)
	}
	total := uint32(12 + 4 + len(data))
	b := make([]byte, 0, total)
	b = binary.LittleEndian.AppendUint32(b, blockCustom)
	b = binary.LittleEndian.AppendUint32(b, total)
	b = binary.LittleEndian.AppendUint32(b, PEN)
	b = append(b, data...)
	b = binary.LittleEndian.AppendUint32(b, total)
	_, w.err = w.w.Write(b)
	return w.err
}

// VerdictName names a verdict for the program kind ("xdp" or "skb").
func VerdictName(kind string, v int32) string {
	if kind == "xdp" {
		switch v {
		case 0:
			return "XDP_ABORTED"
		case 1:
			return "XDP_DROP"
		case 2:
			return "XDP_PASS"
		case 3:
			return "XDP_TX"
		case 4:
			return "XDP_REDIRECT"
		}
		return fmt.Sprintf("XDP_%d", v)
	}
	switch v {
	case -1:
		return "TC_ACT_UNSPEC"
	case 0:
		return "TC_ACT_OK"
	case 1:
		return "TC_ACT_RECLASSIFY"
	case 2:
		return "TC_ACT_SHOT"
	case 3:
		return "TC_ACT_PIPE"
	case 4:
		return "TC_ACT_STOLEN"
	case 5:
		return "TC_ACT_QUEUED"
	case 6:
		return "TC_ACT_REPEAT"
	case 7:
		return "TC_ACT_REDIRECT"
	case 8:
		return "TC_ACT_TRAP"
	}
	return fmt.Sprintf("TC_ACT_%d", v)
}

// WriteRun writes one run: its input frame as a packet, the rest in a
// Custom Block after it. r.N is set here.
func (w *Writer) WriteRun(kind string, r *Run) error {
	if w.err != nil {
		return w.err
	}
	w.n++
	r.N = w.n
	id := uint64(r.N)
	q := r.RxQueue
	vt := pcapgo.NgEpbVerdictType(2) // Linux eBPF XDP
	if kind != "xdp" {
		vt = 1 // Linux eBPF TC
	}
	vd := binary.LittleEndian.AppendUint64(nil, uint64(int64(r.Verdict)))
	opts := pcapgo.NgPacketOptions{
		Comments: []string{fmt.Sprintf("bpfscope run %d: %s (%d) cpu %d ifindex %d queue %d", r.N, VerdictName(kind, r.Verdict), r.Verdict, r.CPU, r.Ifindex, r.RxQueue)},
		PacketID: &id,
		Queue:    &q,
		Verdicts: []pcapgo.NgEpbVerdict{{Type: vt, Data: vd}},
	}
	ci := gopacket.CaptureInfo{Timestamp: r.Time, CaptureLength: len(r.In), Length: max(r.InLen, len(r.In))}
	if w.err = w.ng.WritePacketWithOptions(ci, r.In, opts); w.err != nil {
		return w.err
	}
	return w.custom(KindRun, r)
}

// WriteSnapshot writes a map snapshot.
func (w *Writer) WriteSnapshot(s *Snapshot) error { return w.custom(KindSnapshot, s) }

// WriteStats writes the final counters.
func (w *Writer) WriteStats(s *Stats) error { return w.custom(KindStats, s) }

// Runs is the number of runs written.
func (w *Writer) Runs() int { return w.n }

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.err = w.ng.Flush(); w.err != nil {
		return w.err
	}
	w.err = w.w.Flush()
	return w.err
}

// File is a capture file read back.
type File struct {
	Program   Program
	Runs      []*Run
	Snapshots []*Snapshot
	Stats     *Stats // nil when the capture did not end cleanly
}

// ErrNotCapture marks a pcapng file without bpfscope's blocks.
var ErrNotCapture = errors.New("not a bpfscope capture (no bpfscope program block)")

// Read reads a whole capture file. A file cut short returns what was
// complete before the cut with the error.
func Read(r io.Reader) (*File, error) {
	br := bufio.NewReader(r)
	f := &File{}
	var last *Run
	haveProg := false
	var tsUnit float64 = 1e-6
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				break
			}
			return f, fmt.Errorf("block header: %w", truncated(err))
		}
		typ := binary.LittleEndian.Uint32(hdr[0:])
		total := binary.LittleEndian.Uint32(hdr[4:])
		if total < 12 || total%4 != 0 || total > 64<<20 {
			return f, fmt.Errorf("block of type %#x: bad length %d", typ, total)
		}
		// Read what is there rather than allocate the stated length: a
		// damaged length must not cost 64 MiB.
		body, err := io.ReadAll(io.LimitReader(br, int64(total-8)))
		if err != nil {
			return f, fmt.Errorf("block of type %#x: %w", typ, err)
		}
		if len(body) != int(total-8) {
			return f, fmt.Errorf("block of type %#x: file truncated", typ)
		}
		body = body[:len(body)-4] // trailing length
		switch typ {
		case 0x0A0D0D0A:
			if len(body) < 4 || binary.LittleEndian.Uint32(body) != 0x1A2B3C4D {
				return f, errors.New("big-endian or damaged pcapng section: not written by bpfscope capture")
			}
		case 0x00000001: // Interface Description Block
			tsUnit = ifTsUnit(body)
		case 0x00000006: // Enhanced Packet Block
			if len(body) < 20 {
				return f, errors.New("short enhanced packet block")
			}
			ts := uint64(binary.LittleEndian.Uint32(body[4:]))<<32 | uint64(binary.LittleEndian.Uint32(body[8:]))
			capLen := binary.LittleEndian.Uint32(body[12:])
			origLen := binary.LittleEndian.Uint32(body[16:])
			if int(capLen) > len(body)-20 {
				return f, errors.New("enhanced packet block: captured length past the block")
			}
			sec := float64(ts) * tsUnit
			last = &Run{
				In:    append([]byte(nil), body[20:20+capLen]...),
				InLen: int(origLen),
				Time:  time.Unix(0, int64(sec*1e9)).UTC(),
			}
			if tsUnit == 1e-9 {
				last.Time = time.Unix(0, int64(ts)).UTC()
			}
		case blockCustom, 0x40000BAD:
			if len(body) < 4+16 || string(body[4:12]) != string(Magic[:]) {
				continue
			}
			kind := binary.LittleEndian.Uint32(body[12:])
			n := binary.LittleEndian.Uint32(body[16:])
			if int(n) > len(body)-20 {
				return f, fmt.Errorf("bpfscope block of kind %d: length %d past the block", kind, n)
			}
			js := body[20 : 20+n]
			var err error
			switch kind {
			case KindProgram:
				err = json.Unmarshal(js, &f.Program)
				haveProg = true
			case KindRun:
				if last == nil {
					return f, errors.New("run block without its packet")
				}
				in, inLen, ts := last.In, last.InLen, last.Time
				if err = json.Unmarshal(js, last); err == nil {
					last.In, last.InLen = in, inLen
					if last.Time.IsZero() {
						last.Time = ts
					}
					f.Runs = append(f.Runs, last)
				}
				last = nil
			case KindSnapshot:
				s := &Snapshot{}
				err = json.Unmarshal(js, s)
				f.Snapshots = append(f.Snapshots, s)
			case KindStats:
				f.Stats = &Stats{}
				err = json.Unmarshal(js, f.Stats)
			}
			if err != nil {
				return f, fmt.Errorf("bpfscope block of kind %d: %w", kind, err)
			}
		}
	}
	if !haveProg {
		return f, ErrNotCapture
	}
	return f, nil
}

// ifTsUnit reads if_tsresol from an Interface Description Block body.
func ifTsUnit(body []byte) float64 {
	unit := 1e-6
	if len(body) < 8 {
		return unit
	}
	opts := body[8:]
	for len(opts) >= 4 {
		code := binary.LittleEndian.Uint16(opts)
		l := int(binary.LittleEndian.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			break
		}
		if code == 9 && l >= 1 {
			v := opts[4]
			if v&0x80 == 0 {
				unit = 1
				for range v {
					unit /= 10
				}
			} else {
				unit = 1
				for range v & 0x7f {
					unit /= 2
				}
			}
		}
		opts = opts[4+(l+3)&^3:]
	}
	return unit
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("file truncated")
	}
	return err
}
