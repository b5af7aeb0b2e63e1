package maps

import (
	"iter"
)

// UserRingBuf is BPF_MAP_TYPE_USER_RINGBUF.
const UserRingBuf Type = 31

func init() { typeNames[UserRingBuf] = "UserRingBuf" }

// UserRingBufMap implements BPF_MAP_TYPE_USER_RINGBUF: user space writes
// samples (Submit), programs consume them with bpf_user_ringbuf_drain.
// A sample occupies its length rounded up to 8 plus an 8-byte header, as
// in the kernel's ring; Memory holds the sample being drained.
type UserRingBufMap struct {
	base
	samples [][]byte
	used    int
}

func newUserRingBuf(s *Spec, cfg config) (*UserRingBufMap, error) {
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
	if err := cfg.budget.charge(s, uint64(n)); err != nil {
		return nil, err
	}
	return &UserRingBufMap{base: base{spec: s, cpus: cfg.cpus, mem: make([]byte, n), stride: 8}}, nil
}

// Submit appends a sample as user space's ring_buffer__reserve/submit do:
// E2BIG when it can never fit, EAGAIN (libbpf: -ENOSPC) when the ring is
// full.
func (u *UserRingBufMap) Submit(sample []byte) error {
	need := RingBufHeaderSize + roundUp8(len(sample))
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case need > len(u.mem):
		return E2BIG
	case u.used+need > len(u.mem):
		return EAGAIN
	}
	u.samples = append(u.samples, append([]byte(nil), sample...))
	u.used += need
	return nil
}

// Next moves the oldest sample into Memory and returns its length, false
// when there is none. Release gives its room back.
func (u *UserRingBufMap) Next() (int, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.samples) == 0 {
		return 0, false
	}
	return copy(u.mem, u.samples[0]), true
}

// Release drops the sample Next returned.
func (u *UserRingBufMap) Release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.samples) > 0 {
		u.used -= RingBufHeaderSize + roundUp8(len(u.samples[0]))
		u.samples = u.samples[1:]
	}
}

// Pending is the number of samples not yet drained.
func (u *UserRingBufMap) Pending() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.samples)
}

func (u *UserRingBufMap) DescribeSlot(int) string                  { return "sample" }
func (u *UserRingBufMap) Lookup([]byte, int) (int, bool)           { return 0, false }
func (u *UserRingBufMap) Update([]byte, []byte, uint64, int) error { return EOPNOTSUPP }
func (u *UserRingBufMap) Delete([]byte) error                      { return EOPNOTSUPP }
func (u *UserRingBufMap) Get([]byte, []byte) error                 { return EOPNOTSUPP }
func (u *UserRingBufMap) Put([]byte, []byte, uint64) error         { return EOPNOTSUPP }
func (u *UserRingBufMap) Remove([]byte) error                      { return EOPNOTSUPP }
func (u *UserRingBufMap) NextKey([]byte, []byte) error             { return EOPNOTSUPP }
func (u *UserRingBufMap) Keys() iter.Seq[[]byte]                   { return func(func([]byte) bool) {} }
