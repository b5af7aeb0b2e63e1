package maps

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func heapAlloc() uint64 {
	var s runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}

// TestHashClaimIsLazy: a hash map claiming 2^30 entries of 1 KiB (a
// terabyte) costs nothing until elements arrive, then a segment at a time,
// charged to its budget; past the budget an insert fails with a
// *MemoryLimitError that is ENOMEM, and the map stays usable. It failed
// before: New refused the map (or, under the old 1 GiB cap, allocated it).
func TestHashClaimIsLazy(t *testing.T) {
	for _, typ := range []Type{Hash, PerCPUHash} {
		b := NewBudget(4 << 20)
		before := heapAlloc()
		m := mustNew(t, &Spec{Name: "claims", Type: typ, KeySize: 4, ValueSize: 1024, MaxEntries: 1 << 30}, WithBudget(b), WithPossibleCPUs(2))
		if after := heapAlloc(); b.Used() != 0 || after > before+1<<20 {
			t.Fatalf("%s: an empty map costs %d bytes (budget says %d)", typ, int64(after-before), b.Used())
		}
		val := bytes.Repeat([]byte{7}, m.UserValueSize())
		var err error
		n := uint32(0)
		for ; n < 1<<20; n++ {
			if err = m.Put(key32(n), val, UpdateAny); err != nil {
				break
			}
		}
		var le *MemoryLimitError
		if !errors.As(err, &le) || !errors.Is(err, syscall.ENOMEM) || le.Map != "claims" || le.Limit != 4<<20 || !strings.Contains(err.Error(), "WithBudget") {
			t.Fatalf("%s: insert %d: %v, want a MemoryLimitError", typ, n, err)
		}
		if b.Used() > b.Limit() || n < 1000 {
			t.Fatalf("%s: %d elements fit, budget used %d of %d", typ, n, b.Used(), b.Limit())
		}
		// A program's update fails the same way; the elements stay.
		if err := m.Update(key32(n), val[:1024], UpdateAny, 1); !errors.Is(err, ENOMEM) {
			t.Fatalf("%s: program update past the budget: %v", typ, err)
		}
		off, ok := m.Lookup(key32(n-1), 1)
		if !ok || m.Value(off)[0] != 7 {
			t.Fatalf("%s: last element lost", typ)
		}
		// Freed slots are reused without a new charge.
		used := b.Used()
		wantErr(t, "remove", m.Remove(key32(0)), 0)
		wantErr(t, "put again", m.Put(key32(n), val, UpdateAny), 0)
		if b.Used() != used {
			t.Fatalf("%s: reusing a slot charged %d bytes", typ, b.Used()-used)
		}
	}
}

// TestBudgetShared: maps sharing a budget are refused once their sum,
// side tables included, passes it; preallocated maps are charged whole.
func TestBudgetShared(t *testing.T) {
	b := NewBudget(1 << 20)
	mustNew(t, &Spec{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 100_000}, WithBudget(b))
	_, err := New(&Spec{Name: "b", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 100_000}, WithBudget(b))
	var le *MemoryLimitError
	if !errors.As(err, &le) || le.Map != "b" || le.Used != 800_000 {
		t.Fatalf("second array: %v", err)
	}
	// An LRU map is preallocated as in the kernel: its claim is charged.
	_, err = New(&Spec{Name: "lru", Type: LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 1 << 30})
	if !errors.As(err, &le) || le.Limit != DefaultMemoryLimit {
		t.Fatalf("huge LRU: %v", err)
	}
	// Side tables count: 20,000 slots of a devmap hash cost more than
	// their 8-byte values.
	_, err = New(&Spec{Name: "devs", Type: DevMapHash, KeySize: 4, ValueSize: 4, MaxEntries: 20_000}, WithBudget(NewBudget(20_000*8*2)))
	if !errors.As(err, &le) {
		t.Fatalf("devmap hash: %v", err)
	}
}

// TestLPMClaimIsLazy: an LPM trie, which the kernel grows a node at a
// time, costs nothing for its max_entries either.
func TestLPMClaimIsLazy(t *testing.T) {
	b := NewBudget(1 << 20)
	m := mustNew(t, &Spec{Name: "routes", Type: LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 1 << 30, Flags: FlagNoPrealloc}, WithBudget(b))
	if b.Used() != 0 {
		t.Fatalf("empty trie charged %d bytes", b.Used())
	}
	key := []byte{24, 0, 0, 0, 10, 1, 2, 0}
	wantErr(t, "put", m.Put(key, []byte{1, 2, 3, 4, 5, 6, 7, 8}, UpdateAny), 0)
	off, ok := m.Lookup([]byte{32, 0, 0, 0, 10, 1, 2, 3}, 0)
	if !ok || m.Value(off)[7] != 8 || b.Used() == 0 || b.Used() > 1<<20 {
		t.Fatalf("lookup %v, budget used %d", ok, b.Used())
	}
	var err error
	for i := 0; err == nil; i++ {
		err = m.Put([]byte{32, 0, 0, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}, make([]byte, 8), UpdateAny)
	}
	var le *MemoryLimitError
	if !errors.As(err, &le) || le.Map != "routes" {
		t.Fatalf("filling the trie: %v", err)
	}
}
