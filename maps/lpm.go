package maps

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"iter"
	"slices"
)

// LPMTrieMap implements BPF_MAP_TYPE_LPM_TRIE. A key is a host-endian u32
// prefix length followed by KeySize-4 bytes of data, read most significant
// bit first. Lookup (from programs and the syscall alike) finds the value
// of the longest stored prefix that matches the key's first prefixlen bits.
//
// Elements are indexed by (prefixlen, masked data) per prefix length rather
// than in a bit trie; NextKey reproduces the kernel trie's post-order walk:
// more specific prefixes before the prefixes containing them, 0 bits
// before 1 bits.
//
// Like the kernel's trie, which allocates a node per element, the map
// takes memory as elements arrive: values live in segments (see HashMap).
type LPMTrieMap struct {
	base
	valueSegments
	dataSize int
	index    map[string]int32 // masked key -> slot
	keys     []byte           // the key as last written, per slot
	used     []bool
	free     []int32
	byLen    []int   // number of elements per prefix length
	order    []int32 // slots sorted in NextKey order
	scratch  []byte  // masked key being searched, guarded by mu
}

const lpmFlags = FlagNoPrealloc | FlagNUMANode | flagAccessMask

func newLPMTrie(s *Spec, cfg config) (*LPMTrieMap, error) {
	if err := checkFlags(s, lpmFlags); err != nil {
		return nil, err
	}
	switch {
	case s.Flags&FlagNoPrealloc == 0:
		return nil, specError(s, EINVAL, "LPM trie requires BPF_F_NO_PREALLOC")
	case s.KeySize < lpmKeyHeaderSize+1 || s.KeySize > lpmKeyHeaderSize+lpmDataSizeMax:
		return nil, specError(s, EINVAL, "key size %d", s.KeySize)
	case s.ValueSize == 0 || s.ValueSize > kmallocMaxSize-lpmDataSizeMax-24:
		return nil, specError(s, EINVAL, "value size %d", s.ValueSize)
	}
	stride := roundUp8(int(s.ValueSize))
	t := &LPMTrieMap{
		base:     base{spec: s, cpus: cfg.cpus, stride: stride},
		dataSize: int(s.KeySize) - lpmKeyHeaderSize,
		index:    make(map[string]int32),
		scratch:  make([]byte, s.KeySize),
	}
	t.valueSegments = newSegments(s, cfg.budget, &t.mu, stride, uint64(s.KeySize)+hashSlotCost)
	t.byLen = make([]int, t.maxPrefixLen()+1)
	return t, nil
}

// Value returns the value at offset off (from Lookup), ValueSize bytes.
func (t *LPMTrieMap) Value(off int) []byte { return t.atLocked(off, t.ValueSize()) }

func (t *LPMTrieMap) maxPrefixLen() int { return t.dataSize * 8 }

func (t *LPMTrieMap) key(slot int32) []byte {
	return t.keys[int(slot)*t.KeySize():][:t.KeySize()]
}

func prefixLen(key []byte) int { return int(binary.NativeEndian.Uint32(key)) }

// masked writes key's first plen bits, zero-padded, with plen into scratch.
func (t *LPMTrieMap) masked(key []byte, plen int) []byte {
	m := t.scratch
	binary.NativeEndian.PutUint32(m, uint32(plen))
	data, out := key[lpmKeyHeaderSize:], m[lpmKeyHeaderSize:]
	full := plen / 8
	copy(out, data[:full])
	clear(out[full:])
	if bits := plen % 8; bits != 0 {
		out[full] = data[full] & ^byte(0xff>>bits)
	}
	return m
}

// find returns the slot holding exactly key's prefix.
func (t *LPMTrieMap) find(key []byte) (int32, bool) {
	plen := prefixLen(key)
	if plen > t.maxPrefixLen() {
		return noSlot, false
	}
	slot, ok := t.index[string(t.masked(key, plen))]
	return slot, ok
}

// match returns the slot of the longest prefix matching key. A prefix
// length beyond the maximum matches nothing (as observed on Linux 6.18).
func (t *LPMTrieMap) match(key []byte) (int32, bool) {
	plen := prefixLen(key)
	if plen > t.maxPrefixLen() {
		return noSlot, false
	}
	for l := plen; l >= 0; l-- {
		if t.byLen[l] == 0 {
			continue
		}
		if slot, ok := t.index[string(t.masked(key, l))]; ok {
			return slot, true
		}
	}
	return noSlot, false
}

// compareKeys orders keys as the kernel's post-order trie walk does.
func compareKeys(a, b []byte) int {
	la, lb := prefixLen(a), prefixLen(b)
	da, db := a[lpmKeyHeaderSize:], b[lpmKeyHeaderSize:]
	for bit := range min(la, lb) {
		x := da[bit/8] >> (7 - bit%8) & 1
		y := db[bit/8] >> (7 - bit%8) & 1
		if x != y {
			return int(x) - int(y)
		}
	}
	// One is a prefix of the other: the more specific one comes first.
	return lb - la
}

