package maps

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"
	"slices"
)

// The redirect maps of XDP (DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP) hold
// devices, CPU queues and AF_XDP sockets. Programs only look entries up
// (bpf_redirect_map, and bpf_map_lookup_elem on devmaps and xskmaps);
// user space fills them. Their values name kernel objects, so updates
// accept what exists here: the network devices of WithNetDevices, the
// possible CPUs, and no programs (a program fd in a value is refused, as
// the kernel refuses any fd that is not a devmap or cpumap program).

// Values of devmaps and cpumaps: struct bpf_devmap_val {u32 ifindex;
// union {int fd; u32 id} bpf_prog;} and struct bpf_cpumap_val {u32 qsize;
// union {int fd; u32 id} bpf_prog;}. value_size is 4 (without the program)
// or 8; user space writes a program fd and reads back its id.
const (
	redirectValueShort = 4
	redirectValueLong  = 8

	cpumapMaxQsize = 16384 // cpu_map_update_elem's sanity limit
	// nrCPUs is CONFIG_NR_CPUS of x86-64 distribution kernels (MAXSMP),
	// the limit on a cpumap's max_entries.
	nrCPUs = 8192
)

// loopbackIfindex is the device every network namespace has.
const loopbackIfindex = 1

// WithNetDevices sets the ifindexes of the network devices that devmap
// updates may name (default: loopback, 1, alone). The kernel refuses an
// ifindex with no device in the caller's network namespace.
func WithNetDevices(ifindexes ...uint32) Option {
	return func(c *config) {
		c.netdevs = map[uint32]bool{}
		for _, i := range ifindexes {
			c.netdevs[i] = true
		}
	}
}

func (c *config) netdevExists(ifindex uint32) bool {
	if c.netdevs == nil {
		return ifindex == loopbackIfindex
	}
	return c.netdevs[ifindex]
}

// checkRedirectSpec mirrors dev_map_alloc_check, cpu_map_alloc and
// xsk_map_alloc. Devmaps get BPF_F_RDONLY_PROG, as dev_map_init_map
// forces it: programs may read their values, never write them.
func checkRedirectSpec(s *Spec, cfg config) error {
	const devFlags = FlagNUMANode | FlagRdOnly | FlagWrOnly
	flags, valueOK := uint32(devFlags), s.ValueSize == redirectValueShort || s.ValueSize == redirectValueLong
	switch s.Type {
	case CPUMap:
		flags = FlagNUMANode
	case XSKMap:
		valueOK = s.ValueSize == 4
	}
	if s.KeySize != 4 || !valueOK || s.Flags&^flags != 0 {
		return specError(s, EINVAL, "key size %d, value size %d, flags %#x", s.KeySize, s.ValueSize, s.Flags)
	}
	switch {
	case s.Type == DevMapHash && s.MaxEntries > 1<<31:
		return specError(s, EINVAL, "max_entries %d above 2^31", s.MaxEntries)
	case s.Type == CPUMap && s.MaxEntries > nrCPUs:
		return specError(s, E2BIG, "max_entries %d above NR_CPUS (%d)", s.MaxEntries, nrCPUs)
	}
	if s.Type == DevMap || s.Type == DevMapHash {
		s.Flags |= FlagRdOnlyProg
	}
	// Values, and a slot's state: set flag, socket reference, or for
	// devmap hashes a hash table entry.
	return cfg.budget.charge(s, uint64(s.MaxEntries)*(8+16+uint64(s.KeySize)+hashSlotCost))
}

// redirectValue decodes a devmap or cpumap value from user space: the
// first u32 and, in an 8-byte value, the program fd.
func redirectValue(value []byte) (first uint32, progFD int32) {
	first = binary.NativeEndian.Uint32(value)
	if len(value) >= redirectValueLong {
		progFD = int32(binary.NativeEndian.Uint32(value[4:]))
	}
	return first, progFD
}

// slotArray is what DEVMAP, CPUMAP and XSKMAP share: u32 keys below
// max_entries naming slots that are empty until set, NextKey as for
// arrays, and delete that empties a slot without ENOENT. A set slot's
// value (the kernel's view of it: ifindex or qsize, program id 0) lies in
// Memory at 8 bytes per slot.
type slotArray struct {
	base
	set  []bool
	refs []any // XSKMAP: the sockets
}

