package maps

import (
	"fmt"
	"iter"
)

// QueueMap implements BPF_MAP_TYPE_QUEUE (FIFO) and BPF_MAP_TYPE_STACK
// (LIFO). They have no keys: programs use Push, Pop and Peek
// (bpf_map_push_elem and friends), which copy values rather than hand out
// pointers. Update and Put push, Get peeks, as the kernel maps them.
type QueueMap struct {
	base
	stack bool
	// A ring of max_entries+1 slots, as in the kernel: head is the next
	// slot to write, tail the oldest element; head == tail when empty.
	head, tail int
	size       int
}

const queueFlags = FlagNUMANode | flagAccessMask

func newQueue(s *Spec, cfg config) (*QueueMap, error) {
	if err := checkFlags(s, queueFlags); err != nil {
		return nil, err
	}
	switch {
	case s.KeySize != 0:
		return nil, specError(s, EINVAL, "key size %d, want 0", s.KeySize)
	case s.ValueSize == 0:
		return nil, specError(s, EINVAL, "value size 0")
	case s.ValueSize > kmallocMaxSize:
		return nil, specError(s, E2BIG, "value size %d", s.ValueSize)
	}
	size := int(s.MaxEntries) + 1
	n := uint64(size) * uint64(s.ValueSize)
	if err := cfg.budget.charge(s, n); err != nil {
		return nil, err
	}
	return &QueueMap{
		base:  base{spec: s, cpus: cfg.cpus, mem: make([]byte, n), stride: int(s.ValueSize)},
		stack: s.Type == Stack,
		size:  size,
	}, nil
}

func (q *QueueMap) slot(i int) []byte { return q.mem[i*q.stride:][:q.stride] }

// Len returns the number of elements.
func (q *QueueMap) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return (q.head - q.tail + q.size) % q.size
}

// Push adds value. When the map is full it fails with E2BIG, unless flags
// is BPF_EXIST, which overwrites the oldest element (for a stack too).
func (q *QueueMap) Push(value []byte, flags uint64) error {
	if flags&UpdateNoExist != 0 || flags > UpdateExist {
		return EINVAL
	}
	if len(value) != q.stride {
		return EINVAL
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if (q.head+1)%q.size == q.tail {
		if flags != UpdateExist {
			return E2BIG
		}
		q.tail = (q.tail + 1) % q.size
	}
	copy(q.slot(q.head), value)
	q.head = (q.head + 1) % q.size
	return nil
}

// Pop removes the oldest (queue) or newest (stack) element into value.
func (q *QueueMap) Pop(value []byte) error { return q.take(value, true) }

// Peek copies the element Pop would remove into value.
func (q *QueueMap) Peek(value []byte) error { return q.take(value, false) }

func (q *QueueMap) take(value []byte, remove bool) error {
	if len(value) != q.stride {
		return EINVAL
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == q.tail {
		return ENOENT
	}
	i := q.tail
	if q.stack {
		i = (q.head - 1 + q.size) % q.size
	}
	copy(value, q.slot(i))
	if remove {
		if q.stack {
			q.head = i
		} else {
			q.tail = (q.tail + 1) % q.size
		}
	}
	return nil
}

// Lookup always misses: programs reach values through Pop and Peek.
func (q *QueueMap) Lookup(key []byte, cpu int) (int, bool) { return 0, false }

func (q *QueueMap) Update(key, value []byte, flags uint64, cpu int) error {
	if err := q.checkProgWrite(); err != nil {
		return err
	}
	return q.Push(value, flags)
}

func (q *QueueMap) Delete(key []byte) error { return EINVAL }

// Get peeks, as BPF_MAP_LOOKUP_ELEM does on these maps.
func (q *QueueMap) Get(key, value []byte) error {
	if err := q.checkGet(key, value); err != nil {
		return err
	}
	return q.Peek(value)
}

// Put pushes, as BPF_MAP_UPDATE_ELEM does on these maps.
func (q *QueueMap) Put(key, value []byte, flags uint64) error {
	if err := q.checkPut(key, value, flags); err != nil {
		return err
	}
	return q.Push(value, flags)
}

// Values yields copies of the elements from the oldest to the newest: the
// order in which pushing them again rebuilds the map, queue or stack.
func (q *QueueMap) Values() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		q.mu.Lock()
		var vals [][]byte
		for i := q.tail; i != q.head; i = (i + 1) % q.size {
			vals = append(vals, append([]byte(nil), q.slot(i)...))
		}
		q.mu.Unlock()
		for _, v := range vals {
			if !yield(v) {
				return
			}
		}
	}
}

func (q *QueueMap) Remove(key []byte) error        { return EINVAL }
func (q *QueueMap) NextKey(key, next []byte) error { return EINVAL }
func (q *QueueMap) Keys() iter.Seq[[]byte]         { return func(func([]byte) bool) {} }

// DescribeSlot names a live element by its distance from the oldest one:
// "jobs[0]" is the next to leave a queue, the first to have entered a stack.
func (q *QueueMap) DescribeSlot(i int) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i < 0 || i >= q.size {
		return ""
	}
	age := (i - q.tail + q.size) % q.size
	if age >= (q.head-q.tail+q.size)%q.size {
		return ""
	}
	return fmt.Sprintf("%s[%d]", q.Name(), age)
}
