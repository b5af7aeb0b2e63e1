package maps

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// kernelMap drives a real kernel map with raw bpf() calls, so that flags
// and buffers reach the kernel exactly as given and errors are bare errnos.
type kernelMap struct {
	m *ebpf.Map
}

type bpfElemAttr struct {
	fd    uint32
	_     uint32
	key   uint64
	value uint64
	flags uint64
}

func ptr(b []byte) uint64 {
	if b == nil {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

func (k kernelMap) call(cmd uintptr, key, value []byte, flags uint64) error {
	attr := bpfElemAttr{fd: uint32(k.m.FD()), key: ptr(key), value: ptr(value), flags: flags}
	_, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	if errno != 0 {
		return errno
	}
	return nil
}

const (
	bpfMapLookupElem          = 1
	bpfMapUpdateElem          = 2
	bpfMapDeleteElem          = 3
	bpfMapGetNextKey          = 4
	bpfMapLookupAndDeleteElem = 21
)

// newKernelMap creates spec in the kernel, skipping the test if bpf() is
// unavailable.
func newKernelMap(t *testing.T, spec *Spec) kernelMap {
	t.Helper()
	ms := &ebpf.MapSpec{
		Type:       ebpf.MapType(spec.Type),
		KeySize:    spec.KeySize,
		ValueSize:  spec.ValueSize,
		MaxEntries: spec.MaxEntries,
		Flags:      spec.Flags,
	}
	if spec.HasSpinLock {
		ms.Key, ms.Value = lockValueBTF(spec)
	}
	var m *ebpf.Map
	var err error
	if spec.Type == CPUMap {
		m, err = rawCreate(spec) // cilium/ebpf would clamp max_entries
	} else {
		m, err = ebpf.NewMap(ms)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.ENOSYS) {
		t.Skipf("bpf() unavailable: %v", err)
	}
	if err != nil {
		t.Fatalf("creating kernel map: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return kernelMap{m}
}

// rawCreate creates a map with BPF_MAP_CREATE as given.
func rawCreate(spec *Spec) (*ebpf.Map, error) {
	attr := [5]uint32{uint32(spec.Type), spec.KeySize, spec.ValueSize, spec.MaxEntries, spec.Flags}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, 0, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return nil, errno
	}
	return ebpf.NewMapFromFD(int(fd))
}

// lockValueBTF types a u32 key and a value of bytes with a struct
// bpf_spin_lock at SpinLockOff, so the kernel finds the lock.
func lockValueBTF(spec *Spec) (key, value btf.Type) {
	u8 := &btf.Int{Name: "u8", Size: 1}
	u32 := &btf.Int{Name: "u32", Size: 4}
	lock := &btf.Struct{Name: "bpf_spin_lock", Size: 4, Members: []btf.Member{{Name: "val", Type: u32}}}
	off := spec.SpinLockOff
	var ms []btf.Member
	if off > 0 {
		ms = append(ms, btf.Member{Name: "head", Type: &btf.Array{Index: u32, Type: u8, Nelems: off}})
	}
	ms = append(ms, btf.Member{Name: "lock", Type: lock, Offset: btf.Bits(8 * off)})
	if rest := spec.ValueSize - off - 4; rest > 0 {
		ms = append(ms, btf.Member{Name: "tail", Type: &btf.Array{Index: u32, Type: u8, Nelems: rest}, Offset: btf.Bits(8 * (off + 4))})
	}
	return u32, &btf.Struct{Name: "locked", Size: spec.ValueSize, Members: ms}
}

// errnoOf reduces an error to its errno, or 0.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	var me Errno
	if errors.As(err, &me) {
		return syscall.Errno(me)
	}
	return syscall.Errno(^uintptr(0))
}

// randomFlags favours valid update flags but also sends invalid ones.
func randomFlags(r *rand.Rand) uint64 {
	return []uint64{0, 0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 8}[r.IntN(12)]
}

type diffCase struct {
	spec *Spec
	key  func(r *rand.Rand) []byte
	// ordered means NextKey order is defined and must match the kernel's.
	ordered bool
	// value, if set, draws values to Put; random bytes otherwise.
	value func(r *rand.Rand) []byte
}

func u32Key(n uint32) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		return le32(r.Uint32N(n))
	}
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

// lpmKey draws IPv4-style keys from a small space so prefixes nest and
// collide, with prefix lengths up to one past the maximum.
func lpmKey(r *rand.Rand) []byte {
	k := le32(r.Uint32N(34))
	return append(k, []byte{10, byte(r.IntN(2)) << 7, byte(r.IntN(3)), byte(r.IntN(2))}...)
}

func TestKernelDifferential(t *testing.T) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Skipf("possible CPUs: %v", err)
	}
	cases := []diffCase{
		{spec: &Spec{Name: "arr", Type: Array, KeySize: 4, ValueSize: 12, MaxEntries: 8}, key: u32Key(10), ordered: true},
		{spec: &Spec{Name: "pcarr", Type: PerCPUArray, KeySize: 4, ValueSize: 12, MaxEntries: 6}, key: u32Key(8), ordered: true},
		{spec: &Spec{Name: "hash", Type: Hash, KeySize: 4, ValueSize: 6, MaxEntries: 8}, key: u32Key(14)},
		{spec: &Spec{Name: "hashnp", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 6, Flags: FlagNoPrealloc}, key: u32Key(10)},
		{spec: &Spec{Name: "pchash", Type: PerCPUHash, KeySize: 4, ValueSize: 12, MaxEntries: 6}, key: u32Key(10)},
		{spec: &Spec{Name: "arrlock", Type: Array, KeySize: 4, ValueSize: 16, MaxEntries: 4, HasSpinLock: true}, key: u32Key(5), ordered: true},
		{spec: &Spec{Name: "hashlock", Type: Hash, KeySize: 4, ValueSize: 12, MaxEntries: 6, HasSpinLock: true, SpinLockOff: 8}, key: u32Key(9)},
		{spec: &Spec{Name: "lpm", Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 10, Flags: FlagNoPrealloc}, key: lpmKey, ordered: true},
	}
	for _, c := range cases {
		t.Run(c.spec.Name, func(t *testing.T) {
			km := newKernelMap(t, c.spec)
			m, err := New(c.spec, WithPossibleCPUs(cpus))
			if err != nil {
				t.Fatal(err)
			}
			diffKeyed(t, c, km, m)
		})
	}
	for _, typ := range []Type{Queue, Stack} {
		t.Run(typ.String(), func(t *testing.T) {
			spec := &Spec{Name: "q", Type: typ, ValueSize: 5, MaxEntries: 4}
			km := newKernelMap(t, spec)
			m, err := New(spec)
			if err != nil {
				t.Fatal(err)
			}
			diffQueue(t, km, m.(*QueueMap))
		})
	}
}

