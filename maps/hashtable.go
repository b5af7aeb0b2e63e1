package maps

// hashTable maps keys to preallocated slots. It keeps the elements in
// insertion order, which is the NextKey order (the kernel's order depends
// on a random hash seed, so any order is faithful), and for LRU maps in
// order of use.
type hashTable struct {
	keySize int
	index   map[string]int32
	keys    []byte // keySize bytes per slot
	used    []bool
	free    []int32 // stack of free slots
	order   slotList
	lru     bool
	recency slotList // LRU maps: least recently used first
}

func newHashTable(keySize, n int, lru bool) *hashTable {
	t := &hashTable{
		keySize: keySize,
		index:   make(map[string]int32),
		keys:    make([]byte, keySize*n),
		used:    make([]bool, n),
		free:    make([]int32, n),
		order:   newSlotList(n),
		lru:     lru,
	}
	for i := range t.free {
		t.free[i] = int32(n - 1 - i) // hand out low slots first
	}
	if lru {
		t.recency = newSlotList(n)
	}
	return t
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