func newSlotArray(s *Spec, cfg config) (*slotArray, error) {
	if err := checkRedirectSpec(s, cfg); err != nil {
		return nil, err
	}
	n := int(s.MaxEntries)
	return &slotArray{base: base{spec: s, cpus: cfg.cpus, mem: make([]byte, 8*n), stride: 8}, set: make([]bool, n)}, nil
}

func (a *slotArray) index(key []byte) (uint32, bool) {
	if len(key) != 4 {
		return 0, false
	}
	i := binary.NativeEndian.Uint32(key)
	return i, i < a.spec.MaxEntries
}

// checkSlotUpdate mirrors the start of dev_map_update_elem,
// cpu_map_update_elem and xsk_map_update_elem.
func (a *slotArray) checkSlotUpdate(key []byte, flags uint64) (uint32, error) {
	if flags > UpdateExist {
		return 0, EINVAL
	}
	i, ok := a.index(key)
	if !ok {
		return 0, E2BIG
	}
	return i, nil
}

// store sets slot i to the value the kernel reports for it, or empties it.
func (a *slotArray) store(i uint32, first uint32, set bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.mem[8*i : 8*i+8]
	clear(v)
	binary.NativeEndian.PutUint32(v, first)
	a.set[i] = set
}

func (a *slotArray) Lookup(key []byte, cpu int) (int, bool) {
	i, ok := a.index(key)
	if !ok {
		return 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return 8 * int(i), a.set[i]
}

func (a *slotArray) Get(key, value []byte) error {
	if err := a.checkGet(key, value); err != nil {
		return err
	}
	i, ok := a.index(key)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok || !a.set[i] {
		return ENOENT
	}
	copy(value, a.mem[8*i:][:a.ValueSize()])
	return nil
}

// Delete empties a slot: dev_map_delete_elem, cpu_map_delete_elem and
// xsk_map_delete_elem fail only for keys out of range.
func (a *slotArray) Delete(key []byte) error {
	i, ok := a.index(key)
	if !ok {
		return EINVAL
	}
	a.store(i, 0, false)
	if a.refs != nil {
		a.mu.Lock()
		a.refs[i] = nil
		a.mu.Unlock()
	}
	return nil
}

func (a *slotArray) Remove(key []byte) error {
	if err := a.checkRemove(key); err != nil {
		return err
	}
	return a.Delete(key)
}

// Update fails: the verifier lets programs only look these maps up.
func (a *slotArray) Update(key, value []byte, flags uint64, cpu int) error { return EINVAL }

func (a *slotArray) NextKey(key, next []byte) error {
	return arrayNextKey(key, next, a.spec.MaxEntries)
}

// Keys lists every index, empty slots included, as NextKey does.
func (a *slotArray) Keys() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for i := range a.spec.MaxEntries {
			if !yield(binary.NativeEndian.AppendUint32(nil, i)) {
				return
			}
		}
	}
}

func (a *slotArray) DescribeSlot(i int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i < 0 || i >= len(a.set) || !a.set[i] {
		return ""
	}
	return fmt.Sprintf("%s[%d]", a.Name(), i)
}

// DevMapMap implements BPF_MAP_TYPE_DEVMAP: slots holding network devices,
// set by ifindex. Programs may look a slot up and read its struct
// bpf_devmap_val.
type DevMapMap struct {
	*slotArray
	netdev func(uint32) bool
}

func newDevMap(s *Spec, cfg config) (*DevMapMap, error) {
	a, err := newSlotArray(s, cfg)
	if err != nil {
		return nil, err
	}
	return &DevMapMap{a, cfg.netdevExists}, nil
}

// Put mirrors __dev_map_update_elem: ifindex 0 empties the slot.
func (d *DevMapMap) Put(key, value []byte, flags uint64) error {
	if err := d.checkPut(key, value, flags); err != nil {
		return err
	}
	i, err := d.checkSlotUpdate(key, flags)
	if err != nil {
		return err
	}
	if flags == UpdateNoExist {
		return EEXIST // every slot exists
	}
	ifindex, fd := redirectValue(value)
	if fd > 0 || (ifindex != 0 && !d.netdev(ifindex)) {
		return EINVAL
	}
	d.store(i, ifindex, ifindex != 0)
	return nil
}

// Ifindex returns the device in slot key, as bpf_redirect_map finds it.
func (d *DevMapMap) Ifindex(key uint32) (uint32, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if key >= uint32(len(d.set)) || !d.set[key] {
		return 0, false
	}
	return binary.NativeEndian.Uint32(d.mem[8*key:]), true
}

