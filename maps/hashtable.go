package maps

// hashTable maps keys to value slots. It keeps the elements in insertion
// order, which is the NextKey order (the kernel's order depends on a
// random hash seed, so any order is faithful). The slots of an LRU map are
// all there from the start, as the kernel preallocates LRU maps, and are
// handed out and taken back by its kernelLRU, which also decides what to
// evict. The others grow a slot at a time up to max, lowest slot first,
// and reuse freed slots before growing.
type hashTable struct {
	keySize int
	max     int
	index   map[string]int32
	keys    []byte // keySize bytes per slot
	used    []bool
	free    []int32 // stack of free slots (not for LRU maps)
	order   slotList
	lru     *kernelLRU
}

// hashSlotCost is what a slot of the table costs in host memory besides
// its key: used, order, a free-list entry and an index entry (Go map
// overhead and string header, measured roughly).
const hashSlotCost = 1 + 8 + 4 + 48

func newHashTable(keySize, n int) *hashTable {
	return &hashTable{keySize: keySize, max: n, index: make(map[string]int32), order: newSlotList(0)}
}

// newLRUHashTable is a hashTable whose slots a kernelLRU manages for
// cpus possible CPUs, with per-CPU lists if percpuLRU.
func newLRUHashTable(keySize, n, cpus int, percpuLRU bool) *hashTable {
	t := newHashTable(keySize, n)
	t.keys = make([]byte, keySize*n)
	t.used = make([]bool, n)
	t.order = newSlotList(n)
	t.lru = newKernelLRU(n, cpus, percpuLRU, t.unbind)
	return t
}

// grows reports whether the next insert adds a slot, and which.
func (t *hashTable) grows() (int32, bool) {
	if t.lru == nil && len(t.free) == 0 && len(t.used) < t.max {
		return int32(len(t.used)), true
	}
	return noSlot, false
}

// bind makes slot the element of key, which must be absent.
func (t *hashTable) bind(slot int32, key []byte) {
	copy(t.key(slot), key)
	t.index[string(key)] = slot
	t.used[slot] = true
	t.order.pushBack(slot)
}

// unbind takes slot's element out of the table, leaving the slot to
// whoever manages it.
func (t *hashTable) unbind(slot int32) {
	delete(t.index, string(t.key(slot)))
	t.used[slot] = false
	t.order.remove(slot)
}

func (t *hashTable) len() int { return len(t.index) }

func (t *hashTable) find(key []byte) (int32, bool) {
	i, ok := t.index[string(key)]
	return i, ok
}

func (t *hashTable) key(i int32) []byte {
	return t.keys[int(i)*t.keySize:][:t.keySize]
}

// insert adds key, which must be absent, or fails with E2BIG when the
// table is full, as htab_map_update_elem does. Not for LRU tables.
func (t *hashTable) insert(key []byte) (int32, error) {
	if slot, ok := t.grows(); ok {
		t.keys = append(t.keys, make([]byte, t.keySize)...)
		t.used = append(t.used, false)
		t.order.grow()
		t.free = append(t.free, slot)
	}
	if len(t.free) == 0 {
		return noSlot, E2BIG
	}
	slot := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	t.bind(slot, key)
	return slot, nil
}

// remove deletes slot's element and frees the slot.
func (t *hashTable) remove(slot int32) {
	t.unbind(slot)
	if t.lru != nil {
		t.lru.push(slot)
		return
	}
	t.free = append(t.free, slot)
}

// touch records a program's lookup of slot: an LRU node's reference bit.
func (t *hashTable) touch(slot int32) {
	if t.lru != nil {
		t.lru.setRef(slot)
	}
}

// nextKey mirrors htab_map_get_next_key: an absent key restarts at the
// first element.
func (t *hashTable) nextKey(key, next []byte) error {
	if len(next) != t.keySize || (key != nil && len(key) != t.keySize) {
		return EINVAL
	}
	n := t.order.head
	if key != nil {
		if i, ok := t.find(key); ok {
			n = t.order.next[i]
		}
	}
	if n == noSlot {
		return ENOENT
	}
	copy(next, t.key(n))
	return nil
}
