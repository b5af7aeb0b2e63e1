package maps

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func mustNew(t testing.TB, spec *Spec, opts ...Option) Map {
	t.Helper()
	m, err := New(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantErr(t *testing.T, what string, err error, want Errno) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) || !errors.Is(err, syscall.Errno(want)) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		spec *Spec
		want Errno
	}{
		{&Spec{Type: Array, KeySize: 4, ValueSize: 4}, EINVAL}, // max_entries 0
		{&Spec{Type: Array, KeySize: 8, ValueSize: 4, MaxEntries: 1}, EINVAL},
		{&Spec{Type: Array, KeySize: 4, ValueSize: 0, MaxEntries: 1}, EINVAL},
		{&Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc}, EINVAL},
		{&Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagRdOnly | FlagWrOnly}, EINVAL},
		{&Spec{Type: PerCPUArray, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagMmapable}, EINVAL},
		{&Spec{Type: PerCPUArray, KeySize: 4, ValueSize: 40000, MaxEntries: 1}, E2BIG},
		{&Spec{Type: Hash, KeySize: 0, ValueSize: 4, MaxEntries: 1}, EINVAL},
		{&Spec{Type: Hash, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoCommonLRU}, EINVAL},
		{&Spec{Type: LRUHash, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc}, ENOTSUPP},
		{&Spec{Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 1}, EINVAL}, // needs NO_PREALLOC
		{&Spec{Type: LPMTrie, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc}, EINVAL},
		{&Spec{Type: Queue, KeySize: 4, ValueSize: 4, MaxEntries: 1}, EINVAL},
		{&Spec{Type: RingBuf, MaxEntries: 3 * pageSize}, EINVAL},
		{&Spec{Type: RingBuf, MaxEntries: 2048}, EINVAL},
		{&Spec{Type: RingBuf, KeySize: 4, MaxEntries: pageSize}, EINVAL},
		{&Spec{Type: ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1}, EINVAL}, // no inner map
		{&Spec{Type: Type(99), KeySize: 4, ValueSize: 4, MaxEntries: 1}, EINVAL},
		{&Spec{Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1, HasSpinLock: true, SpinLockOff: 6}, EINVAL},
		{&Spec{Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 1, HasSpinLock: true, SpinLockOff: 8}, EINVAL},
	} {
		tc.spec.Name = "bad"
		_, err := New(tc.spec)
		wantErr(t, tc.spec.Type.String(), err, tc.want)
		if !strings.Contains(err.Error(), `"bad"`) {
			t.Errorf("error %q doesn't name the map", err)
		}
	}
}

func key32(i uint32) []byte { return binary.NativeEndian.AppendUint32(nil, i) }

