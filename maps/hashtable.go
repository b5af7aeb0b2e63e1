package maps

// hashTable maps keys to preallocated slots. It keeps the elements in
// insertion order, which is the NextKey order (the kernel's order depends
// on a random hash seed, so any order is faithful). The slots of an LRU
// map are handed out and taken back by its kernelLRU, which also decides
// what to evict.
type hashTable struct {
	keySize int
	index   map[string]int32
	keys    []byte // keySize bytes per slot
	used    []bool
	free    []int32 // stack of free slots (not for LRU maps)
	order   slotList
	lru     *kernelLRU
}

func newHashTable(keySize, n int) *hashTable {
	t := &hashTable{
		keySize: keySize,
		index:   make(map[string]int32),
		keys:    make([]byte, keySize*n),
		used:    make([]bool, n),
		free:    make([]int32, n),
		order:   newSlotList(n),
	}
	for i := range t.free {
		t.free[i] = int32(n - 1 - i) // hand out low slots first
	}
	return t
}

// newLRUHashTable is a hashTable whose slots a kernelLRU manages for
// cpus possible CPUs, with per-CPU lists if percpuLRU.
func newLRUHashTable(keySize, n, cpus int, percpuLRU bool) *hashTable {
	t := newHashTable(keySize, n)
	t.free = nil
	t.lru = newKernelLRU(n, cpus, percpuLRU, t.unbind)
	return t
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