func diffKeyed(t *testing.T, c diffCase, km kernelMap, m Map) {
	r := rand.New(rand.NewPCG(1, uint64(c.spec.Type)))
	vsize := m.UserValueSize()
	for op := range 600 {
		key := c.key(r)
		var what string
		var kerr, merr error
		switch r.IntN(5) {
		case 0, 1:
			flags := randomFlags(r)
			value := make([]byte, vsize)
			for i := range value {
				value[i] = byte(r.Uint32())
			}
			if c.value != nil {
				value = c.value(r)
			}
			what = fmt.Sprintf("Put(%x, %x, %d)", key, value, flags)
			kerr = km.call(bpfMapUpdateElem, key, value, flags)
			merr = m.Put(key, value, flags)
		case 2:
			what = fmt.Sprintf("Get(%x)", key)
			kv, mv := make([]byte, vsize), make([]byte, vsize)
			kerr = km.call(bpfMapLookupElem, key, kv, 0)
			merr = m.Get(key, mv)
			if kerr == nil && merr == nil && !bytes.Equal(kv, mv) {
				t.Fatalf("op %d: %s: kernel %x, got %x", op, what, kv, mv)
			}
		case 3:
			what = fmt.Sprintf("Remove(%x)", key)
			kerr = km.call(bpfMapDeleteElem, key, nil, 0)
			merr = m.Remove(key)
		case 4:
			if r.IntN(4) == 0 {
				key = nil
			}
			what = fmt.Sprintf("NextKey(%x)", key)
			kn, mn := make([]byte, c.spec.KeySize), make([]byte, c.spec.KeySize)
			kerr = km.call(bpfMapGetNextKey, key, kn, 0)
			merr = m.NextKey(key, mn)
			if !c.ordered && key != nil && m.Get(key, make([]byte, vsize)) == nil {
				// Which key is last depends on the kernel's hash seed.
				continue
			}
			if c.ordered && kerr == nil && merr == nil && !bytes.Equal(kn, mn) {
				t.Fatalf("op %d: %s: kernel %x, got %x", op, what, kn, mn)
			}
		}
		if ke, me := errnoOf(kerr), errnoOf(merr); ke != me {
			t.Fatalf("op %d: %s: kernel error %v, got %v", op, what, kerr, merr)
		}
		if ks, ms := kernelKeys(t, km, c.spec.KeySize), slices.Collect(m.Keys()); !sameKeys(ks, ms, c.ordered) {
			t.Fatalf("op %d: after %s: kernel keys %x, got %x", op, what, ks, ms)
		}
	}
}