// TestSpinLockValue: updates leave a value's bpf_spin_lock alone, even
// while a program holds it, and user-space lookups read it as zero
// (copy_map_value and check_and_init_map_value).
func TestSpinLockValue(t *testing.T) {
	for _, typ := range []Type{Array, Hash} {
		m := mustNew(t, &Spec{Name: "locked", Type: typ, KeySize: 4, ValueSize: 12, MaxEntries: 2, HasSpinLock: true, SpinLockOff: 4})
		k := key32(1)
		wantErr(t, "put", m.Put(k, bytes.Repeat([]byte{0xaa}, 12), UpdateAny), 0)
		off, ok := m.Lookup(k, 0)
		if !ok {
			t.Fatal("lookup failed")
		}
		lock := m.Value(off)[4:8]
		if !bytes.Equal(lock, []byte{0, 0, 0, 0}) {
			t.Fatalf("%s: Put wrote the lock: %x", typ, lock)
		}
		// A BPF_F_LOCK update waits for a program holding the lock, as
		// copy_map_value_locked spins, and leaves the lock as it found it.
		if err := SpinLock(context.Background(), lock); err != nil {
			t.Fatal(err)
		}
		released := time.Now().Add(20 * time.Millisecond)
		go func() {
			time.Sleep(time.Until(released))
			SpinUnlock(lock)
		}()
		wantErr(t, "put", m.Put(k, bytes.Repeat([]byte{0xbb}, 12), UpdateLock), 0)
		if time.Now().Before(released) {
			t.Errorf("%s: a BPF_F_LOCK put went past a held lock", typ)
		}
		if err := SpinLock(context.Background(), lock); err != nil { // held by a program again
			t.Fatal(err)
		}
		wantErr(t, "update", m.Update(k, bytes.Repeat([]byte{0xcc}, 12), UpdateExist, 0), 0)
		if lock[0] != 1 {
			t.Errorf("%s: update overwrote a held lock: %x", typ, lock)
		}
		got := make([]byte, 12)
		wantErr(t, "get", m.Get(k, got), 0)
		if want := []byte{0xcc, 0xcc, 0xcc, 0xcc, 0, 0, 0, 0, 0xcc, 0xcc, 0xcc, 0xcc}; !bytes.Equal(got, want) {
			t.Errorf("%s: Get %x, want %x", typ, got, want)
		}
	}
	plain := mustNew(t, &Spec{Name: "plain", Type: Hash, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	wantErr(t, "lock flag without a lock", plain.Put(key32(0), make([]byte, 4), UpdateLock), EINVAL)
}

func TestArray(t *testing.T) {
	m := mustNew(t, &Spec{Name: "counters", Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if m.ValueStride() != 8 || len(m.Memory()) != 32 {
		t.Fatalf("stride %d, memory %d", m.ValueStride(), len(m.Memory()))
	}
	off, ok := m.Lookup(key32(3), 0)
	if !ok || off != 24 {
		t.Fatalf("Lookup(3) = %d, %v", off, ok)
	}
	if _, ok := m.Lookup(key32(4), 0); ok {
		t.Fatal("Lookup(4) hit")
	}
	wantErr(t, "Update", m.Update(key32(3), []byte{1, 2, 3, 4}, UpdateAny, 0), 0)
	if !bytes.Equal(m.Memory()[24:28], []byte{1, 2, 3, 4}) {
		t.Fatalf("value not in Memory: %x", m.Memory())
	}
	wantErr(t, "Update NOEXIST", m.Update(key32(0), []byte{1, 2, 3, 4}, UpdateNoExist, 0), EEXIST)
	wantErr(t, "Update EXIST", m.Update(key32(0), []byte{1, 2, 3, 4}, UpdateExist, 0), 0)
	wantErr(t, "Update out of range", m.Update(key32(4), []byte{1, 2, 3, 4}, UpdateAny, 0), E2BIG)
	wantErr(t, "Update bad flags", m.Update(key32(0), []byte{1, 2, 3, 4}, 3, 0), EINVAL)
	wantErr(t, "Update lock", m.Update(key32(0), []byte{1, 2, 3, 4}, UpdateLock, 0), EINVAL)
	wantErr(t, "Delete", m.Delete(key32(0)), EINVAL)
	wantErr(t, "Get out of range", m.Get(key32(9), make([]byte, 4)), ENOENT)
	v := make([]byte, 4)
	wantErr(t, "Get", m.Get(key32(3), v), 0)
	if !bytes.Equal(v, []byte{1, 2, 3, 4}) {
		t.Fatalf("Get = %x", v)
	}
	keys := slices.Collect(m.Keys())
	if !slices.EqualFunc(keys, [][]byte{key32(0), key32(1), key32(2), key32(3)}, bytes.Equal) {
		t.Fatalf("Keys = %x", keys)
	}
	next := make([]byte, 4)
	wantErr(t, "NextKey(absent)", m.NextKey(key32(100), next), 0)
	if !bytes.Equal(next, key32(0)) {
		t.Fatalf("NextKey(absent) = %x", next)
	}
	wantErr(t, "NextKey(last)", m.NextKey(key32(3), next), ENOENT)
	if got := m.DescribeSlot(3); got != "counters[3]" {
		t.Fatalf("DescribeSlot(3) = %q", got)
	}
}

func TestPerCPUArray(t *testing.T) {
	m := mustNew(t, &Spec{Name: "pc", Type: PerCPUArray, KeySize: 4, ValueSize: 4, MaxEntries: 2}, WithPossibleCPUs(3))
	if m.UserValueSize() != 24 || m.ValueStride() != 8 || len(m.Memory()) != 48 {
		t.Fatalf("user size %d, stride %d, memory %d", m.UserValueSize(), m.ValueStride(), len(m.Memory()))
	}
	wantErr(t, "Update cpu 2", m.Update(key32(1), []byte{7, 0, 0, 0}, UpdateAny, 2), 0)
	off, _ := m.Lookup(key32(1), 2)
	if off != (1*3+2)*8 || m.Value(off)[0] != 7 {
		t.Fatalf("cpu 2 slot at %d = %d", off, m.Value(off)[0])
	}
	v := make([]byte, 24)
	wantErr(t, "Get", m.Get(key32(1), v), 0)
	if want := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}; !bytes.Equal(v, want) {
		t.Fatalf("Get = %x", v)
	}
	if _, ok := m.Lookup(key32(1), 3); ok {
		t.Fatal("Lookup on cpu 3 of 3 hit")
	}
	if got := m.DescribeSlot(5); got != "pc[1]@cpu2" {
		t.Fatalf("DescribeSlot(5) = %q", got)
	}
}

func TestHash(t *testing.T) {
	m := mustNew(t, &Spec{Name: "flows", Type: Hash, KeySize: 4, ValueSize: 2, MaxEntries: 2})
	k1 := []byte{0x0a, 0, 0, 1}
	if _, ok := m.Lookup(k1, 0); ok {
		t.Fatal("Lookup of absent key hit")
	}
	wantErr(t, "Update EXIST absent", m.Update(k1, []byte{1, 1}, UpdateExist, 0), ENOENT)
	wantErr(t, "Update", m.Update(k1, []byte{1, 1}, UpdateNoExist, 0), 0)
	wantErr(t, "Update NOEXIST present", m.Update(k1, []byte{2, 2}, UpdateNoExist, 0), EEXIST)
	wantErr(t, "Update 2", m.Update([]byte{2, 0, 0, 0}, []byte{3, 3}, UpdateAny, 0), 0)
	wantErr(t, "Update full", m.Update([]byte{3, 0, 0, 0}, []byte{4, 4}, UpdateAny, 0), E2BIG)
	wantErr(t, "Update existing when full", m.Update(k1, []byte{5, 5}, UpdateAny, 0), 0)
	off, ok := m.Lookup(k1, 0)
	if !ok || !bytes.Equal(m.Value(off), []byte{5, 5}) {
		t.Fatalf("Lookup = %d, %v", off, ok)
	}
	if got := m.DescribeSlot(off / m.ValueStride()); got != "flows{0a000001}" {
		t.Fatalf("DescribeSlot = %q", got)
	}
	wantErr(t, "Delete", m.Delete(k1), 0)
	wantErr(t, "Delete again", m.Delete(k1), ENOENT)
	if got := m.DescribeSlot(off / m.ValueStride()); got != "" {
		t.Fatalf("DescribeSlot of free slot = %q", got)
	}
	wantErr(t, "Get deleted", m.Get(k1, make([]byte, 2)), ENOENT)
	wantErr(t, "Update after delete", m.Update([]byte{3, 0, 0, 0}, []byte{4, 4}, UpdateAny, 0), 0)
}

func TestPerCPUHashProgramUpdate(t *testing.T) {
	m := mustNew(t, &Spec{Name: "pch", Type: PerCPUHash, KeySize: 1, ValueSize: 3, MaxEntries: 2}, WithPossibleCPUs(2))
	all := []byte{1, 1, 1, 9, 9, 9, 9, 9, 2, 2, 2, 9, 9, 9, 9, 9}
	wantErr(t, "Put", m.Put([]byte{1}, all, UpdateAny), 0)
	// A program updating an existing element touches only its CPU.
	wantErr(t, "Update", m.Update([]byte{1}, []byte{7, 7, 7}, UpdateAny, 1), 0)
	v := make([]byte, 16)
	m.Get([]byte{1}, v)
	if want := []byte{1, 1, 1, 9, 9, 9, 9, 9, 7, 7, 7, 9, 9, 9, 9, 9}; !bytes.Equal(v, want) {
		t.Fatalf("after Update on cpu 1: %x", v)
	}
	// A new element from a program starts with the other CPUs zeroed.
	m.Remove([]byte{1})
	wantErr(t, "Update new", m.Update([]byte{1}, []byte{7, 7, 7}, UpdateAny, 1), 0)
	m.Get([]byte{1}, v)
	if want := []byte{0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 0, 0, 0, 0, 0}; !bytes.Equal(v, want) {
		t.Fatalf("new element: %x", v)
	}
}

// TestLRUHash replays what Linux 6.18 does to a 16-entry LRU hash on 2
// possible CPUs (observed with BPF_PROG_TEST_RUN on CPU 0; TestKernelLRU
// compares many more operations): CPU 0 takes free nodes 4 at a time
// (16/2/2), so the 17th insert evicts the 4 oldest unreferenced elements,
// leaving 13; a key a program looked up (reference bit) gets a second
// chance, a key only read from user space does not.
func TestLRUHash(t *testing.T) {
	m := mustNew(t, &Spec{Name: "lru", Type: LRUHash, KeySize: 1, ValueSize: 1, MaxEntries: 16}, WithPossibleCPUs(2))
	for k := byte(1); k <= 16; k++ {
		wantErr(t, "Update", m.Update([]byte{k}, []byte{k}, UpdateAny, 0), 0)
	}
	m.Lookup([]byte{1}, 0)            // a program's lookup: second chance
	m.Get([]byte{2}, make([]byte, 1)) // a syscall lookup does not count
	wantErr(t, "Update full", m.Update([]byte{17}, []byte{17}, UpdateNoExist, 0), 0)
	keys := slices.Collect(m.Keys())
	slices.SortFunc(keys, bytes.Compare)
	want := [][]byte{{1}}
	for k := byte(6); k <= 17; k++ {
		want = append(want, []byte{k})
	}
	if !slices.EqualFunc(keys, want, bytes.Equal) {
		t.Fatalf("Keys = %x, want %x", keys, want)
	}

	pl := mustNew(t, &Spec{Type: LRUCPUHash, KeySize: 1, ValueSize: 1, MaxEntries: 5, Flags: FlagNoCommonLRU}, WithPossibleCPUs(4))
	if got := pl.Spec().MaxEntries; got != 8 {
		t.Fatalf("per-CPU LRU max_entries = %d, want 8 (rounded up to CPUs)", got)
	}
}

func lpmKey32(plen uint32, a, b, c, d byte) []byte {
	return append(key32(plen), a, b, c, d)
}

func TestLPMTrie(t *testing.T) {
	m := mustNew(t, &Spec{Name: "routes", Type: LPMTrie, KeySize: 8, ValueSize: 1, MaxEntries: 4, Flags: FlagNoPrealloc})
	for _, e := range []struct {
		key []byte
		val byte
	}{
		{lpmKey32(16, 192, 168, 0, 0), 16},
		{lpmKey32(24, 192, 168, 0, 0), 24},
		{lpmKey32(24, 192, 168, 1, 0), 25},
		{lpmKey32(8, 10, 0, 0, 0), 8},
	} {
		wantErr(t, "Update", m.Update(e.key, []byte{e.val}, UpdateNoExist, 0), 0)
	}
	wantErr(t, "Update full", m.Update(lpmKey32(8, 11, 0, 0, 0), []byte{1}, UpdateAny, 0), ENOSPC)
	wantErr(t, "Replace when full", m.Update(lpmKey32(8, 10, 9, 9, 9), []byte{9}, UpdateExist, 0), 0)
	wantErr(t, "Update bad prefix", m.Update(lpmKey32(33, 10, 0, 0, 0), []byte{1}, UpdateAny, 0), EINVAL)
	for _, q := range []struct {
		key  []byte
		want int // value, or -1 for a miss
	}{
		{lpmKey32(32, 192, 168, 0, 7), 24},
		{lpmKey32(32, 192, 168, 1, 7), 25},
		{lpmKey32(32, 192, 168, 2, 7), 16},
		{lpmKey32(20, 192, 168, 0, 7), 16}, // the key's prefix length bounds the match
		{lpmKey32(32, 10, 1, 2, 3), 9},
		{lpmKey32(32, 11, 1, 2, 3), -1},
		{lpmKey32(33, 10, 1, 2, 3), -1},
	} {
		off, ok := m.Lookup(q.key, 0)
		if got := -1; ok {
			got = int(m.Value(off)[0])
			if got != q.want {
				t.Errorf("Lookup(%x) = %d, want %d", q.key, got, q.want)
			}
		} else if q.want != -1 {
			t.Errorf("Lookup(%x) missed, want %d", q.key, q.want)
		}
	}
	// Post-order: more specific prefixes first, and the replaced key's
	// data as last written.
	want := [][]byte{
		lpmKey32(8, 10, 9, 9, 9),
		lpmKey32(24, 192, 168, 0, 0),
		lpmKey32(24, 192, 168, 1, 0),
		lpmKey32(16, 192, 168, 0, 0),
	}
	if keys := slices.Collect(m.Keys()); !slices.EqualFunc(keys, want, bytes.Equal) {
		t.Fatalf("Keys = %x", keys)
	}
	wantErr(t, "Delete inexact", m.Delete(lpmKey32(17, 192, 168, 0, 0)), ENOENT)
	wantErr(t, "Delete", m.Delete(lpmKey32(24, 192, 168, 0, 99)), 0)
	off, _ := m.Lookup(lpmKey32(32, 192, 168, 0, 7), 0)
	if m.Value(off)[0] != 16 {
		t.Fatal("Lookup after Delete doesn't fall back to /16")
	}
	if got := m.DescribeSlot(off / m.ValueStride()); got != "routes{c0a80000/16}" {
		t.Fatalf("DescribeSlot = %q", got)
	}
}

func TestQueueStack(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		want []byte // pop order after pushing 1, 2, 3 and overwriting
	}{
		{Queue, []byte{2, 3, 4}},
		{Stack, []byte{4, 3, 2}},
	} {
		m := mustNew(t, &Spec{Name: "q", Type: tc.typ, ValueSize: 1, MaxEntries: 3}).(*QueueMap)
		v := make([]byte, 1)
		wantErr(t, "Pop empty", m.Pop(v), ENOENT)
		wantErr(t, "Peek empty", m.Peek(v), ENOENT)
		for i := byte(1); i <= 3; i++ {
			wantErr(t, "Push", m.Push([]byte{i}, UpdateAny), 0)
		}
		wantErr(t, "Push full", m.Push([]byte{4}, UpdateAny), E2BIG)
		wantErr(t, "Push NOEXIST", m.Push([]byte{4}, UpdateNoExist), EINVAL)
		wantErr(t, "Push overwrite", m.Push([]byte{4}, UpdateExist), 0) // drops 1, the oldest
		var got []byte
		for m.Pop(v) == nil {
			got = append(got, v[0])
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%v: popped %v, want %v", tc.typ, got, tc.want)
		}
		wantErr(t, "NextKey", m.NextKey(nil, nil), EINVAL)
		wantErr(t, "Delete", m.Delete(nil), EINVAL)
	}
}

func TestRingBuf(t *testing.T) {
	m := mustNew(t, &Spec{Name: "events", Type: RingBuf, MaxEntries: pageSize}).(*RingBufMap)
	if _, ok := m.Reserve(8, 1); ok {
		t.Fatal("Reserve with flags succeeded")
	}
	off, ok := m.Reserve(5, 0)
	if !ok || off != RingBufHeaderSize {
		t.Fatalf("Reserve = %d, %v", off, ok)
	}
	hdr := m.Memory()[off-8 : off]
	if l, pg := binary.NativeEndian.Uint32(hdr), binary.NativeEndian.Uint32(hdr[4:]); l != 5|RingBufBusyBit || pg != ringBufDataPgOff {
		t.Fatalf("header len %#x, pg_off %d", l, pg)
	}
	copy(m.Memory()[off:], "hello")
	off2, _ := m.Reserve(3, 0)
	if off2 != 16+RingBufHeaderSize {
		t.Fatalf("second record at %d, want 24 (8-byte aligned)", off2)
	}
	if got := m.DescribeSlot(off2 / 8); got != "events@0x10" {
		t.Fatalf("DescribeSlot = %q", got)
	}
	wantErr(t, "Output", m.Output([]byte("world"), 0), 0)
	m.Submit(off2, RingBufNoWakeup)
	if recs := m.Drain(); len(recs) != 0 {
		t.Fatalf("drained %d records past a busy one", len(recs))
	}
	m.Discard(off, 0)
	if got := binary.NativeEndian.Uint32(hdr); got != 5|RingBufDiscardBit {
		t.Fatalf("discarded header len %#x", got)
	}
	recs := m.Drain()
	if len(recs) != 2 || string(recs[1].Data) != "world" {
		t.Fatalf("Drain = %v", recs)
	}
	if m.Query(RingBufAvailData) != 0 || m.Query(RingBufRingSize) != pageSize || m.Query(RingBufProdPos) != 48 {
		t.Fatalf("Query: avail %d, size %d, prod %d", m.Query(RingBufAvailData), m.Query(RingBufRingSize), m.Query(RingBufProdPos))
	}
	if m.Wakeups() != 2 {
		t.Fatalf("Wakeups = %d", m.Wakeups())
	}
	// The producer may not get a whole ring ahead of the consumer.
	if _, ok := m.Reserve(pageSize-8, 0); ok {
		t.Fatal("reserved the whole ring")
	}
	wantErr(t, "Output too big", m.Output(make([]byte, pageSize-16), 0), 0)
	wantErr(t, "Output full", m.Output([]byte{1}, 0), EAGAIN)
	wantErr(t, "Output bad flags", m.Output([]byte{1}, 4), EINVAL)
	m.Drain()
	// Move the producer 48 bytes short of the end, then wrap a record
	// around: it is contiguous in Memory and mirrored at the start, as the
	// kernel's double mapping makes it.
	wantErr(t, "Output filler", m.Output(make([]byte, 4000), 0), 0)
	m.Drain()
	if pos := m.Query(RingBufProdPos) % pageSize; pos != pageSize-48 {
		t.Fatalf("producer at %d", pos)
	}
	data := bytes.Repeat([]byte{0xab}, 100)
	off, _ = m.Reserve(100, 0)
	copy(m.Memory()[off:], data)
	m.Submit(off, 0)
	if !bytes.Equal(m.Memory()[:64], m.Memory()[pageSize:pageSize+64]) {
		t.Fatal("wrapped part not mirrored at the start of Memory")
	}
	recs = m.Drain()
	if len(recs) != 1 || !bytes.Equal(recs[0].Data, data) {
		t.Fatalf("wrapped record = %x", recs)
	}
	wantErr(t, "Get", m.Get(nil, nil), ENOTSUPP)
}

func TestPerfEventArray(t *testing.T) {
	m := mustNew(t, &Spec{Name: "perf", Type: PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: 2}, WithPossibleCPUs(2)).(*PerfEventArrayMap)
	wantErr(t, "Output unset", m.Output(0, PerfCurrentCPU, []byte{1}), ENOENT)
	m.OpenAll()
	wantErr(t, "Output", m.Output(1, PerfCurrentCPU, []byte{1}), 0)
	wantErr(t, "Output other cpu", m.Output(1, 0, []byte{2}), EOPNOTSUPP)
	wantErr(t, "Output index", m.Output(1, 2, []byte{2}), E2BIG)
	wantErr(t, "Output flags", m.Output(1, 1<<32, []byte{2}), EINVAL)
	wantErr(t, "Put", m.Put(key32(0), key32(1), UpdateAny), 0) // slot 0 now on cpu 1
	wantErr(t, "Output via slot 0", m.Output(1, 0, []byte{3}), 0)
	recs := m.Drain()
	if len(recs) != 2 || recs[0].CPU != 1 || recs[1].Data[0] != 3 {
		t.Fatalf("Drain = %v", recs)
	}
	wantErr(t, "Remove", m.Remove(key32(0)), 0)
	wantErr(t, "Remove again", m.Remove(key32(0)), ENOENT)
	wantErr(t, "Get", m.Get(key32(1), make([]byte, 4)), ENOTSUPP)
}

func TestProgramArray(t *testing.T) {
	m := mustNew(t, &Spec{Name: "jmp", Type: ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 2}).(*ProgramArrayMap)
	if _, ok := m.Program(0); ok {
		t.Fatal("empty slot has a program")
	}
	wantErr(t, "SetProgram", m.SetProgram(1, "prog"), 0)
	wantErr(t, "SetProgram out of range", m.SetProgram(2, "prog"), E2BIG)
	if p, ok := m.Program(1); !ok || p != "prog" {
		t.Fatalf("Program(1) = %v, %v", p, ok)
	}
	if got := m.DescribeSlot(1); got != "jmp[1]" {
		t.Fatalf("DescribeSlot = %q", got)
	}
	wantErr(t, "Remove", m.Remove(key32(1)), 0)
	wantErr(t, "Remove empty", m.Remove(key32(1)), ENOENT)
	wantErr(t, "Remove out of range", m.Remove(key32(5)), E2BIG)
}

func TestMapOfMaps(t *testing.T) {
	inner := &Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 2}
	a := mustNew(t, &Spec{Name: "outer", Type: ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 2, InnerMap: inner}).(*ArrayOfMapsMap)
	h := mustNew(t, &Spec{Name: "houter", Type: HashOfMaps, KeySize: 2, ValueSize: 4, MaxEntries: 1, InnerMap: inner}).(*HashOfMapsMap)
	im := mustNew(t, &Spec{Name: "in", Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	other := mustNew(t, &Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 3})

	wantErr(t, "SetMap incompatible", a.SetMap(key32(0), other, UpdateAny), EINVAL)
	wantErr(t, "SetMap NOEXIST", a.SetMap(key32(0), im, UpdateNoExist), EINVAL)
	wantErr(t, "SetMap", a.SetMap(key32(0), im, UpdateAny), 0)
	if got, ok := a.LookupMap(key32(0)); !ok || got != im {
		t.Fatal("LookupMap(0) lost the inner map")
	}
	if _, ok := a.Lookup(key32(1), 0); ok {
		t.Fatal("Lookup of empty slot hit")
	}

	wantErr(t, "hash SetMap", h.SetMap([]byte{1, 2}, im, UpdateNoExist), 0)
	wantErr(t, "hash SetMap again", h.SetMap([]byte{1, 2}, im, UpdateNoExist), EEXIST)
	wantErr(t, "hash SetMap full", h.SetMap([]byte{3, 4}, im, UpdateAny), E2BIG)
	if got, ok := h.LookupMap([]byte{1, 2}); !ok || got != im {
		t.Fatal("hash LookupMap lost the inner map")
	}
	if got := h.DescribeSlot(0); got != "houter{0102}->in" {
		t.Fatalf("DescribeSlot = %q", got)
	}
	wantErr(t, "hash Remove", h.Remove([]byte{1, 2}), 0)
	if _, ok := h.LookupMap([]byte{1, 2}); ok {
		t.Fatal("removed inner map still there")
	}

	flexible := &Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagInnerMap}
	f := mustNew(t, &Spec{Type: ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: flexible}).(*ArrayOfMapsMap)
	big := mustNew(t, &Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 9, Flags: FlagInnerMap})
	wantErr(t, "SetMap with BPF_F_INNER_MAP", f.SetMap(key32(0), big, UpdateAny), 0)
}

