package maps

import (
	"encoding/binary"
	"testing"
)

func benchMap(b *testing.B, typ Type) (Map, [][]byte) {
	m := mustNew(b, &Spec{Name: "bench", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 1024})
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = binary.NativeEndian.AppendUint32(nil, uint32(i))
		if err := m.Put(keys[i], make([]byte, 8), UpdateAny); err != nil {
			b.Fatal(err)
		}
	}
	return m, keys
}

func benchmarkLookup(b *testing.B, typ Type) {
	m, keys := benchMap(b, typ)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.Lookup(keys[i%len(keys)], 0); !ok {
			b.Fatal("miss")
		}
	}
}

func benchmarkUpdate(b *testing.B, typ Type) {
	m, keys := benchMap(b, typ)
	value := make([]byte, 8)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := m.Update(keys[i%len(keys)], value, UpdateExist, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkArrayLookup(b *testing.B) { benchmarkLookup(b, Array) }
func BenchmarkArrayUpdate(b *testing.B) { benchmarkUpdate(b, Array) }
func BenchmarkHashLookup(b *testing.B)  { benchmarkLookup(b, Hash) }
func BenchmarkHashUpdate(b *testing.B)  { benchmarkUpdate(b, Hash) }

func TestLookupDoesNotAllocate(t *testing.T) {
	for _, typ := range []Type{Array, Hash, LRUHash} {
		m := mustNew(t, &Spec{Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 4})
		key := key32(1)
		m.Put(key, make([]byte, 8), UpdateAny)
		if n := testing.AllocsPerRun(100, func() { m.Lookup(key, 0) }); n != 0 {
			t.Errorf("%v: Lookup allocates %v times", typ, n)
		}
	}
}
