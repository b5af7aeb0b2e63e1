package maps

import (
	"fmt"
	"iter"
)

// HashMap implements BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH and
// LRU_PERCPU_HASH.
//
// LRU maps evict as the kernel's do (see kernelLRU): in batches, from
// per-CPU free lists, with a second chance for elements a program looked
// up (Get, like the syscall, does not count), so the same operations on
// the same CPUs leave the same keys. Every update of an LRU_HASH takes a
// new element, even for an existing key, which may evict. Operations from
// user space (Put, Remove) act as on CPU 0; BPF_F_NO_COMMON_LRU rounds
// max_entries up to a multiple of the CPU count and gives each CPU its
// own lists.
//
// Updating an existing element of a HASH or PERCPU_HASH rewrites its value
// in place; the kernel swaps in a new element for non-per-CPU hashes, so
// old value pointers see the update here but not in the kernel. LRU_HASH
// swaps, as the kernel does.
//
// Values live in segments that never move: a program's pointer into a
// value stays valid while the element lives. A hash map allocates (and
// charges to its Budget) a segment when its elements first need it, as
// the kernel allocates elements of a BPF_F_NO_PREALLOC map, so max_entries
// costs nothing until used; an LRU map, which the kernel always
// preallocates, takes all its segments at creation. Memory returns nil:
// package vm maps the segments (see vm.SegmentedMap).
type HashMap struct {
	base
	valueSegments
	percpu bool
	t      *hashTable
}

const hashFlags = FlagNoPrealloc | FlagNoCommonLRU | FlagNUMANode | flagAccessMask | FlagZeroSeed

// htabElemSize is sizeof(struct htab_elem) on x86-64, for the size limit.
const htabElemSize = 48

func newHash(s *Spec, cfg config) (*HashMap, error) {
	percpu := s.Type.hasPerCPUValue()
	lru := s.Type == LRUHash || s.Type == LRUCPUHash
	percpuLRU := s.Flags&FlagNoCommonLRU != 0
	if err := checkFlags(s, hashFlags); err != nil {
		return nil, err
	}
	switch {
	case !lru && percpuLRU:
		return nil, specError(s, EINVAL, "BPF_F_NO_COMMON_LRU without LRU")
	case lru && s.Flags&FlagNoPrealloc != 0:
		return nil, specError(s, ENOTSUPP, "LRU map without preallocation")
	case s.Flags&FlagNUMANode != 0 && (percpu || percpuLRU):
		return nil, specError(s, EINVAL, "NUMA node for per-CPU map")
	case s.KeySize == 0 || s.ValueSize == 0:
		return nil, specError(s, EINVAL, "key size %d, value size %d", s.KeySize, s.ValueSize)
	case uint64(s.KeySize)+uint64(s.ValueSize) >= kmallocMaxSize-htabElemSize:
		return nil, specError(s, E2BIG, "key size %d + value size %d", s.KeySize, s.ValueSize)
	case percpu && roundUp8(int(s.ValueSize)) > pcpuMinUnitSize:
		return nil, specError(s, E2BIG, "per-CPU value size %d", s.ValueSize)
	}
	if percpuLRU {
		// Each CPU's LRU list gets the same number of elements.
		n := uint64(cfg.cpus)
		max := (uint64(s.MaxEntries) + n - 1) / n * n
		if max > 1<<32-1 {
			max = uint64(s.MaxEntries) / n * n
		}
		s.MaxEntries = uint32(max)
	}
	cpus := 1
	if percpu {
		cpus = cfg.cpus
	}
	stride := roundUp8(int(s.ValueSize))
	h := &HashMap{base: base{spec: s, cpus: cfg.cpus, stride: stride}, percpu: percpu}
	h.valueSegments = newSegments(s, cfg.budget, &h.mu, cpus*stride, uint64(s.KeySize)+hashSlotCost)
	h.t = newHashTable(int(s.KeySize), int(s.MaxEntries))
	if lru { // preallocated, LRU lists included, as the kernel does
		h.perSlot += 16
		if err := h.preallocate(); err != nil {
			return nil, err
		}
		h.t = newLRUHashTable(int(s.KeySize), int(s.MaxEntries), cfg.cpus, percpuLRU)
	}
	return h, nil
}

// Value returns the value at offset off (from Lookup), ValueSize bytes.
func (h *HashMap) Value(off int) []byte { return h.atLocked(off, h.ValueSize()) }

// valueOff is the offset of slot's value for cpu.
func (h *HashMap) valueOff(slot int32, cpu int) int {
	if !h.percpu {
		return int(slot) * h.stride
	}
	return (int(slot)*h.cpus + cpu) * h.stride
}

// elemBytes is all of slot's storage: every CPU's value and padding.
// Called with mu held.
func (h *HashMap) elemBytes(slot int32) []byte {
	return h.at(h.valueOff(slot, 0), h.elem)
}

// Len returns the number of elements.
func (h *HashMap) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t.len()
}

