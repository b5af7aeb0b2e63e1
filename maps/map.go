package maps

import (
	"context"
	"encoding/hex"
	"iter"
	"sync"
)

// Map is a BPF map. Program-side operations (Lookup, Update, Delete) act on
// the current CPU's value, as BPF helpers do; embedder-side operations (Get,
// Put, Remove, NextKey, Keys) act like the bpf() syscall, with per-CPU values
// passed as UserValueSize bytes: one ValueSize slot rounded up to 8 per CPU.
//
// All methods are safe for concurrent use. The bytes of Memory are not
// guarded: like the kernel, programs on different CPUs race on values.
type Map interface {
	// Memory returns the storage value pointers point into. It never moves
	// or grows. Hash maps, whose storage grows in segments, return nil and
	// implement vm.SegmentedMap instead.
	Memory() []byte
	// Value returns the ValueSize bytes of the value at offset off, an
	// offset Lookup returned, whatever the storage.
	Value(off int) []byte
	// ValueStride is the distance in Memory between consecutive value slots
	// (for per-CPU maps: one slot per (element, cpu), value size rounded up to 8).
	ValueStride() int
	// Name is the map's name.
	Name() string
	// ReadOnly reports BPF_F_RDONLY_PROG: the program may not write values.
	ReadOnly() bool
	// DescribeSlot names the element that value slot i belongs to, for traces.
	DescribeSlot(i int) string

	// Spec returns a copy of the map's spec. MaxEntries is the effective
	// number of entries, which the kernel rounds for some map types.
	Spec() *Spec
	// Type, KeySize and ValueSize are the spec's, without the copy: helpers
	// ask on every call.
	Type() Type
	KeySize() int
	ValueSize() int
	// UserValueSize is the size of the value buffer of Get and Put.
	UserValueSize() int

	// Lookup returns the offset in Memory of key's value for cpu
	// (bpf_map_lookup_elem), or false if there is none.
	Lookup(key []byte, cpu int) (off int, ok bool)
	// Update sets key's value for cpu (bpf_map_update_elem).
	Update(key, value []byte, flags uint64, cpu int) error
	// Delete removes key (bpf_map_delete_elem).
	Delete(key []byte) error

	// Get copies key's value for all CPUs into value (BPF_MAP_LOOKUP_ELEM).
	Get(key, value []byte) error
	// Put sets key's value for all CPUs (BPF_MAP_UPDATE_ELEM).
	Put(key, value []byte, flags uint64) error
	// Remove removes key (BPF_MAP_DELETE_ELEM).
	Remove(key []byte) error
	// NextKey writes the key following key into next, or the first key if
	// key is nil or absent (BPF_MAP_GET_NEXT_KEY). It returns ENOENT after
	// the last key.
	NextKey(key, next []byte) error
	// Keys iterates over the keys in NextKey order; each key is a fresh copy.
	Keys() iter.Seq[[]byte]
}

// base holds what every map shares.
type base struct {
	spec   *Spec
	cpus   int
	mem    []byte
	stride int
	mu     sync.Mutex
}

func (b *base) Memory() []byte { return b.mem }
func (b *base) Value(off int) []byte {
	return b.mem[off:][:b.spec.ValueSize]
}
func (b *base) ValueStride() int { return b.stride }
func (b *base) Name() string     { return b.spec.Name }
func (b *base) ReadOnly() bool   { return b.spec.Flags&FlagRdOnlyProg != 0 }
func (b *base) Spec() *Spec      { return b.spec.Copy() }

func (b *base) Type() Type     { return b.spec.Type }
func (b *base) KeySize() int   { return int(b.spec.KeySize) }
func (b *base) ValueSize() int { return int(b.spec.ValueSize) }
func (b *base) maxEntries() int {
	return int(b.spec.MaxEntries)
}

// UserValueSize is ValueSize, or for per-CPU maps ValueSize rounded up to 8
// times the number of CPUs, as the syscall expects.
func (b *base) UserValueSize() int {
	if b.spec.Type.hasPerCPUValue() {
		return roundUp8(b.ValueSize()) * b.cpus
	}
	return b.ValueSize()
}

// checkPut mirrors the syscall's permission and buffer checks for updates.
func (b *base) checkPut(key, value []byte, flags uint64) error {
	if b.spec.Flags&FlagRdOnly != 0 {
		return EPERM
	}
	if len(key) != b.KeySize() || len(value) != b.UserValueSize() {
		return EINVAL
	}
	if flags&UpdateLock != 0 && !b.spec.HasSpinLock {
		return EINVAL
	}
	return nil
}

// copyValue copies a value into dst as copy_map_value does: all but the
// bpf_spin_lock, which belongs to the lock helpers. With UpdateLock it
// holds the value's lock while copying (copy_map_value_locked).
func (b *base) copyValue(dst, src []byte, flags uint64) error {
	if !b.spec.HasSpinLock {
		storeValue(dst, src)
		return nil
	}
	lo := int(b.spec.SpinLockOff)
	if flags&UpdateLock != 0 {
		word := dst[lo : lo+spinLockSize]
		if err := SpinLock(context.Background(), word); err != nil {
			return err
		}
		defer SpinUnlock(word)
	}
	storeValue(dst[:lo], src)
	if len(src) > lo+spinLockSize {
		storeValue(dst[lo+spinLockSize:], src[lo+spinLockSize:])
	}
	return nil
}

// maskLock zeroes the bpf_spin_lock of a value copied out to user space,
// as check_and_init_map_value does after a syscall lookup.
func (b *base) maskLock(value []byte) {
	if b.spec.HasSpinLock {
		clear(value[b.spec.SpinLockOff:][:spinLockSize])
	}
}

func (b *base) checkGet(key, value []byte) error {
	if b.spec.Flags&FlagWrOnly != 0 {
		return EPERM
	}
	if len(key) != b.KeySize() || len(value) != b.UserValueSize() {
		return EINVAL
	}
	return nil
}

func (b *base) checkRemove(key []byte) error {
	if b.spec.Flags&FlagRdOnly != 0 {
		return EPERM
	}
	if len(key) != b.KeySize() {
		return EINVAL
	}
	return nil
}

// checkProgWrite rejects program writes the verifier would have refused.
func (b *base) checkProgWrite() error {
	if b.ReadOnly() {
		return EPERM
	}
	return nil
}

func (b *base) validCPU(cpu int) bool { return cpu >= 0 && cpu < b.cpus }

// keysOf iterates a map by NextKey.
func keysOf(m Map, keySize int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		var key []byte
		for {
			next := make([]byte, keySize)
			if m.NextKey(key, next) != nil {
				return
			}
			if !yield(next) {
				return
			}
			key = next
		}
	}
}

// describeKey formats "name{hex}", the trace name of a keyed element.
func describeKey(name string, key []byte) string {
	return name + "{" + hex.EncodeToString(key) + "}"
}

var (
	_ Map = (*ArrayMap)(nil)
	_ Map = (*HashMap)(nil)
	_ Map = (*LPMTrieMap)(nil)
	_ Map = (*QueueMap)(nil)
	_ Map = (*RingBufMap)(nil)
	_ Map = (*PerfEventArrayMap)(nil)
	_ Map = (*ProgramArrayMap)(nil)
	_ Map = (*CGroupArrayMap)(nil)
	_ Map = (*ArrayOfMapsMap)(nil)
	_ Map = (*HashOfMapsMap)(nil)
	_ Map = (*DevMapMap)(nil)
	_ Map = (*DevMapHashMap)(nil)
	_ Map = (*CPUMapMap)(nil)
	_ Map = (*XSKMapMap)(nil)
)