func TestAccessFlags(t *testing.T) {
	m := mustNew(t, &Spec{Type: Hash, KeySize: 1, ValueSize: 1, MaxEntries: 1, Flags: FlagRdOnlyProg | FlagRdOnly})
	if !m.ReadOnly() {
		t.Fatal("BPF_F_RDONLY_PROG map not ReadOnly")
	}
	wantErr(t, "program Update", m.Update([]byte{1}, []byte{1}, UpdateAny, 0), EPERM)
	wantErr(t, "syscall Put", m.Put([]byte{1}, []byte{1}, UpdateAny), EPERM)
	w := mustNew(t, &Spec{Type: Array, KeySize: 4, ValueSize: 1, MaxEntries: 1, Flags: FlagWrOnly})
	wantErr(t, "syscall Get", w.Get(key32(0), []byte{0}), EPERM)
}

// Values and SetState let a trace file capture a queue, a stack and a ring
// buffer and rebuild them: the copy behaves as the original from then on.
func TestQueueValuesAndRingBufState(t *testing.T) {
	for _, typ := range []Type{Queue, Stack} {
		q := mustNew(t, &Spec{Name: "q", Type: typ, ValueSize: 1, MaxEntries: 3}).(*QueueMap)
		for i := byte(1); i <= 4; i++ {
			q.Push([]byte{i}, UpdateExist) // 4 overwrites 1
		}
		cp := mustNew(t, &Spec{Name: "q", Type: typ, ValueSize: 1, MaxEntries: 3}).(*QueueMap)
		for v := range q.Values() {
			wantErr(t, "Put", cp.Put(nil, v, 0), 0)
		}
		a, b := make([]byte, 1), make([]byte, 1)
		for q.Pop(a) == nil {
			if cp.Pop(b) != nil || a[0] != b[0] {
				t.Fatalf("%v: original pops %d, copy %d", typ, a[0], b[0])
			}
		}
		wantErr(t, "copy empty too", cp.Pop(b), ENOENT)
	}

	// A ring wrapped around with one unconsumed record (the wrapped one).
	rb := mustNew(t, &Spec{Name: "events", Type: RingBuf, MaxEntries: pageSize}).(*RingBufMap)
	rb.Output(make([]byte, pageSize-56), 0)
	rb.Drain()
	rb.Output(bytes.Repeat([]byte{0xcd}, 100), 0)
	cp := mustNew(t, &Spec{Name: "events", Type: RingBuf, MaxEntries: pageSize}).(*RingBufMap)
	wantErr(t, "SetState", cp.SetState(rb.State()), 0)
	for _, q := range []uint64{RingBufAvailData, RingBufConsPos, RingBufProdPos} {
		if rb.Query(q) != cp.Query(q) {
			t.Fatalf("Query(%d): %d, copy %d", q, rb.Query(q), cp.Query(q))
		}
	}
	o1, ok1 := rb.Reserve(8, 0)
	o2, ok2 := cp.Reserve(8, 0)
	if o1 != o2 || ok1 != ok2 {
		t.Fatalf("next reserve at %d %v, copy %d %v", o1, ok1, o2, ok2)
	}
	r1, r2 := rb.Drain(), cp.Drain()
	if len(r1) != 1 || len(r2) != 1 || !bytes.Equal(r1[0].Data, r2[0].Data) {
		t.Fatalf("drained %v, copy %v", r1, r2)
	}
	wantErr(t, "SetState inconsistent", cp.SetState(RingBufState{Cons: 8, Prod: 0}), EINVAL)
}