func kernelKeys(t *testing.T, km kernelMap, keySize uint32) [][]byte {
	var keys [][]byte
	var key []byte
	for range 10000 {
		next := make([]byte, keySize)
		if err := km.call(bpfMapGetNextKey, key, next, 0); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				t.Fatalf("kernel NextKey: %v", err)
			}
			return keys
		}
		keys = append(keys, next)
		key = next
	}
	t.Fatal("kernel NextKey doesn't end")
	return nil
}

func sameKeys(a, b [][]byte, ordered bool) bool {
	if !ordered {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.SortFunc(a, bytes.Compare)
		slices.SortFunc(b, bytes.Compare)
	}
	return slices.EqualFunc(a, b, bytes.Equal)
}

func diffQueue(t *testing.T, km kernelMap, q *QueueMap) {
	r := rand.New(rand.NewPCG(2, uint64(q.spec.Type)))
	for op := range 400 {
		var what string
		var kerr, merr error
		kv, mv := make([]byte, 5), make([]byte, 5)
		switch r.IntN(3) {
		case 0:
			flags := randomFlags(r)
			for i := range kv {
				kv[i] = byte(r.Uint32())
			}
			what = fmt.Sprintf("Put(%x, %d)", kv, flags)
			kerr = km.call(bpfMapUpdateElem, nil, kv, flags)
			merr = q.Put(nil, kv, flags)
		case 1:
			what = "Get"
			kerr = km.call(bpfMapLookupElem, nil, kv, 0)
			merr = q.Get(nil, mv)
		case 2:
			what = "Pop"
			kerr = km.call(bpfMapLookupAndDeleteElem, nil, kv, 0)
			merr = q.Pop(mv)
		}
		if ke, me := errnoOf(kerr), errnoOf(merr); ke != me {
			t.Fatalf("op %d: %s: kernel error %v, got %v", op, what, kerr, merr)
		}
		if (what == "Get" || what == "Pop") && kerr == nil && !bytes.Equal(kv, mv) {
			t.Fatalf("op %d: %s: kernel %x, got %x", op, what, kv, mv)
		}
	}
}

// TestKernelSpinLockSpecs checks which maps may hold a bpf_spin_lock, and
// where, against BPF_MAP_CREATE.
func TestKernelSpinLockSpecs(t *testing.T) {
	for _, s := range []*Spec{
		{Name: "array", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 2, HasSpinLock: true, SpinLockOff: 4},
		{Name: "hash", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 2, HasSpinLock: true},
		{Name: "pcarray", Type: PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2, HasSpinLock: true},
		{Name: "pchash", Type: PerCPUHash, KeySize: 4, ValueSize: 8, MaxEntries: 2, HasSpinLock: true},
		{Name: "lru", Type: LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 2, HasSpinLock: true},
	} {
		k, v := lockValueBTF(s)
		km, kerr := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.MapType(s.Type), KeySize: s.KeySize, ValueSize: s.ValueSize, MaxEntries: s.MaxEntries, Key: k, Value: v})
		if errors.Is(kerr, unix.EPERM) {
			t.Skipf("bpf() unavailable: %v", kerr)
		}
		if kerr == nil {
			km.Close()
		}
		_, err := New(s)
		if ke, me := errnoOf(kerr), errnoOf(err); ke != me {
			t.Errorf("%s: kernel %v, got %v", s.Name, kerr, err)
		}
	}
}

