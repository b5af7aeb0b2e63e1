package maps

import (
	"encoding/binary"
	"fmt"
	"iter"
	"strconv"
)

// ArrayMap implements BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY:
// max_entries preallocated, zeroed values indexed by a u32 key. Elements
// can't be deleted.
type ArrayMap struct {
	base
	percpu bool
}

const arrayFlags = FlagNUMANode | FlagMmapable | flagAccessMask | FlagPreserveElems | FlagInnerMap

func newArray(s *Spec, cfg config) (*ArrayMap, error) {
	percpu := s.Type == PerCPUArray
	if err := checkFlags(s, arrayFlags); err != nil {
		return nil, err
	}
	switch {
	case s.KeySize != 4:
		return nil, specError(s, EINVAL, "key size %d, want 4", s.KeySize)
	case s.ValueSize == 0:
		return nil, specError(s, EINVAL, "value size 0")
	case percpu && s.Flags&(FlagMmapable|FlagInnerMap) != 0:
		return nil, specError(s, EINVAL, "per-CPU array can't be mmapable or inner map")
	case s.Flags&FlagPreserveElems != 0:
		return nil, specError(s, EINVAL, "BPF_F_PRESERVE_ELEMS is for perf event arrays")
	case s.ValueSize > kmallocMaxSize:
		return nil, specError(s, E2BIG, "value size %d", s.ValueSize)
	case percpu && roundUp8(int(s.ValueSize)) > pcpuMinUnitSize:
		return nil, specError(s, E2BIG, "per-CPU value size %d", s.ValueSize)
	}
	cpus := 1
	if percpu {
		cpus = cfg.cpus
	}
	stride := roundUp8(int(s.ValueSize))
	n := uint64(s.MaxEntries) * uint64(cpus) * uint64(stride)
	if err := cfg.budget.charge(s, n); err != nil {
		return nil, err
	}
	return &ArrayMap{
		base:   base{spec: s, cpus: cfg.cpus, mem: make([]byte, n), stride: stride},
		percpu: percpu,
	}, nil
}

// index decodes an array key; the kernel reads it as a host-endian u32.
func (a *ArrayMap) index(key []byte) (uint32, bool) {
	if len(key) != 4 {
		return 0, false
	}
	i := binary.NativeEndian.Uint32(key)
	return i, i < a.spec.MaxEntries
}

// off is the offset of element i's value for cpu.
func (a *ArrayMap) off(i uint32, cpu int) int {
	if !a.percpu {
		return int(i) * a.stride
	}
	return (int(i)*a.cpus + cpu) * a.stride
}

func (a *ArrayMap) Lookup(key []byte, cpu int) (int, bool) {
	i, ok := a.index(key)
	if !ok || !a.validCPU(cpu) {
		return 0, false
	}
	return a.off(i, cpu), true
}

// checkUpdate mirrors array_map_update_elem's checks, in its order.
func (a *ArrayMap) checkUpdate(key []byte, flags uint64) (uint32, error) {
	if flags&^UpdateLock > UpdateExist {
		return 0, EINVAL
	}
	i, ok := a.index(key)
	if !ok {
		return 0, E2BIG
	}
	if flags&UpdateNoExist != 0 {
		// All elements always exist.
		return 0, EEXIST
	}
	if flags&UpdateLock != 0 && !a.spec.HasSpinLock {
		return 0, EINVAL
	}
	return i, nil
}

func (a *ArrayMap) Update(key, value []byte, flags uint64, cpu int) error {
	if err := a.checkProgWrite(); err != nil {
		return err
	}
	if len(value) != a.ValueSize() || !a.validCPU(cpu) {
		return EINVAL
	}
	i, err := a.checkUpdate(key, flags)
	if err != nil {
		return err
	}
	a.mu.Lock() // helpers' and the syscall's copies of one value do not interleave
	defer a.mu.Unlock()
	return a.copyValue(a.mem[a.off(i, cpu):], value, flags)
}

// Delete always fails: array elements can't be deleted.
func (a *ArrayMap) Delete(key []byte) error { return EINVAL }

func (a *ArrayMap) Get(key, value []byte) error {
	if err := a.checkGet(key, value); err != nil {
		return err
	}
	i, ok := a.index(key)
	if !ok {
		return ENOENT
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.percpu {
		loadValue(value, a.mem[a.off(i, 0):][:a.ValueSize()])
		a.maskLock(value)
		return nil
	}
	// The kernel copies per-CPU values in 8-byte words, padding included.
	loadValue(value, a.mem[a.off(i, 0):][:a.stride*a.cpus])
	return nil
}

func (a *ArrayMap) Put(key, value []byte, flags uint64) error {
	if err := a.checkPut(key, value, flags); err != nil {
		return err
	}
	i, err := a.checkUpdate(key, flags)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.copyValue(a.mem[a.off(i, 0):], value, flags)
}

func (a *ArrayMap) Remove(key []byte) error {
	if err := a.checkRemove(key); err != nil {
		return err
	}
	return EINVAL
}

func (a *ArrayMap) NextKey(key, next []byte) error {
	return arrayNextKey(key, next, a.spec.MaxEntries)
}

// arrayNextKey mirrors array_map_get_next_key: an absent or out-of-range
// key restarts at index 0.
func arrayNextKey(key, next []byte, max uint32) error {
	if len(next) != 4 || (key != nil && len(key) != 4) {
		return EINVAL
	}
	i := uint32(0)
	if key != nil {
		if k := binary.NativeEndian.Uint32(key); k < max {
			if k == max-1 {
				return ENOENT
			}
			i = k + 1
		}
	}
	binary.NativeEndian.PutUint32(next, i)
	return nil
}

func (a *ArrayMap) Keys() iter.Seq[[]byte] { return keysOf(a, 4) }

func (a *ArrayMap) DescribeSlot(i int) string {
	if i < 0 || i*a.stride >= len(a.mem) {
		return ""
	}
	if !a.percpu {
		return a.Name() + "[" + strconv.Itoa(i) + "]"
	}
	return fmt.Sprintf("%s[%d]@cpu%d", a.Name(), i/a.cpus, i%a.cpus)
}
