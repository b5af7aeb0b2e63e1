package maps

import (
	"encoding/binary"
	"fmt"
	"iter"
)

// Ring buffer record header bits and helper flags, as in the kernel's UAPI.
const (
	RingBufBusyBit    = 1 << 31 // BPF_RINGBUF_BUSY_BIT: reserved, not yet committed
	RingBufDiscardBit = 1 << 30 // BPF_RINGBUF_DISCARD_BIT: committed as discarded
	RingBufHeaderSize = 8       // BPF_RINGBUF_HDR_SZ

	RingBufNoWakeup    = 1 // BPF_RB_NO_WAKEUP
	RingBufForceWakeup = 2 // BPF_RB_FORCE_WAKEUP

	// bpf_ringbuf_query flags.
	RingBufAvailData = 0 // BPF_RB_AVAIL_DATA
	RingBufRingSize  = 1 // BPF_RB_RING_SIZE
	RingBufConsPos   = 2 // BPF_RB_CONS_POS
	RingBufProdPos   = 3 // BPF_RB_PROD_POS
)

// ringBufDataPgOff is the page offset of the data area within the kernel's
// struct bpf_ringbuf (a metadata page, then the consumer and producer
// position pages); record headers store their page offset from there.
const ringBufDataPgOff = 3

// Record is a sample delivered to the embedder.
type Record struct {
	// CPU is the CPU that wrote a perf event record; 0 for ring buffers.
	CPU  int
	Data []byte
}

// RawSample is a perf event record's PERF_SAMPLE_RAW data as the kernel
// lays it out and a perf reader (cilium/ebpf's Record.RawSample, libbpf's
// perf_buffer callback) hands it over: Data followed by zeros up to
// RawSize bytes. Data stays the payload as the program wrote it.
func (r Record) RawSample() []byte {
	out := make([]byte, r.RawSize())
	copy(out, r.Data)
	return out
}

// RawSize is the u32 size of the PERF_SAMPLE_RAW field: the payload
// padded so that it and the size field end on an 8-byte boundary
// (perf_prepare_sample: round_up(len + 4, 8) - 4).
func (r Record) RawSize() uint32 { return uint32((len(r.Data)+4+7)&^7 - 4) }

// RingBufMap implements BPF_MAP_TYPE_RINGBUF. Memory is the data area, laid
// out as the kernel's: each record is an 8-byte header (u32 len with the
// BUSY and DISCARD bits, u32 pg_off) followed by the data, padded to 8.
// The kernel maps the data pages twice in a row so a record that wraps
// around is contiguous; here Memory is twice the ring size for the same
// reason, and committing a wrapped record copies its tail to the start.
type RingBufMap struct {
	base
	mask       uint64
	cons, prod uint64
	pending    uint64 // first position that may still be busy
	wakeups    int
}

const ringBufFlags = FlagNUMANode

func newRingBuf(s *Spec, cfg config) (*RingBufMap, error) {
	if err := checkFlags(s, ringBufFlags); err != nil {
		return nil, err
	}
	n := s.MaxEntries
	switch {
	case s.KeySize != 0 || s.ValueSize != 0:
		return nil, specError(s, EINVAL, "key size %d, value size %d, want 0", s.KeySize, s.ValueSize)
	case n&(n-1) != 0 || n%pageSize != 0:
		return nil, specError(s, EINVAL, "size %d is not a power-of-2 multiple of the page size", n)
	}
	if err := cfg.budget.charge(s, 2*uint64(n)); err != nil {
		return nil, err
	}
	return &RingBufMap{
		base: base{spec: s, cpus: cfg.cpus, mem: make([]byte, 2*uint64(n)), stride: 8},
		mask: uint64(n) - 1,
	}, nil
}

func (r *RingBufMap) header(pos uint64) []byte {
	return r.mem[pos&r.mask:][:RingBufHeaderSize]
}

// recordLen is the space a record of size data bytes takes in the ring.
func recordLen(size uint64) uint64 { return (size + RingBufHeaderSize + 7) &^ 7 }

// Reserve reserves size bytes (bpf_ringbuf_reserve) and returns the offset
// of the record's data in Memory. It fails if flags is not 0, or if the
// ring lacks space: the producer may run at most size-1 bytes ahead of
// both the consumer and the oldest uncommitted record.
func (r *RingBufMap) Reserve(size, flags uint64) (int, bool) {
	if flags != 0 || size > maxRecordSize {
		return 0, false
	}
	n := recordLen(size)
	r.mu.Lock()
	defer r.mu.Unlock()
	if n > r.mask+1 {
		return 0, false
	}
	for r.pending < r.prod {
		l := binary.NativeEndian.Uint32(r.header(r.pending))
		if l&RingBufBusyBit != 0 {
			break
		}
		r.pending += recordLen(uint64(l &^ RingBufDiscardBit))
	}
	next := r.prod + n
	if next-r.cons > r.mask || next-r.pending > r.mask {
		return 0, false
	}
	h := r.header(r.prod)
	binary.NativeEndian.PutUint32(h, uint32(size)|RingBufBusyBit)
	binary.NativeEndian.PutUint32(h[4:], uint32(ringBufDataPgOff+(r.prod&r.mask)/pageSize))
	off := int(r.prod&r.mask) + RingBufHeaderSize
	r.prod = next
	return off, true
}

// Submit commits the record whose data is at off (bpf_ringbuf_submit).
func (r *RingBufMap) Submit(off int, flags uint64) { r.commit(off, flags, false) }

// Discard commits the record at off as discarded (bpf_ringbuf_discard).
func (r *RingBufMap) Discard(off int, flags uint64) { r.commit(off, flags, true) }

