// Package capture records what an XDP or tc program running in the kernel
// saw and did, so bpfscope can replay it: per run the context (the frame
// and the fields the program can read), the verdict, the frame as it left,
// a timestamp and the CPU, plus snapshots of the program's maps.
//
// It attaches fentry and fexit programs (capture/bpf/capture.c) to the
// running program with BPF trampolines, as xdpdump does: the target is not
// changed or reloaded. Records reach user space through a BPF ring buffer;
// the kernel side never waits, so a full buffer loses records (counted),
// never a run of the target. Filters (verdicts, sampling, a count, a
// deadline, ethertype/IP protocol/port) are applied in the kernel.
//
// The output is a pcapng file ([Writer], docs/capture-format.md) that
// tcpdump reads as frames; [Read] gives back everything.
package capture

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

//go:embed bpf/capture.o
var captureObject []byte

// MaxSnaplen is the most of each frame a record holds (MAX_SNAP in
// capture.c).
const MaxSnaplen = 8192

// Filter selects, in the kernel, the runs that are recorded.
type Filter struct {
	// Verdicts lists the return values to keep; empty keeps all.
	Verdicts []int32
	// Count stops recording after this many records (0: no limit).
	Count uint64
	// Duration stops recording after this long (0: until stopped).
	Duration time.Duration
	// SampleEvery keeps one run in N on each CPU (0 or 1: every run).
	SampleEvery uint32
	// EtherType, IPProto and Port (source or destination, TCP/UDP/SCTP)
	// filter on the incoming frame; 0 matches anything.
	EtherType uint16
	IPProto   uint8
	Port      uint16
}

// Options configures a capture.
type Options struct {
	Filter
	// Snaplen bounds the bytes kept of each frame (default MaxSnaplen).
	Snaplen int
	// SnapshotEvery takes a map snapshot every N runs written, besides
	// the one at the start (0: at the start only).
	SnapshotEvery int
	// RingSize is the ring buffer's size in bytes, a power of two
	// (default 8 MiB).
	RingSize int
	// FilterText is recorded in the file as the filter given.
	FilterText string
	// tracepoints, for tests, attach the entry and exit programs to these
	// BTF tracepoints (tp_btf) instead of the target: ones whose first
	// argument is the target's context object (struct sk_buff *), the
	// exit's second an int, so the kernel's verifier and the ring buffer
	// path can be tested where trampolines are refused.
	tracepoints [2]string
	// Progress, if set, is called after each record written (and the
	// snapshot that follows it, if any). It runs on Run's goroutine.
	Progress func(written int)
}

// Capture is an attached capture: call Run, then Close.
type Capture struct {
	mu    sync.Mutex // links, rd and coll: Close may come from another goroutine
	t     *Target
	opts  Options
	coll  *ebpf.Collection
	links []link.Link
	rd    *ringbuf.Reader
	mono  time.Time // wall time at CLOCK_MONOTONIC zero
	start time.Time
}

// Attach loads the tracing programs for the target and attaches them.
// Nothing of the target changes; Close detaches.
func Attach(t *Target, opts Options) (*Capture, error) {
	switch {
	case opts.Snaplen > MaxSnaplen:
		return nil, fmt.Errorf("snaplen %d: at most %d bytes of a frame can be recorded", opts.Snaplen, MaxSnaplen)
	case opts.Snaplen <= 0:
		opts.Snaplen = MaxSnaplen
	}
	if opts.RingSize == 0 {
		opts.RingSize = 8 << 20
	}
	if opts.RingSize&(opts.RingSize-1) != 0 || opts.RingSize < os.Getpagesize() {
		return nil, fmt.Errorf("ring buffer size %d: want a power of two of at least a page", opts.RingSize)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(captureObject))
	if err != nil {
		return nil, fmt.Errorf("capture object: %w", err)
	}
	c := &Capture{t: t, opts: opts, start: time.Now()}
	c.mono = monoBase()

	var mask uint32
	for _, v := range opts.Verdicts {
		if v < -1 || v > 30 {
			return nil, fmt.Errorf("verdict %d cannot be filtered in the kernel (want -1..30)", v)
		}
		mask |= 1 << uint32(v+1)
	}
	var deadline uint64
	if opts.Duration > 0 {
		deadline = uint64(monoNow() + opts.Duration.Nanoseconds())
	}
	sample := opts.SampleEvery
	if sample == 0 {
		sample = 1
	}
	consts := map[string]any{
		"snaplen":        uint32(opts.Snaplen),
		"verdict_mask":   mask,
		"sample_every":   sample,
		"max_records":    opts.Count,
		"deadline_ns":    deadline,
		"want_ethertype": htons(opts.EtherType),
		"want_ipproto":   opts.IPProto,
		"want_port":      htons(opts.Port),
	}
	for name, v := range consts {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("capture object has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, fmt.Errorf("capture object: %s: %w", name, err)
		}
	}
	spec.Maps["records"].MaxEntries = uint32(opts.RingSize)

	entry, exit := "xdp_entry", "xdp_exit"
	if t.Kind() == "skb" {
		entry, exit = "tc_entry", "tc_exit"
	}
	for name := range spec.Programs {
		if name != entry && name != exit {
			delete(spec.Programs, name)
		}
	}
	for i, name := range []string{entry, exit} {
		ps := spec.Programs[name]
		if tp := opts.tracepoints[i]; tp != "" {
			ps.AttachType, ps.AttachTo = ebpf.AttachTraceRawTp, tp
			continue
		}
		ps.AttachTarget, ps.AttachTo = t.Prog, t.Func
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading the fentry/fexit programs for %s: the verifier refused them: %+v", t.Where, ve)
		}
		return nil, fmt.Errorf("loading the fentry/fexit programs for %s: %w", t.Where, checkTrampolines(err))
	}
	c.coll = coll
	if c.rd, err = ringbuf.NewReader(coll.Maps["records"]); err != nil {
		c.Close()
		return nil, err
	}
	// fexit first, so that a run whose entry is recorded has its exit
	// program attached too.
	for _, name := range []string{exit, entry} {
		l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs[name]})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("attaching %s to %s: %w", name, t.Where, checkTrampolines(err))
		}
		c.links = append(c.links, l)
	}
	return c, nil
}

