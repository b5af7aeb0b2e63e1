package maps

import (
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
)

// Local storage map types: a value per kernel object (socket, task,
// cgroup) that programs reach through the *_storage_get helpers.
const (
	SkStorage   Type = 24
	TaskStorage Type = 29
	CgrpStorage Type = 32
)

func init() {
	typeNames[SkStorage] = "SkStorage"
	typeNames[TaskStorage] = "TaskStorage"
	typeNames[CgrpStorage] = "CgrpStorage"
}

// LocalStorageMap implements the local storage maps: at most one value per
// owner, an object the helpers name by a 64-bit id. The kernel sizes
// these maps by their owners (max_entries must be 0); here MaxEntries is
// the number of owners the map can hold at once. User space names owners
// by file descriptors bpfscope does not have: Get, Put and Remove take the
// owner id as an 8-byte key instead.
type LocalStorageMap struct {
	base
	owners map[uint64]int // owner -> slot
	free   []int
}

func newLocalStorage(s *Spec, cfg config) (*LocalStorageMap, error) {
	if err := checkFlags(s, FlagNoPrealloc|FlagRdOnlyProg|FlagWrOnlyProg|flagAccessMask); err != nil {
		return nil, err
	}
	switch {
	case s.Flags&FlagNoPrealloc == 0:
		return nil, specError(s, EINVAL, "local storage needs BPF_F_NO_PREALLOC")
	case s.KeySize != 4:
		return nil, specError(s, EINVAL, "key size %d, want 4 (a file descriptor)", s.KeySize)
	case s.ValueSize == 0:
		return nil, specError(s, EINVAL, "value size 0")
	case s.ValueSize > kmallocMaxSize:
		return nil, specError(s, E2BIG, "value size %d", s.ValueSize)
	}
	stride := roundUp8(int(s.ValueSize))
	n := uint64(s.MaxEntries) * uint64(stride)
	// Charged whole: the kernel allocates storage per owner, but here the
	// values are preallocated (owners index and free list included).
	if err := cfg.budget.charge(s, n+uint64(s.MaxEntries)*hashSlotCost); err != nil {
		return nil, err
	}
	m := &LocalStorageMap{
		base:   base{spec: s, cpus: cfg.cpus, mem: make([]byte, n), stride: stride},
		owners: map[uint64]int{},
	}
	for i := int(s.MaxEntries) - 1; i >= 0; i-- {
		m.free = append(m.free, i)
	}
	return m, nil
}

// Storage returns the offset in Memory of owner's value. With create, a
// missing value is made from init (zeros if nil), as
// BPF_LOCAL_STORAGE_GET_F_CREATE does; false when there is none, or no
// room for a new one.
func (m *LocalStorageMap) Storage(owner uint64, create bool, init []byte) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i, ok := m.owners[owner]; ok {
		return i * m.stride, true
	}
	if !create || len(m.free) == 0 {
		return 0, false
	}
	i := m.free[len(m.free)-1]
	m.free = m.free[:len(m.free)-1]
	m.owners[owner] = i
	v := m.mem[i*m.stride:][:m.stride]
	clear(v)
	if init != nil {
		m.copyValue(v, init, 0)
	}
	return i * m.stride, true
}

// DeleteStorage drops owner's value: ENOENT when it has none.
func (m *LocalStorageMap) DeleteStorage(owner uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.owners[owner]
	if !ok {
		return ENOENT
	}
	delete(m.owners, owner)
	m.free = append(m.free, i)
	return nil
}

func ownerKey(key []byte) (uint64, bool) {
	if len(key) != 8 {
		return 0, false
	}
	return binary.NativeEndian.Uint64(key), true
}

// Lookup, Update and Delete are the helpers' business (the
// *_storage_get/delete helpers); bpf_map_lookup_elem on these maps is
// refused by the verifier.
func (m *LocalStorageMap) Lookup([]byte, int) (int, bool)           { return 0, false }
func (m *LocalStorageMap) Update([]byte, []byte, uint64, int) error { return EOPNOTSUPP }
func (m *LocalStorageMap) Delete([]byte) error                      { return EOPNOTSUPP }

// Get copies the value of the owner named by an 8-byte key.
func (m *LocalStorageMap) Get(key, value []byte) error {
	owner, ok := ownerKey(key)
	if !ok || len(value) != m.ValueSize() {
		return EINVAL
	}
	off, ok := m.Storage(owner, false, nil)
	if !ok {
		return ENOENT
	}
	copy(value, m.mem[off:][:m.ValueSize()])
	m.maskLock(value)
	return nil
}

// Put gives the owner named by an 8-byte key a value.
func (m *LocalStorageMap) Put(key, value []byte, flags uint64) error {
	owner, ok := ownerKey(key)
	if !ok || len(value) != m.ValueSize() || flags > UpdateExist {
		return EINVAL
	}
	m.mu.Lock()
	_, exists := m.owners[owner]
	m.mu.Unlock()
	switch {
	case exists && flags == UpdateNoExist:
		return EEXIST
	case !exists && flags == UpdateExist:
		return ENOENT
	}
	off, ok := m.Storage(owner, true, nil)
	if !ok {
		return E2BIG
	}
	return m.copyValue(m.mem[off:][:m.ValueSize()], value, 0)
}

// Remove drops the value of the owner named by an 8-byte key.
func (m *LocalStorageMap) Remove(key []byte) error {
	owner, ok := ownerKey(key)
	if !ok {
		return EINVAL
	}
	return m.DeleteStorage(owner)
}

// NextKey is not supported by the kernel's local storage maps.
func (m *LocalStorageMap) NextKey(_, _ []byte) error { return EOPNOTSUPP }

// Keys lists the owners holding a value, as 8-byte keys.
func (m *LocalStorageMap) Keys() iter.Seq[[]byte] {
	m.mu.Lock()
	owners := make([]uint64, 0, len(m.owners))
	for o := range m.owners {
		owners = append(owners, o)
	}
	m.mu.Unlock()
	slices.Sort(owners)
	return func(yield func([]byte) bool) {
		for _, o := range owners {
			if !yield(binary.NativeEndian.AppendUint64(nil, o)) {
				return
			}
		}
	}
}

// DescribeSlot names the owner of value slot i.
func (m *LocalStorageMap) DescribeSlot(i int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for o, s := range m.owners {
		if s == i {
			return fmt.Sprintf("owner %#x", o)
		}
	}
	return ""
}