// CPUMapMap implements BPF_MAP_TYPE_CPUMAP: one slot per CPU, set with a
// struct bpf_cpumap_val whose qsize > 0 sizes the CPU's queue (0 empties
// the slot). Programs only redirect to it.
type CPUMapMap struct{ *slotArray }

func newCPUMap(s *Spec, cfg config) (*CPUMapMap, error) {
	a, err := newSlotArray(s, cfg)
	if err != nil {
		return nil, err
	}
	return &CPUMapMap{a}, nil
}

// Put mirrors cpu_map_update_elem. A program fd fails the queue's
// allocation, which the kernel reports as ENOMEM.
func (c *CPUMapMap) Put(key, value []byte, flags uint64) error {
	if err := c.checkPut(key, value, flags); err != nil {
		return err
	}
	i, err := c.checkSlotUpdate(key, flags)
	if err != nil {
		return err
	}
	qsize, fd := redirectValue(value)
	switch {
	case flags == UpdateNoExist:
		return EEXIST
	case qsize > cpumapMaxQsize:
		return EOVERFLOW
	case !c.validCPU(int(i)):
		return ENODEV
	case qsize != 0 && fd > 0:
		return ENOMEM
	}
	c.store(i, qsize, qsize != 0)
	return nil
}

// XSKMapMap implements BPF_MAP_TYPE_XSKMAP: slots holding AF_XDP sockets.
// The kernel's values are socket fds; there are no sockets here, so Put
// fails as for an fd that is not open, and embedders place sockets (any
// reference) with SetSocket. Programs may look a slot up; the pointer
// they get (the kernel's struct xdp_sock) leads to 8 meaningless bytes.
type XSKMapMap struct{ *slotArray }

func newXSKMap(s *Spec, cfg config) (*XSKMapMap, error) {
	a, err := newSlotArray(s, cfg)
	if err != nil {
		return nil, err
	}
	a.refs = make([]any, s.MaxEntries)
	return &XSKMapMap{a}, nil
}

// Put mirrors xsk_map_update_elem up to its socket lookup, which finds no
// socket here (EBADF).
func (x *XSKMapMap) Put(key, value []byte, flags uint64) error {
	if err := x.checkPut(key, value, flags); err != nil {
		return err
	}
	if _, err := x.checkSlotUpdate(key, flags); err != nil {
		return err
	}
	return EBADF
}

// SetSocket places sock in slot key with xsk_map_update_elem's flag
// rules; a nil sock empties the slot.
func (x *XSKMapMap) SetSocket(key uint32, sock any, flags uint64) error {
	if x.spec.Flags&FlagRdOnly != 0 {
		return EPERM
	}
	i, err := x.checkSlotUpdate(binary.NativeEndian.AppendUint32(nil, key), flags)
	if err != nil {
		return err
	}
	if sock == nil {
		return x.Delete(binary.NativeEndian.AppendUint32(nil, key))
	}
	x.mu.Lock()
	old := x.refs[i]
	switch {
	case old != nil && flags == UpdateNoExist:
		x.mu.Unlock()
		return EEXIST
	case old == nil && flags == UpdateExist:
		x.mu.Unlock()
		return ENOENT
	}
	x.refs[i] = sock
	x.mu.Unlock()
	x.store(i, 0, true)
	return nil
}

// Socket returns the socket in slot key.
func (x *XSKMapMap) Socket(key uint32) (any, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if key >= uint32(len(x.refs)) || x.refs[key] == nil {
		return nil, false
	}
	return x.refs[key], true
}

// Get fails: xsk_map_lookup_elem_sys_only refuses user-space lookups.
func (x *XSKMapMap) Get(key, value []byte) error {
	if err := x.checkGet(key, value); err != nil {
		return err
	}
	return EOPNOTSUPP
}

// DevMapHashMap implements BPF_MAP_TYPE_DEVMAP_HASH: network devices keyed
// by any u32 (usually the ifindex). Its NextKey order is the kernel's,
// which has no random seed: buckets (key modulo max_entries rounded up to
// a power of two) in order, newest element first within a bucket.
type DevMapHashMap struct {
	base
	t       *hashTable
	buckets map[uint32][]uint32 // bucket -> keys, newest first
	mask    uint32
	netdev  func(uint32) bool
}