// TestPerfRawSample checks the layout perf_prepare_sample gives a BPF
// output record (its payload padded so that payload and u32 size end on 8
// bytes, as cilium/ebpf's readers return it; testrun's kernel differential
// compares them byte for byte) and that a record not fitting the unread
// part of a CPU's ring fails with ENOSPC.
func TestPerfRawSample(t *testing.T) {
	for n, want := range map[int]int{0: 4, 1: 4, 4: 4, 5: 12, 12: 12, 13: 20, 100: 100, 101: 108} {
		r := Record{Data: bytes.Repeat([]byte{0xee}, n)}
		raw := r.RawSample()
		if int(r.RawSize()) != want || len(raw) != want || !bytes.Equal(raw[:n], r.Data) || !bytes.Equal(raw[n:], make([]byte, want-n)) {
			t.Errorf("%d-byte payload: RawSize %d, RawSample %x; want %d bytes", n, r.RawSize(), raw, want)
		}
	}
	m := mustNew(t, &Spec{Name: "perf", Type: PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: 2}, WithPossibleCPUs(2)).(*PerfEventArrayMap)
	m.OpenAll()
	m.SetRingSize(73) // 72 usable: one byte always stays free

	wantErr(t, "Output 36", m.Output(0, PerfCurrentCPU, make([]byte, 36)), 0) // 8 + 4 + 36 = 48 bytes
	wantErr(t, "Output 5", m.Output(0, PerfCurrentCPU, make([]byte, 5)), 0)   // 8 + 4 + 12 = 24: full
	wantErr(t, "Output 1 more", m.Output(0, PerfCurrentCPU, make([]byte, 1)), ENOSPC)
	wantErr(t, "Output on CPU 1", m.Output(1, PerfCurrentCPU, make([]byte, 5)), 0)
	if got := len(m.Drain()); got != 3 {
		t.Fatalf("drained %d records, want 3", got)
	}
	wantErr(t, "Output after Drain", m.Output(0, PerfCurrentCPU, make([]byte, 5)), 0)
	// A one-page ring, as Linux 6.18 fills it (measured): records of up to
	// 4088 bytes.
	m.Drain()
	m.SetRingSize(4096)
	wantErr(t, "Output 4077", m.Output(0, PerfCurrentCPU, make([]byte, 4077)), ENOSPC)
	wantErr(t, "Output 4076", m.Output(0, PerfCurrentCPU, make([]byte, 4076)), 0)
	// perf_event_header.size is a u16 (measured with packets appended from
	// a 73152-byte XDP frame): 65516 bytes take 65528 and do not fit,
	// 65520 take 65536 = 0 and "fit", 73000 take 73016 = 7480 and do not.
	m.Drain()
	wantErr(t, "Output 65516", m.Output(0, PerfCurrentCPU, make([]byte, 65516)), ENOSPC)
	wantErr(t, "Output 65520", m.Output(0, PerfCurrentCPU, make([]byte, 65520)), 0)
	wantErr(t, "Output 73000", m.Output(0, PerfCurrentCPU, make([]byte, 73000)), ENOSPC)
	if recs := m.Drain(); len(recs) != 0 {
		t.Errorf("a reader got %d records of 64 KiB or more, the kernel's none", len(recs))
	}
}