func (r *RingBufMap) commit(off int, flags uint64, discard bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	hoff := off - RingBufHeaderSize
	if hoff < 0 || hoff > int(r.mask) {
		return // the verifier only lets reserved pointers reach here
	}
	h := r.mem[hoff:]
	l := binary.NativeEndian.Uint32(h)
	if l&RingBufBusyBit == 0 {
		return
	}
	if end := hoff + int(recordLen(uint64(l&^RingBufBusyBit))); end > int(r.mask)+1 {
		// Make the first mapping of the wrapped part agree.
		copy(r.mem, r.mem[r.mask+1:end])
	}
	l &^= RingBufBusyBit
	if discard {
		l |= RingBufDiscardBit
	}
	binary.NativeEndian.PutUint32(h, l)
	if flags&RingBufNoWakeup == 0 {
		r.wakeups++
	}
}

// Output copies data into a new record (bpf_ringbuf_output). It fails with
// EINVAL on unknown flags and EAGAIN when the ring is full.
func (r *RingBufMap) Output(data []byte, flags uint64) error {
	if flags&^(RingBufNoWakeup|RingBufForceWakeup) != 0 {
		return EINVAL
	}
	off, ok := r.Reserve(uint64(len(data)), 0)
	if !ok {
		return EAGAIN
	}
	copy(r.mem[off:], data)
	r.Submit(off, flags)
	return nil
}

// Query answers bpf_ringbuf_query; unknown flags give 0.
func (r *RingBufMap) Query(flags uint64) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch flags {
	case RingBufAvailData:
		return r.prod - r.cons
	case RingBufRingSize:
		return r.mask + 1
	case RingBufConsPos:
		return r.cons
	case RingBufProdPos:
		return r.prod
	}
	return 0
}

// Drain consumes the committed records in order, up to the first record
// still reserved, as a user-space reader does. Discarded records are
// skipped.
func (r *RingBufMap) Drain() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var recs []Record
	for r.cons < r.prod {
		l := binary.NativeEndian.Uint32(r.header(r.cons))
		if l&RingBufBusyBit != 0 {
			break
		}
		size := uint64(l &^ RingBufDiscardBit)
		if l&RingBufDiscardBit == 0 {
			start := r.cons&r.mask + RingBufHeaderSize
			recs = append(recs, Record{Data: append([]byte(nil), r.mem[start:start+size]...)})
		}
		r.cons += recordLen(size)
	}
	return recs
}

// RingBufState is what a ring buffer's future depends on: the consumer
// and producer positions, the oldest position that may still be busy, and
// the bytes between consumer and producer (records not yet consumed).
type RingBufState struct {
	Cons, Prod, Pending uint64
	Live                []byte
}

// State returns a copy of the ring's state, for a trace file to restore.
func (r *RingBufMap) State() RingBufState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := RingBufState{Cons: r.cons, Prod: r.prod, Pending: r.pending}
	for p := r.cons; p < r.prod; p++ {
		s.Live = append(s.Live, r.mem[p&r.mask])
	}
	return s
}

// SetState restores a state State returned (on a ring of the same size).
func (r *RingBufMap) SetState(s RingBufState) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.Prod < s.Cons || s.Prod-s.Cons > r.mask || s.Pending < s.Cons || s.Pending > s.Prod || uint64(len(s.Live)) != s.Prod-s.Cons {
		return EINVAL
	}
	r.cons, r.prod, r.pending = s.Cons, s.Prod, s.Pending
	size := r.mask + 1
	clear(r.mem)
	for i, b := range s.Live {
		r.mem[(s.Cons+uint64(i))&r.mask] = b
	}
	copy(r.mem[size:], r.mem[:size]) // the second mapping of the same pages
	return nil
}

// Wakeups counts commits that would have woken a reader (not
// BPF_RB_NO_WAKEUP).
func (r *RingBufMap) Wakeups() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wakeups
}

// HelperOnly implements vm.HelperOnly: programs reach a ring buffer only
// through the helpers, never its headers.
func (r *RingBufMap) HelperOnly() {}

// The kernel supports none of the element operations on a ring buffer.
func (r *RingBufMap) Lookup(key []byte, cpu int) (int, bool)                { return 0, false }
func (r *RingBufMap) Update(key, value []byte, flags uint64, cpu int) error { return ENOTSUPP }
func (r *RingBufMap) Delete(key []byte) error                               { return ENOTSUPP }
func (r *RingBufMap) Get(key, value []byte) error                           { return ENOTSUPP }
func (r *RingBufMap) Put(key, value []byte, flags uint64) error             { return ENOTSUPP }
func (r *RingBufMap) Remove(key []byte) error                               { return ENOTSUPP }
func (r *RingBufMap) NextKey(key, next []byte) error                        { return ENOTSUPP }
func (r *RingBufMap) Keys() iter.Seq[[]byte]                                { return func(func([]byte) bool) {} }

// DescribeSlot names the unconsumed record covering slot i (8 bytes each)
// by the position of its header: "events@0x40".
func (r *RingBufMap) DescribeSlot(i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	off := uint64(i) * 8
	for pos := r.cons; pos < r.prod; {
		l := binary.NativeEndian.Uint32(r.header(pos))
		n := recordLen(uint64(l &^ (RingBufBusyBit | RingBufDiscardBit)))
		start := pos & r.mask
		if off-start < n || off+r.mask+1-start < n { // the record or its first-mapping copy
			return fmt.Sprintf("%s@%#x", r.Name(), pos)
		}
		pos += n
	}
	return ""
}
