package maps

import (
	"encoding/binary"
	"fmt"
	"iter"
)

// fdArray is what the kernel's fd-holding arrays share (prog, perf event
// and map-of-maps arrays): u32 keys, 4-byte values, and references that the
// syscall sets, clears and iterates like an array's.
type fdArray struct {
	base
	refs []any
}

func newFDArray(s *Spec, cfg config, allowed uint32) (*fdArray, error) {
	if err := checkFlags(s, allowed); err != nil {
		return nil, err
	}
	if s.KeySize != 4 || s.ValueSize != 4 {
		return nil, specError(s, EINVAL, "key size %d, value size %d, want 4 and 4", s.KeySize, s.ValueSize)
	}
	if err := cfg.budget.charge(s, (8+16)*uint64(s.MaxEntries)); err != nil { // values and refs
		return nil, err
	}
	return &fdArray{
		base: base{spec: s, cpus: cfg.cpus, mem: make([]byte, 8*int(s.MaxEntries)), stride: 8},
		refs: make([]any, s.MaxEntries),
	}, nil
}

func (a *fdArray) index(key []byte) (uint32, error) {
	if len(key) != 4 {
		return 0, EINVAL
	}
	i := binary.NativeEndian.Uint32(key)
	if i >= a.spec.MaxEntries {
		return 0, E2BIG
	}
	return i, nil
}

// set mirrors bpf_fd_array_map_update_elem: only BPF_ANY is allowed.
func (a *fdArray) set(i uint32, ref any, flags uint64) error {
	if a.spec.Flags&FlagRdOnly != 0 {
		return EPERM
	}
	if flags != UpdateAny {
		return EINVAL
	}
	if i >= a.spec.MaxEntries {
		return E2BIG
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refs[i] = ref
	return nil
}

func (a *fdArray) ref(i uint32) (any, bool) {
	if i >= a.spec.MaxEntries {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refs[i], a.refs[i] != nil
}

// Remove mirrors fd_array_map_delete_elem.
func (a *fdArray) Remove(key []byte) error {
	if err := a.checkRemove(key); err != nil {
		return err
	}
	return a.Delete(key)
}

func (a *fdArray) Delete(key []byte) error {
	i, err := a.index(key)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refs[i] == nil {
		return ENOENT
	}
	a.refs[i] = nil
	return nil
}

// Put fails: values are references, set with the type's own setter.
func (a *fdArray) Put(key, value []byte, flags uint64) error { return EINVAL }

func (a *fdArray) Update(key, value []byte, flags uint64, cpu int) error { return EINVAL }

// Get fails as for perf event arrays: references have no byte form here
// (the kernel reports program and map IDs, which this package lacks).
func (a *fdArray) Get(key, value []byte) error { return ENOTSUPP }

func (a *fdArray) Lookup(key []byte, cpu int) (int, bool) { return 0, false }

func (a *fdArray) NextKey(key, next []byte) error {
	return arrayNextKey(key, next, a.spec.MaxEntries)
}

func (a *fdArray) Keys() iter.Seq[[]byte] { return keysOf(a, 4) }

func (a *fdArray) DescribeSlot(i int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i < 0 || i >= len(a.refs) || a.refs[i] == nil {
		return ""
	}
	return fmt.Sprintf("%s[%d]", a.Name(), i)
}

// ProgramArrayMap implements BPF_MAP_TYPE_PROG_ARRAY: slots of program
// references for bpf_tail_call. The references are opaque to this package.
type ProgramArrayMap struct{ *fdArray }

// fdArrayFlags are those fd_array_map_alloc_check allows; program access
// flags make no sense for references.
const fdArrayFlags = FlagNUMANode | FlagRdOnly | FlagWrOnly

func newProgramArray(s *Spec, cfg config) (*ProgramArrayMap, error) {
	a, err := newFDArray(s, cfg, fdArrayFlags)
	if err != nil {
		return nil, err
	}
	return &ProgramArrayMap{a}, nil
}

// SetProgram stores prog at index; a nil prog clears the slot.
func (p *ProgramArrayMap) SetProgram(index uint32, prog any) error {
	return p.set(index, prog, UpdateAny)
}

// Program returns the program at index, as bpf_tail_call looks it up.
func (p *ProgramArrayMap) Program(index uint32) (any, bool) {
	return p.ref(index)
}

// CGroupArrayMap implements BPF_MAP_TYPE_CGROUP_ARRAY: slots of cgroup
// references that bpf_skb_under_cgroup and bpf_current_task_under_cgroup
// test against. Tracing tools declare one to filter by cgroup (BCC's
// libbpf-tools); a user-space run fills none unless told.
type CGroupArrayMap struct{ *fdArray }

func newCGroupArray(s *Spec, cfg config) (*CGroupArrayMap, error) {
	a, err := newFDArray(s, cfg, fdArrayFlags)
	if err != nil {
		return nil, err
	}
	return &CGroupArrayMap{a}, nil
}

// SetCgroup stores a cgroup reference at index; nil clears the slot.
func (c *CGroupArrayMap) SetCgroup(index uint32, cgroup any) error {
	return c.set(index, cgroup, UpdateAny)
}

// Cgroup returns the reference at index.
func (c *CGroupArrayMap) Cgroup(index uint32) (any, bool) { return c.ref(index) }