func newDevMapHash(s *Spec, cfg config) (*DevMapHashMap, error) {
	if err := checkRedirectSpec(s, cfg); err != nil {
		return nil, err
	}
	return &DevMapHashMap{
		base:    base{spec: s, cpus: cfg.cpus, mem: make([]byte, 8*int(s.MaxEntries)), stride: 8},
		t:       newHashTable(4, int(s.MaxEntries)),
		buckets: map[uint32][]uint32{},
		mask:    uint32(1<<bits.Len32(s.MaxEntries-1)) - 1,
		netdev:  cfg.netdevExists,
	}, nil
}

// Put mirrors __dev_map_hash_update_elem: ifindex 0 is invalid; with
// BPF_EXIST an absent key is still added.
func (h *DevMapHashMap) Put(key, value []byte, flags uint64) error {
	if err := h.checkPut(key, value, flags); err != nil {
		return err
	}
	ifindex, fd := redirectValue(value)
	if flags > UpdateExist || ifindex == 0 {
		return EINVAL
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, old := h.t.find(key)
	switch {
	case old && flags&UpdateNoExist != 0:
		return EEXIST
	case fd > 0 || !h.netdev(ifindex):
		return EINVAL
	case !old:
		var err error
		if slot, err = h.t.insert(key); err != nil {
			return err
		}
	}
	k := binary.NativeEndian.Uint32(key)
	b := k & h.mask
	h.buckets[b] = append([]uint32{k}, slices.DeleteFunc(h.buckets[b], func(x uint32) bool { return x == k })...)
	v := h.mem[8*slot : 8*slot+8]
	clear(v)
	binary.NativeEndian.PutUint32(v, ifindex)
	return nil
}

func (h *DevMapHashMap) Lookup(key []byte, cpu int) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	return 8 * int(slot), ok
}

// Ifindex returns the device at key, as bpf_redirect_map finds it.
func (h *DevMapHashMap) Ifindex(key uint32) (uint32, bool) {
	h.mu.Lock() // a Put may be rewriting the slot
	defer h.mu.Unlock()
	slot, ok := h.t.find(binary.NativeEndian.AppendUint32(nil, key))
	if !ok {
		return 0, false
	}
	return binary.NativeEndian.Uint32(h.mem[8*slot:]), true
}

func (h *DevMapHashMap) Get(key, value []byte) error {
	if err := h.checkGet(key, value); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	if !ok {
		return ENOENT
	}
	copy(value, h.mem[8*slot:][:h.ValueSize()])
	return nil
}

// Update fails: the verifier lets programs only look devmaps up.
func (h *DevMapHashMap) Update(key, value []byte, flags uint64, cpu int) error { return EINVAL }

func (h *DevMapHashMap) Delete(key []byte) error {
	if len(key) != 4 {
		return EINVAL
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.t.find(key)
	if !ok {
		return ENOENT
	}
	h.t.remove(slot)
	k := binary.NativeEndian.Uint32(key)
	b := k & h.mask
	h.buckets[b] = slices.DeleteFunc(h.buckets[b], func(x uint32) bool { return x == k })
	if len(h.buckets[b]) == 0 {
		delete(h.buckets, b)
	}
	return nil
}

func (h *DevMapHashMap) Remove(key []byte) error {
	if err := h.checkRemove(key); err != nil {
		return err
	}
	return h.Delete(key)
}

// NextKey mirrors dev_map_hash_get_next_key: the next element of key's
// bucket, else the first of the next non-empty bucket; an absent key
// restarts at the first bucket.
func (h *DevMapHashMap) NextKey(key, next []byte) error {
	if len(next) != 4 || (key != nil && len(key) != 4) {
		return EINVAL
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	from := uint32(0)
	if key != nil {
		if _, ok := h.t.find(key); ok {
			k := binary.NativeEndian.Uint32(key)
			b := k & h.mask
			chain := h.buckets[b]
			if i := slices.Index(chain, k); i+1 < len(chain) {
				binary.NativeEndian.PutUint32(next, chain[i+1])
				return nil
			}
			if b == h.mask {
				return ENOENT
			}
			from = b + 1
		}
	}
	best, found := uint32(0), false
	for b := range h.buckets {
		if b >= from && (!found || b < best) {
			best, found = b, true
		}
	}
	if !found {
		return ENOENT
	}
	binary.NativeEndian.PutUint32(next, h.buckets[best][0])
	return nil
}

func (h *DevMapHashMap) Keys() iter.Seq[[]byte] { return keysOf(h, 4) }

func (h *DevMapHashMap) DescribeSlot(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i < 0 || i >= len(h.t.used) || !h.t.used[i] {
		return ""
	}
	return describeKey(h.Name(), h.t.key(int32(i)))
}
