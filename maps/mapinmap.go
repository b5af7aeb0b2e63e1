package maps

import (
	"encoding/binary"
	"fmt"
	"iter"
)

// ArrayOfMapsMap implements BPF_MAP_TYPE_ARRAY_OF_MAPS: slots holding
// references to inner maps compatible with Spec.InnerMap. Programs get the
// inner map with LookupMap; Lookup only reports presence and the offset of
// a slot whose Memory bytes carry no meaning.
type ArrayOfMapsMap struct {
	*fdArray
}

// HashOfMapsMap implements BPF_MAP_TYPE_HASH_OF_MAPS: a hash table whose
// values are inner map references, set with SetMap.
type HashOfMapsMap struct {
	base
	t    *hashTable
	refs []Map
}

func newMapOfMaps(s *Spec, cfg config) (Map, error) {
	switch inner := s.InnerMap; {
	case inner == nil:
		return nil, specError(s, EINVAL, "missing inner map spec")
	case inner.Type == ArrayOfMaps || inner.Type == HashOfMaps:
		return nil, specError(s, EINVAL, "inner map can't hold maps")
	case s.ValueSize != 4:
		return nil, specError(s, EINVAL, "value size %d, want 4", s.ValueSize)
	}
	if s.Type == ArrayOfMaps {
		a, err := newFDArray(s, cfg, fdArrayFlags)
		if err != nil {
			return nil, err
		}
		return &ArrayOfMapsMap{a}, nil
	}
	if err := checkFlags(s, hashFlags&^FlagNoCommonLRU); err != nil {
		return nil, err
	}
	if s.KeySize == 0 {
		return nil, specError(s, EINVAL, "key size 0")
	}
	if err := cfg.budget.charge(s, uint64(s.MaxEntries)*(8+16+uint64(s.KeySize)+hashSlotCost)); err != nil {
		return nil, err
	}
	return &HashOfMapsMap{
		base: base{spec: s, cpus: cfg.cpus, mem: make([]byte, 8*int(s.MaxEntries)), stride: 8},
		t:    newHashTable(int(s.KeySize), int(s.MaxEntries)),
		refs: make([]Map, s.MaxEntries),
	}, nil
}

// checkInner mirrors bpf_map_meta_equal: an inner map must match the
// template's type, sizes and flags, and for arrays also max_entries
// unless the template has BPF_F_INNER_MAP.
func checkInner(template *Spec, m Map) error {
	if m == nil {
		return EINVAL
	}
	s := m.Spec()
	if s.Type != template.Type || s.KeySize != template.KeySize ||
		s.ValueSize != template.ValueSize || s.Flags != template.Flags {
		return EINVAL
	}
	isArray := s.Type == Array || s.Type == PerCPUArray
	if isArray && template.Flags&FlagInnerMap == 0 && s.MaxEntries != template.MaxEntries {
		return EINVAL
	}
	return nil
}

// SetMap stores m at key (BPF_ANY only, as for all fd arrays).
func (a *ArrayOfMapsMap) SetMap(key []byte, m Map, flags uint64) error {
	if err := checkInner(a.spec.InnerMap, m); err != nil {
		return err
	}
	if len(key) != 4 {
		return EINVAL
	}
	return a.set(binary.NativeEndian.Uint32(key), m, flags)
}

// LookupMap returns the inner map at key, as bpf_map_lookup_elem does for
// programs.
func (a *ArrayOfMapsMap) LookupMap(key []byte) (Map, bool) {
	if len(key) != 4 {
		return nil, false
	}
	ref, ok := a.ref(binary.NativeEndian.Uint32(key))
	if !ok {
		return nil, false
	}
	return ref.(Map), true
}

func (a *ArrayOfMapsMap) Lookup(key []byte, cpu int) (int, bool) {
	if _, ok := a.LookupMap(key); !ok {
		return 0, false
	}
	return int(binary.NativeEndian.Uint32(key)) * a.stride, true
}

// SetMap stores m at key with hash update semantics for flags.
func (h *HashOfMapsMap) SetMap(key []byte, m Map, flags uint64) error {
	if h.spec.Flags&FlagRdOnly != 0 {
		return EPERM
	}
	if err := checkInner(h.spec.InnerMap, m); err != nil {
		return err
	}
	if len(key) != h.KeySize() || flags > UpdateExist {
		return EINVAL
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	switch {
	case ok && flags == UpdateNoExist:
		return EEXIST
	case !ok && flags == UpdateExist:
		return ENOENT
	case !ok:
		var err error
		if slot, err = h.t.insert(key); err != nil {
			return err
		}
	}
	h.refs[slot] = m
	return nil
}

// LookupMap returns the inner map at key.
func (h *HashOfMapsMap) LookupMap(key []byte) (Map, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	if !ok {
		return nil, false
	}
	return h.refs[slot], true
}

func (h *HashOfMapsMap) Lookup(key []byte, cpu int) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	return int(slot) * h.stride, ok
}

// Update and Put fail: values are map references, set with SetMap.
func (h *HashOfMapsMap) Update(key, value []byte, flags uint64, cpu int) error { return EINVAL }
func (h *HashOfMapsMap) Put(key, value []byte, flags uint64) error             { return EINVAL }

// Get fails: the kernel reports the inner map's ID, which this package lacks.
func (h *HashOfMapsMap) Get(key, value []byte) error { return ENOTSUPP }

func (h *HashOfMapsMap) Delete(key []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	if !ok {
		return ENOENT
	}
	h.t.remove(slot)
	h.refs[slot] = nil
	return nil
}

func (h *HashOfMapsMap) Remove(key []byte) error {
	if err := h.checkRemove(key); err != nil {
		return err
	}
	return h.Delete(key)
}

func (h *HashOfMapsMap) NextKey(key, next []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t.nextKey(key, next)
}

func (h *HashOfMapsMap) Keys() iter.Seq[[]byte] { return keysOf(h, h.KeySize()) }

func (h *HashOfMapsMap) DescribeSlot(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i < 0 || i >= len(h.t.used) || !h.t.used[i] {
		return ""
	}
	return fmt.Sprintf("%s->%s", describeKey(h.Name(), h.t.key(int32(i))), h.refs[i].Name())
}