// randomRedirectValue draws a devmap or cpumap value: the first u32 an ifindex
// or qsize (loopback, 0, a missing device, above cpumap's limit), then a
// program fd: none (0, -1) or one that is no program (stdin, not open).
func randomRedirectValue(size int) func(r *rand.Rand) []byte {
	return func(r *rand.Rand) []byte {
		v := le32([]uint32{1, 1, 1, 0, 64, 1000, 16384, 16385}[r.IntN(8)])
		if size == 8 {
			v = append(v, le32([]uint32{0, 0, 0xffffffff, 0, 1000000}[r.IntN(5)])...)
		}
		return v
	}
}

// TestKernelRedirectMaps drives devmaps, cpumaps and xskmaps like the
// other maps: updates with valid and invalid devices, queue sizes and
// program fds, lookups, deletes and the NextKey order.
func TestKernelRedirectMaps(t *testing.T) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Skipf("possible CPUs: %v", err)
	}
	cases := []diffCase{
		{spec: &Spec{Name: "devmap", Type: DevMap, KeySize: 4, ValueSize: 8, MaxEntries: 6}, key: u32Key(8), ordered: true, value: randomRedirectValue(8)},
		{spec: &Spec{Name: "devmap4", Type: DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 3}, key: u32Key(4), ordered: true, value: randomRedirectValue(4)},
		{spec: &Spec{Name: "devmaphash", Type: DevMapHash, KeySize: 4, ValueSize: 8, MaxEntries: 5}, key: u32Key(20), ordered: true, value: randomRedirectValue(8)},
		{spec: &Spec{Name: "cpumap", Type: CPUMap, KeySize: 4, ValueSize: 8, MaxEntries: uint32(cpus) + 2}, key: u32Key(uint32(cpus) + 3), ordered: true, value: randomRedirectValue(8)},
		{spec: &Spec{Name: "xskmap", Type: XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 4}, key: u32Key(5), ordered: true,
			value: func(r *rand.Rand) []byte { return le32(1000000) }},
	}
	for _, c := range cases {
		t.Run(c.spec.Name, func(t *testing.T) {
			km := newKernelMap(t, c.spec)
			m, err := New(c.spec, WithPossibleCPUs(cpus))
			if err != nil {
				t.Fatal(err)
			}
			diffKeyed(t, c, km, m)
		})
	}
}

// TestKernelRedirectMapSpecs checks BPF_MAP_CREATE's rules for the
// redirect maps.
func TestKernelRedirectMapSpecs(t *testing.T) {
	for _, s := range []*Spec{
		{Type: DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 2},
		{Type: DevMap, KeySize: 4, ValueSize: 6, MaxEntries: 2},
		{Type: DevMap, KeySize: 8, ValueSize: 8, MaxEntries: 2},
		{Type: DevMap, KeySize: 4, ValueSize: 8, MaxEntries: 2, Flags: FlagWrOnly},
		{Type: DevMap, KeySize: 4, ValueSize: 8, MaxEntries: 2, Flags: FlagRdOnlyProg},
		{Type: DevMap, KeySize: 4, ValueSize: 8, MaxEntries: 2, Flags: FlagNoPrealloc},
		{Type: DevMapHash, KeySize: 4, ValueSize: 8, MaxEntries: 1<<31 + 1},
		{Type: DevMapHash, KeySize: 4, ValueSize: 12, MaxEntries: 2},
		{Type: CPUMap, KeySize: 4, ValueSize: 4, MaxEntries: 2},
		{Type: CPUMap, KeySize: 4, ValueSize: 8, MaxEntries: 2, Flags: FlagRdOnly},
		{Type: CPUMap, KeySize: 4, ValueSize: 16, MaxEntries: 2},
		{Type: CPUMap, KeySize: 4, ValueSize: 8, MaxEntries: 200},
		{Type: XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 2, Flags: FlagRdOnly},
		{Type: XSKMap, KeySize: 4, ValueSize: 8, MaxEntries: 2},
		{Type: XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 2, Flags: FlagMmapable},
	} {
		s.Name = "m"
		km, kerr := rawCreate(s)
		if errors.Is(kerr, unix.EPERM) {
			t.Skipf("bpf() unavailable: %v", kerr)
		}
		if kerr == nil {
			km.Close()
		}
		_, err := New(s)
		if ke, me := errnoOf(kerr), errnoOf(err); ke != me {
			t.Errorf("%+v: kernel %v, got %v", *s, kerr, err)
		}
	}
}
