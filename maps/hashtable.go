package maps

// hashTable maps keys to value slots. It keeps the elements in
// insertion order, which is the NextKey order (the kernel's order depends
// on a random hash seed, so any order is faithful), and for LRU maps in
// order of use. LRU tables have all their slots from the start, as the
// kernel preallocates LRU maps; the others grow a slot at a time up to
// max, lowest slot first, and reuse freed slots before growing.
type hashTable struct {
	keySize int
	max     int
	index   map[string]int32
	keys    []byte // keySize bytes per slot
	used    []bool
	free    []int32 // stack of free slots
	order   slotList
	lru     bool
	recency slotList // LRU maps: least recently used first
}

// hashSlotCost is what a slot of the table costs in host memory besides
// its key: used, order, a free-list entry and an index entry (Go map
// overhead and string header, measured roughly).
const hashSlotCost = 1 + 8 + 4 + 48

func newHashTable(keySize, n int, lru bool) *hashTable {
	t := &hashTable{keySize: keySize, max: n, index: make(map[string]int32), lru: lru}
	if !lru {
		t.order = newSlotList(0)
		return t
	}
	t.keys = make([]byte, keySize*n)
	t.used = make([]bool, n)
	t.free = make([]int32, n)
	t.order = newSlotList(n)
	for i := range t.free {
		t.free[i] = int32(n - 1 - i) // hand out low slots first
	}
	t.recency = newSlotList(n)
	return t
}

// grows reports whether the next insert adds a slot, and which.
func (t *hashTable) grows() (int32, bool) {
	if len(t.free) == 0 && len(t.used) < t.max {
		return int32(len(t.used)), true
	}
	return noSlot, false
}

func (t *hashTable) len() int { return len(t.index) }

func (t *hashTable) find(key []byte) (int32, bool) {
	i, ok := t.index[string(key)]
	return i, ok
}

func (t *hashTable) key(i int32) []byte {
	return t.keys[int(i)*t.keySize:][:t.keySize]
}

// insert adds key, which must be absent. When the table is full an LRU
// table evicts its least recently used element, reported as evicted;
// otherwise insert fails with E2BIG, as htab_map_update_elem does.
func (t *hashTable) insert(key []byte) (slot, evicted int32, err error) {
	evicted = noSlot
	if slot, ok := t.grows(); ok {
		t.keys = append(t.keys, make([]byte, t.keySize)...)
		t.used = append(t.used, false)
		t.order.grow()
		t.free = append(t.free, slot)
	}
	if len(t.free) == 0 {
		if !t.lru {
			return noSlot, noSlot, E2BIG
		}
		evicted = t.recency.head
		t.remove(evicted)
	}
	slot = t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	copy(t.key(slot), key)
	t.index[string(key)] = slot
	t.used[slot] = true
	t.order.pushBack(slot)
	if t.lru {
		t.recency.pushBack(slot)
	}
	return slot, evicted, nil
}

func (t *hashTable) remove(slot int32) {
	delete(t.index, string(t.key(slot)))
	t.used[slot] = false
	t.order.remove(slot)
	if t.lru {
		t.recency.remove(slot)
	}
	t.free = append(t.free, slot)
}

// touch marks slot as most recently used.
func (t *hashTable) touch(slot int32) {
	if t.lru {
		t.recency.moveToBack(slot)
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
