package maps

import (
	"encoding/binary"
	"slices"
)

// BPF_F_INDEX_MASK and BPF_F_CURRENT_CPU, the index part of
// bpf_perf_event_output's flags.
const (
	PerfIndexMask  = 0xffffffff
	PerfCurrentCPU = PerfIndexMask
)

// PerfEventArrayMap implements BPF_MAP_TYPE_PERF_EVENT_ARRAY. Each slot
// holds an emulated BPF-output perf event bound to one CPU: Put stores it
// with the CPU number as the value, where the kernel takes the fd of an
// event opened on that CPU. Records wait until Drain: unbounded, or, after
// SetRingSize, within each CPU's ring as a perf reader maps it.
type PerfEventArrayMap struct {
	*fdArray
	records  []Record
	ringSize int
	used     map[int]int // bytes of unread records per CPU
}

// perfRecordHeader is sizeof(struct perf_event_header) plus the u32 size
// of the PERF_SAMPLE_RAW field: what a BPF output record takes in the ring
// besides its RawSample.
const perfRecordHeader = 8 + 4

// SetRingSize bounds the unread records of each CPU to n bytes, the data
// area of the ring a reader mapped (cilium/ebpf's perf.NewReader
// per-CPU buffer size rounded up to pages, libbpf's page_cnt pages): a
// record that does not fit fails with -ENOSPC, as perf_output_begin
// fails it (a 4096-byte ring takes records of up to 4088 bytes: a
// RawSample of 4076), and Drain empties the rings. 0 means unbounded.
// A record of 64 KiB or more (a packet appended from a jumbo XDP frame)
// overflows perf_event_header's u16 size; the helper still succeeds when
// the truncated size fits, and no reader gets the record, as measured on
// Linux 6.18.
func (p *PerfEventArrayMap) SetRingSize(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ringSize = n
}

// perfEvent is the reference a slot holds: an event open on cpu.
type perfEvent struct{ cpu int }

func newPerfEventArray(s *Spec, cfg config) (*PerfEventArrayMap, error) {
	a, err := newFDArray(s, cfg, fdArrayFlags|FlagPreserveElems)
	if err != nil {
		return nil, err
	}
	return &PerfEventArrayMap{fdArray: a}, nil
}

// Put binds slot key to an event on the CPU that value (a u32) names.
func (p *PerfEventArrayMap) Put(key, value []byte, flags uint64) error {
	if len(key) != 4 || len(value) != 4 {
		return EINVAL
	}
	cpu := binary.NativeEndian.Uint32(value)
	if int64(cpu) >= int64(p.cpus) {
		return EINVAL
	}
	return p.set(binary.NativeEndian.Uint32(key), perfEvent{int(cpu)}, flags)
}

// OpenAll binds slot i to CPU i for every CPU, as a reader usually does.
func (p *PerfEventArrayMap) OpenAll() {
	for i := range min(p.cpus, p.maxEntries()) {
		p.set(uint32(i), perfEvent{i}, UpdateAny)
	}
}

// Output appends data as a record (bpf_perf_event_output) from cpu. The
// index in flags selects the slot, BPF_F_CURRENT_CPU meaning cpu's; the
// event there must be bound to cpu.
func (p *PerfEventArrayMap) Output(cpu int, flags uint64, data []byte) error {
	if flags&^PerfIndexMask != 0 {
		return EINVAL
	}
	i := flags & PerfIndexMask
	if i == PerfCurrentCPU {
		i = uint64(cpu)
	}
	if i >= uint64(p.maxEntries()) {
		return E2BIG
	}
	ref, ok := p.ref(uint32(i))
	if !ok {
		return ENOENT
	}
	if ref.(perfEvent).cpu != cpu {
		return EOPNOTSUPP
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := Record{CPU: cpu, Data: slices.Clone(data)}
	size := perfRecordHeader + int(rec.RawSize())
	// perf_event_header.size is a u16: the kernel reserves a record of
	// 64 KiB or more by its size modulo 64 Ki, and readers then find a
	// corrupt record where it should be.
	need := size & 0xffff
	if p.ringSize > 0 {
		// perf_output_begin wants CIRC_SPACE: one byte of the ring
		// always stays free, so a record never fills it.
		if p.used[cpu]+need > p.ringSize-1 {
			return ENOSPC
		}
		if p.used == nil {
			p.used = map[int]int{}
		}
		p.used[cpu] += need
	}
	if size > 0xffff {
		return nil // the helper succeeds, no reader gets the record
	}
	p.records = append(p.records, rec)
	return nil
}

// Drain returns and forgets the records output so far, in output order.
func (p *PerfEventArrayMap) Drain() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	recs := p.records
	p.records, p.used = nil, nil
	return recs
}
