package maps

import "sync"

// valueSegments holds a map's values in segments that never move, so a
// program's pointer into a value stays valid while its element lives. A
// segment is allocated, and charged to the budget with its slots' side
// tables, when a slot in it is first used: what the kernel allocates per
// element for BPF_F_NO_PREALLOC hash maps and LPM tries costs nothing
// until elements arrive. Maps built on it return nil from Memory and
// implement vm.SegmentedMap.
type valueSegments struct {
	sspec   *Spec
	budget  *Budget
	lock    *sync.Mutex // the map's lock: it guards segs
	elem    int         // bytes per slot
	slots   int         // slots per segment
	perSlot uint64      // side-table bytes charged per slot
	segs    [][]byte
}

// segmentTarget is the size segments aim for: small enough that a map's
// first elements cost little, large enough that a program touches few.
const segmentTarget = 64 << 10

func newSegments(s *Spec, b *Budget, mu *sync.Mutex, elem int, perSlot uint64) valueSegments {
	return valueSegments{sspec: s, budget: b, lock: mu, elem: elem, perSlot: perSlot,
		slots: int(min(uint64(max(1, segmentTarget/elem)), uint64(s.MaxEntries)))}
}

// SegmentSize is the size of each segment (vm.SegmentedMap).
func (v *valueSegments) SegmentSize() int { return v.slots * v.elem }

// Segment returns segment i, nil if it is not allocated (vm.SegmentedMap).
func (v *valueSegments) Segment(i int) []byte {
	v.lock.Lock()
	defer v.lock.Unlock()
	if i < 0 || i >= len(v.segs) {
		return nil
	}
	return v.segs[i]
}

// reserve makes sure slot's segment exists. Called with the lock held.
func (v *valueSegments) reserve(slot int32) error {
	if int(slot)/v.slots < len(v.segs) {
		return nil
	}
	n := v.SegmentSize()
	if err := v.budget.charge(v.sspec, uint64(n)+uint64(v.slots)*v.perSlot); err != nil {
		return err
	}
	v.segs = append(v.segs, make([]byte, n))
	return nil
}

// preallocate takes every segment now, for maps the kernel preallocates.
func (v *valueSegments) preallocate() error {
	n := uint64(v.sspec.MaxEntries)
	if err := v.budget.charge(v.sspec, n*(uint64(v.elem)+v.perSlot)); err != nil {
		return err
	}
	for range (n + uint64(v.slots) - 1) / uint64(v.slots) {
		v.segs = append(v.segs, make([]byte, v.SegmentSize()))
	}
	return nil
}

// at returns the n bytes at offset off, which lie in one slot. Called
// with the lock held.
func (v *valueSegments) at(off, n int) []byte {
	size := v.SegmentSize()
	return v.segs[off/size][off%size:][:n]
}

// atLocked is at for callers not holding the lock.
func (v *valueSegments) atLocked(off, n int) []byte {
	v.lock.Lock()
	defer v.lock.Unlock()
	return v.at(off, n)
}