// Close detaches everything and releases the programs and maps.
func (c *Capture) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	if c.rd != nil {
		errs = append(errs, c.rd.Close())
		c.rd = nil
	}
	if c.coll != nil {
		c.coll.Close()
		c.coll = nil
	}
	return errors.Join(errs...)
}

// Header is the program block for the file.
func (c *Capture) Header() Program { return Header(c.t, c.opts, c.start) }

// Header describes the target for a capture file started at start.
func Header(t *Target, opts Options, start time.Time) Program {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	ncpu, _ := ebpf.PossibleCPU()
	return Program{
		ID: uint32(t.ID), Name: t.Info.Name, Func: t.Func, Type: t.Info.Type.String(),
		Tag: t.Info.Tag, Where: t.Where, Kind: t.Kind(),
		Kernel: unix.ByteSliceToString(uts.Release[:]), CPUs: ncpu,
		Started: start.UTC(), Snaplen: opts.Snaplen, Filter: opts.FilterText,
	}
}

// Run reads records into w until ctx is done, the count or duration is
// reached, or the target is detached from its interface. It writes the
// first map snapshot before anything else, and the final counters last;
// the file holds every record received whatever ends the capture.
func (c *Capture) Run(ctx context.Context, w *Writer) (*Stats, error) {
	c.mu.Lock()
	rd := c.rd
	c.mu.Unlock()
	if rd == nil {
		return nil, errors.New("capture: Run after Close")
	}
	snap, err := c.Snapshot(0)
	if err != nil {
		return nil, err
	}
	if err := w.WriteSnapshot(snap); err != nil {
		return nil, err
	}
	st := &Stats{}
	ended := ""
	var deadline time.Time
	if c.opts.Duration > 0 {
		deadline = c.start.Add(c.opts.Duration)
	}
	lastCheck := time.Now()
	var rec ringbuf.Record
	for ended == "" {
		if err := ctx.Err(); err != nil {
			ended = "stopped"
			break
		}
		rd.SetDeadline(time.Now().Add(100 * time.Millisecond))
		err := rd.ReadInto(&rec)
		switch {
		case err == nil:
			st.Received++
			r, perr := parseRecord(rec.RawSample, c.mono)
			if perr != nil {
				st.Bad++
				continue
			}
			if err := w.WriteRun(c.t.Kind(), r); err != nil {
				return st, err
			}
			if n := c.opts.SnapshotEvery; n > 0 && w.Runs()%n == 0 {
				s, err := c.Snapshot(w.Runs())
				if err != nil {
					return st, err
				}
				if err := w.WriteSnapshot(s); err != nil {
					return st, err
				}
			}
			if c.opts.Progress != nil {
				c.opts.Progress(w.Runs())
			}
			if c.opts.Count > 0 && uint64(w.Runs()) >= c.opts.Count {
				ended = fmt.Sprintf("count %d reached", c.opts.Count)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Idle: put what was recorded in the file.
			if err := w.Flush(); err != nil {
				return st, err
			}
		case errors.Is(err, ringbuf.ErrClosed):
			ended = "stopped"
		default:
			return st, err
		}
		if !deadline.IsZero() && time.Now().After(deadline) && ended == "" {
			ended = fmt.Sprintf("duration %s reached", c.opts.Duration)
		}
		if time.Since(lastCheck) > 200*time.Millisecond && ended == "" {
			lastCheck = time.Now()
			ok, err := c.t.StillAttached()
			if !ok {
				ended = fmt.Sprintf("%s: program %d is no longer attached", c.t.Where, c.t.ID)
				if err != nil {
					ended += fmt.Sprintf(" (%v)", err)
				}
			}
		}
	}
	// Detach, then drain what is already in the ring buffer.
	c.mu.Lock()
	for _, l := range c.links {
		l.Close()
	}
	c.links = nil
	c.mu.Unlock()
	for c.opts.Count == 0 || uint64(w.Runs()) < c.opts.Count {
		rd.SetDeadline(time.Now())
		if err := rd.ReadInto(&rec); err != nil {
			break
		}
		st.Received++
		r, perr := parseRecord(rec.RawSample, c.mono)
		if perr != nil {
			st.Bad++
			continue
		}
		if err := w.WriteRun(c.t.Kind(), r); err != nil {
			return st, err
		}
	}
	c.readStats(st)
	st.Ended, st.Time = ended, time.Now().UTC()
	if err := w.WriteStats(st); err != nil {
		return st, err
	}
	return st, w.Flush()
}

// readStats sums the per-CPU counters of capture.c.
func (c *Capture) readStats(st *Stats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.coll == nil {
		return // closed meanwhile
	}
	m := c.coll.Maps["stats"]
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return
	}
	dst := []*uint64{&st.Runs, &st.Skipped, &st.Verdict, &st.OverMax, &st.Written, &st.Lost}
	for i, p := range dst {
		vals := make([]uint64, ncpu)
		if err := m.Lookup(uint32(i), vals); err != nil {
			continue
		}
		for _, v := range vals {
			*p += v
		}
	}
}

