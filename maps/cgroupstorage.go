package maps

import "iter"

// The storage maps of cgroup programs (BPF_MAP_TYPE_CGROUP_STORAGE and
// BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE): a value for each cgroup and attach
// type the program is attached to, which the program reaches with
// bpf_get_local_storage. A test run is attached nowhere: the kernel
// gives it storage of its own, zeroed, for the length of the run (package
// helpers maps it per run), and the map holds no value user space could
// see.
const (
	CgroupStorage       Type = 19
	PerCPUCgroupStorage Type = 21
)

func init() {
	typeNames[CgroupStorage] = "CgroupStorage"
	typeNames[PerCPUCgroupStorage] = "PerCPUCgroupStorage"
}

// Value size limits of cgroup_storage_map_alloc on Linux 6.18:
// BPF_LOCAL_STORAGE_MAX_VALUE_SIZE (U16_MAX less the 128-byte
// bpf_local_storage_elem) and, per CPU, PCPU_MIN_UNIT_SIZE.
const (
	cgroupStorageMaxValue       = 65535 - 128
	percpuCgroupStorageMaxValue = 32 << 10
)

// CgroupStorageMap is a cgroup storage map with no cgroup attached: user
// space finds nothing in it (lookups and updates -ENOENT, deletes
// -EINVAL, as the kernel's cgroup_storage_* do for a detached map).
type CgroupStorageMap struct {
	base
}

// newCgroupStorage checks the spec as cgroup_storage_map_alloc does. The
// kernel wants max_entries 0 (storage is per attachment), so New calls
// it before its own max_entries check.
func newCgroupStorage(s *Spec, cfg config) (*CgroupStorageMap, error) {
	limit := uint32(cgroupStorageMaxValue)
	if s.Type == PerCPUCgroupStorage {
		limit = percpuCgroupStorageMaxValue
	}
	switch {
	case s.KeySize != 8 && s.KeySize != 12 && s.KeySize != 16:
		return nil, specError(s, EINVAL, "key size %d, want 8 (a cgroup id) or 16 (struct bpf_cgroup_storage_key)", s.KeySize)
	case s.KeySize == 12:
		return nil, specError(s, EINVAL, "key size 12: struct bpf_cgroup_storage_key is 16 bytes")
	case s.ValueSize == 0:
		return nil, specError(s, EINVAL, "value size 0")
	case s.ValueSize > limit:
		return nil, specError(s, E2BIG, "value size %d above %d", s.ValueSize, limit)
	case s.MaxEntries != 0:
		return nil, specError(s, EINVAL, "max_entries %d: cgroup storage takes 0", s.MaxEntries)
	}
	if err := checkFlags(s, FlagNUMANode|FlagRdOnlyProg|FlagWrOnlyProg|flagAccessMask); err != nil {
		return nil, err
	}
	return &CgroupStorageMap{base: base{spec: s, cpus: cfg.cpus, stride: roundUp8(int(s.ValueSize))}}, nil
}

// UserValueSize is the value size, per CPU for the per-CPU type.
func (m *CgroupStorageMap) UserValueSize() int {
	if m.spec.Type == PerCPUCgroupStorage {
		return roundUp8(m.ValueSize()) * m.cpus
	}
	return m.ValueSize()
}

func (m *CgroupStorageMap) DescribeSlot(int) string { return "" }

// Lookup finds nothing: programs reach cgroup storage only through
// bpf_get_local_storage (the verifier refuses other map helpers).
func (m *CgroupStorageMap) Lookup([]byte, int) (int, bool) { return 0, false }

func (m *CgroupStorageMap) Update(_, _ []byte, _ uint64, _ int) error { return EINVAL }
func (m *CgroupStorageMap) Delete([]byte) error                       { return EINVAL }

// Get is cgroup_storage_lookup_elem from user space: no storage.
func (m *CgroupStorageMap) Get(key, value []byte) error {
	if len(key) != m.KeySize() || len(value) != m.UserValueSize() {
		return EINVAL
	}
	return ENOENT
}

// Put is cgroup_storage_update_elem: -EINVAL for flags other than
// BPF_EXIST and BPF_F_LOCK, else -ENOENT, as it only updates existing
// storage.
func (m *CgroupStorageMap) Put(key, value []byte, flags uint64) error {
	if err := m.checkPut(key, value, flags&^UpdateLock); err != nil {
		return err
	}
	if flags&^(UpdateExist|UpdateLock) != 0 || flags&UpdateLock != 0 && !m.spec.HasSpinLock {
		return EINVAL
	}
	return ENOENT
}

// Remove is cgroup_storage_delete_elem, which always refuses.
func (m *CgroupStorageMap) Remove([]byte) error { return EINVAL }

// NextKey finds no key.
func (m *CgroupStorageMap) NextKey(_, _ []byte) error { return ENOENT }

func (m *CgroupStorageMap) Keys() iter.Seq[[]byte] { return func(func([]byte) bool) {} }