func (t *LPMTrieMap) Lookup(key []byte, cpu int) (int, bool) {
	if len(key) != t.KeySize() {
		return 0, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, ok := t.match(key)
	return int(slot) * t.stride, ok
}

// update mirrors trie_update_elem (Linux 6.13+, which honours BPF_EXIST and
// BPF_NOEXIST and can replace an element of a full trie).
func (t *LPMTrieMap) update(key, value []byte, flags uint64) error {
	if flags > UpdateExist {
		return EINVAL
	}
	if prefixLen(key) > t.maxPrefixLen() {
		return EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, ok := t.find(key)
	switch {
	case ok && flags == UpdateNoExist:
		return EEXIST
	case ok:
		// The replacing node carries the new key's data, bits beyond the
		// prefix included; NextKey reports them.
		copy(t.key(slot), key)
	case flags == UpdateExist:
		return ENOENT
	case len(t.free) == 0 && len(t.used) == int(t.spec.MaxEntries):
		return ENOSPC
	default:
		if len(t.free) == 0 { // a new slot, lowest first
			if err := t.reserve(int32(len(t.used))); err != nil {
				return err
			}
			t.keys = append(t.keys, make([]byte, t.KeySize())...)
			t.used = append(t.used, false)
			t.free = append(t.free, int32(len(t.used)-1))
		}
		slot = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
		copy(t.key(slot), key)
		t.used[slot] = true
		t.index[string(t.masked(key, prefixLen(key)))] = slot
		t.byLen[prefixLen(key)]++
		i, _ := t.search(key)
		t.order = slices.Insert(t.order, i, slot)
	}
	v := t.at(int(slot)*t.stride, t.stride)
	storeValue(v, value)
	clear(v[len(value):])
	return nil
}

// search finds key's position in t.order.
func (t *LPMTrieMap) search(key []byte) (int, bool) {
	return slices.BinarySearchFunc(t.order, key, func(s int32, k []byte) int {
		return compareKeys(t.key(s), k)
	})
}

func (t *LPMTrieMap) Update(key, value []byte, flags uint64, cpu int) error {
	if err := t.checkProgWrite(); err != nil {
		return err
	}
	if len(key) != t.KeySize() || len(value) != t.ValueSize() {
		return EINVAL
	}
	return t.update(key, value, flags)
}

func (t *LPMTrieMap) Put(key, value []byte, flags uint64) error {
	if err := t.checkPut(key, value, flags); err != nil {
		return err
	}
	return t.update(key, value, flags)
}

func (t *LPMTrieMap) Delete(key []byte) error {
	if err := t.checkProgWrite(); err != nil {
		return err
	}
	return t.remove(key)
}

func (t *LPMTrieMap) Remove(key []byte) error {
	if err := t.checkRemove(key); err != nil {
		return err
	}
	return t.remove(key)
}

func (t *LPMTrieMap) remove(key []byte) error {
	if len(key) != t.KeySize() {
		return EINVAL
	}
	if prefixLen(key) > t.maxPrefixLen() {
		return EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, ok := t.find(key)
	if !ok {
		return ENOENT
	}
	i, _ := t.search(key)
	t.order = slices.Delete(t.order, i, i+1)
	delete(t.index, string(t.masked(key, prefixLen(key))))
	t.byLen[prefixLen(key)]--
	t.used[slot] = false
	t.free = append(t.free, slot)
	return nil
}

// Get returns the value of the longest matching prefix, like the syscall.
func (t *LPMTrieMap) Get(key, value []byte) error {
	if err := t.checkGet(key, value); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, ok := t.match(key)
	if !ok {
		return ENOENT
	}
	loadValue(value, t.at(int(slot)*t.stride, t.ValueSize()))
	return nil
}

// NextKey mirrors trie_get_next_key: an absent key, or one with an invalid
// prefix length, restarts at the first key.
func (t *LPMTrieMap) NextKey(key, next []byte) error {
	if len(next) != t.KeySize() || (key != nil && len(key) != t.KeySize()) {
		return EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.order) == 0 {
		return ENOENT
	}
	i := 0
	if key != nil {
		if slot, ok := t.find(key); ok {
			pos, _ := t.search(t.key(slot))
			i = pos + 1
		}
	}
	if i == len(t.order) {
		return ENOENT
	}
	copy(next, t.key(t.order[i]))
	return nil
}

func (t *LPMTrieMap) Keys() iter.Seq[[]byte] { return keysOf(t, t.KeySize()) }

// DescribeSlot names an element "name{data/prefixlen}".
func (t *LPMTrieMap) DescribeSlot(i int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || i >= len(t.used) || !t.used[i] {
		return ""
	}
	k := t.key(int32(i))
	return fmt.Sprintf("%s{%s/%d}", t.Name(), hex.EncodeToString(k[lpmKeyHeaderSize:]), prefixLen(k))
}