// recordSize is sizeof(struct record) in capture.c.
const recordSize = 112

// parseRecord decodes one ring buffer record.
func parseRecord(b []byte, mono time.Time) (*Run, error) {
	if len(b) < recordSize {
		return nil, fmt.Errorf("record of %d bytes", len(b))
	}
	le := binary.LittleEndian
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	u16 := func(off int) uint16 { return le.Uint16(b[off:]) }
	r := &Run{
		Time:           mono.Add(time.Duration(le.Uint64(b[0:]))).UTC(),
		Seq:            le.Uint64(b[8:]),
		CPU:            u32(16),
		Verdict:        int32(u32(20)),
		InLen:          int(u32(24)),
		OutLen:         int(u32(32)),
		Ifindex:        u32(44),
		RxQueue:        u32(48),
		IngressIfindex: u32(52),
		MetaLen:        u32(56),
	}
	inCap, outCap, kind := int(u32(28)), int(u32(36)), u32(40)
	if recordSize+inCap+outCap > len(b) || inCap > MaxSnaplen || outCap > MaxSnaplen {
		return nil, fmt.Errorf("record lengths %d+%d past its %d bytes", inCap, outCap, len(b))
	}
	r.In = bytes.Clone(b[recordSize : recordSize+inCap])
	r.Out = bytes.Clone(b[recordSize+inCap : recordSize+inCap+outCap])
	if kind == 2 {
		s := &Skb{
			Len: uint32(r.InLen), Mark: u32(60), Priority: u32(64), Hash: u32(68),
			Protocol: u16(72), VlanProto: u16(74), VlanTCI: u16(76), TCIndex: u16(78),
			TCClassid: u32(100), Tstamp: le.Uint64(b[104:]),
		}
		for i := range s.CB {
			s.CB[i] = u32(80 + 4*i)
		}
		// The kernel's protocol is big-endian in memory; __sk_buff shows
		// it as loaded, so keep the raw u16 as a little-endian load sees it.
		r.Skb = s
		r.MetaLen = 0
	}
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// monoBase is the wall time CLOCK_MONOTONIC counts from.
func monoBase() time.Time {
	now := time.Now()
	return now.Add(-time.Duration(monoNow()))
}

// ParseVerdicts parses "DROP,ABORTED" (XDP) or "SHOT,OK" (tc), or
// numbers, for a program of kind ("xdp" or "skb").
func ParseVerdicts(kind, s string) ([]int32, error) {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		found := false
		for v := int32(-1); v <= 8; v++ {
			name := VerdictName(kind, v)
			if f == name || "XDP_"+f == name || "TC_ACT_"+f == name {
				out = append(out, v)
				found = true
				break
			}
		}
		if !found {
			var n int32
			if _, err := fmt.Sscanf(f, "%d", &n); err != nil {
				return nil, fmt.Errorf("unknown verdict %q for a %s program", f, kind)
			}
			out = append(out, n)
		}
	}
	return out, nil
}