func (h *HashMap) Lookup(key []byte, cpu int) (int, bool) {
	if !h.validCPU(cpu) {
		return 0, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	if !ok {
		return 0, false
	}
	h.t.touch(slot)
	return h.valueOff(slot, cpu), true
}

// allCPUs selects the syscall's view of a value: every CPU's slot.
const allCPUs = -1

// update mirrors htab_map_update_elem and its per-CPU and LRU variants.
// With cpu == allCPUs, value holds the element's whole storage.
func (h *HashMap) update(key, value []byte, flags uint64, cpu int) error {
	if flags&^UpdateLock > UpdateExist {
		return EINVAL
	}
	if flags&UpdateLock != 0 && !h.spec.HasSpinLock {
		return EINVAL
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.t.lru != nil {
		return h.updateLRU(key, value, flags&^UpdateLock, cpu)
	}
	slot, ok := h.t.find(key)
	switch {
	case ok && flags&^UpdateLock == UpdateNoExist:
		return EEXIST
	case !ok && flags&^UpdateLock == UpdateExist:
		return ENOENT
	case ok:
		h.t.touch(slot)
	default:
		if next, grows := h.t.grows(); grows {
			if err := h.reserve(next); err != nil {
				return err
			}
		}
		var err error
		if slot, err = h.t.insert(key); err != nil {
			return err
		}
		// A program sets only its CPU's value; the others start zeroed.
		clear(h.elemBytes(slot))
	}
	return h.setValue(slot, value, cpu, flags)
}

func (h *HashMap) setValue(slot int32, value []byte, cpu int, flags uint64) error {
	if cpu == allCPUs {
		// Per-CPU values are copied in 8-byte words, padding included.
		storeValue(h.elemBytes(slot), value)
		return nil
	}
	return h.copyValue(h.elemBytes(slot)[h.valueOff(slot, cpu)-h.valueOff(slot, 0):], value, flags)
}

// userCPU is the CPU user-space operations on LRU maps act on.
const userCPU = 0

// updateLRU is htab_lru_map_update_elem and
// htab_lru_percpu_map_update_elem: the new element's node is taken before
// the key is looked up (which may evict the key itself), and given back
// when the update fails or, per-CPU, is not needed.
func (h *HashMap) updateLRU(key, value []byte, kind uint64, cpu int) error {
	lcpu := cpu
	if cpu == allCPUs {
		lcpu = userCPU
	}
	lru := h.t.lru
	slot := int32(noSlot)
	if !h.percpu || kind != UpdateExist {
		var ok bool
		if slot, ok = lru.pop(lcpu); !ok {
			return ENOMEM
		}
	}
	old, found := h.t.find(key)
	var err error
	switch {
	case found && kind == UpdateNoExist:
		err = EEXIST
	case !found && kind == UpdateExist:
		err = ENOENT
	case h.percpu && found:
		// Per-CPU values are updated in place.
		lru.setRef(old)
		h.setValue(old, value, cpu, 0)
	default:
		clear(h.elemBytes(slot))
		h.setValue(slot, value, cpu, 0)
		if found {
			h.t.unbind(old)
			lru.setRef(slot)
		}
		h.t.bind(slot, key)
		if found {
			lru.push(old)
		}
		slot = noSlot
	}
	if slot != noSlot {
		lru.push(slot)
	}
	return err
}

func (h *HashMap) Update(key, value []byte, flags uint64, cpu int) error {
	if err := h.checkProgWrite(); err != nil {
		return err
	}
	if len(key) != h.KeySize() || len(value) != h.ValueSize() || !h.validCPU(cpu) {
		return EINVAL
	}
	return h.update(key, value, flags, cpu)
}

func (h *HashMap) Put(key, value []byte, flags uint64) error {
	if err := h.checkPut(key, value, flags); err != nil {
		return err
	}
	if !h.percpu {
		return h.update(key, value, flags, 0)
	}
	return h.update(key, value, flags, allCPUs)
}

func (h *HashMap) Delete(key []byte) error {
	if err := h.checkProgWrite(); err != nil {
		return err
	}
	return h.remove(key)
}

func (h *HashMap) Remove(key []byte) error {
	if err := h.checkRemove(key); err != nil {
		return err
	}
	return h.remove(key)
}

func (h *HashMap) remove(key []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	if !ok {
		return ENOENT
	}
	h.t.remove(slot)
	return nil
}

func (h *HashMap) Get(key, value []byte) error {
	if err := h.checkGet(key, value); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	if !ok {
		return ENOENT
	}
	loadValue(value, h.elemBytes(slot))
	h.maskLock(value)
	return nil
}

func (h *HashMap) NextKey(key, next []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t.nextKey(key, next)
}

func (h *HashMap) Keys() iter.Seq[[]byte] { return keysOf(h, h.KeySize()) }

func (h *HashMap) DescribeSlot(i int) string {
	slot, cpu := i, 0
	if h.percpu {
		slot, cpu = i/h.cpus, i%h.cpus
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if slot < 0 || slot >= len(h.t.used) || !h.t.used[slot] {
		return ""
	}
	s := describeKey(h.Name(), h.t.key(int32(slot)))
	if h.percpu {
		s += fmt.Sprintf("@cpu%d", cpu)
	}
	return s
}
