package maps

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzMapOps drives op sequences through hash, LRU and LPM maps, checking
// them against a plain Go model of the present keys and values.
func FuzzMapOps(f *testing.F) {
	f.Add(byte(0), []byte{0, 1, 5, 0, 2, 5, 2, 1, 5, 3, 0})
	f.Add(byte(1), []byte{0, 1, 1, 0, 2, 2, 0, 3, 3, 0, 4, 4, 0, 5, 0, 1, 1})
	f.Add(byte(2), []byte{0, 8, 10, 0, 24, 12, 1, 32, 12, 3, 8, 10, 2, 16, 1})
	f.Add(byte(3), []byte{0, 1, 1, 0, 2, 2, 0, 3, 3, 0, 4, 4, 2, 1, 1, 0, 5, 5, 0, 6, 6, 3, 2, 2, 0, 7, 7})
	f.Add(byte(4), []byte{0, 1, 1, 0, 2, 2, 0, 3, 3, 0, 4, 4, 2, 1, 1, 0, 5, 5, 0, 6, 6, 0, 7, 7, 0, 8, 8, 3, 2, 2, 0, 9, 9})
	f.Fuzz(runMapOps)
}

// runMapOps interprets ops as (op, a, b) triples on a map chosen by kind.
func runMapOps(t *testing.T, kind byte, ops []byte) {
	spec := &Spec{Name: "f", KeySize: 2, ValueSize: 3, MaxEntries: 4}
	cpus, cpuOf := 1, func(byte) int { return 0 }
	switch kind % 5 {
	case 0:
		spec.Type = Hash
	case 1:
		spec.Type = LRUHash
	case 2:
		spec.Type, spec.KeySize, spec.Flags = LPMTrie, 5, FlagNoPrealloc
	case 3: // per-CPU LRU lists, operations from 2 CPUs
		spec.Type, spec.Flags = LRUHash, FlagNoCommonLRU
		cpus, cpuOf = 2, func(b byte) int { return int(b) % 2 }
	case 4: // a common LRU on 3 CPUs, operations from each
		spec.Type, spec.MaxEntries = LRUHash, 7
		cpus, cpuOf = 3, func(b byte) int { return int(b) % 3 }
	}
	m := mustNew(t, spec, WithPossibleCPUs(cpus))
	model := map[string][]byte{} // exact key -> value, for hash and LRU
	for len(ops) >= 3 {
		op, a, b := ops[0], ops[1], ops[2]
		ops = ops[3:]
		key := []byte{a, b}
		if spec.Type == LPMTrie {
			key = []byte{a % 10, 0, 0, 0, b} // prefix lengths 0-9 of 8 bits
		}
		value := []byte{a, b, op}
		switch op % 5 {
		case 0, 1:
			flags := uint64(op/5) % 4
			err := m.Update(key, value, flags, cpuOf(b))
			if spec.Type != LPMTrie {
				checkModelUpdate(t, m, spec.Type, model, key, value, flags, err)
			}
		case 2:
			off, ok := m.Lookup(key, cpuOf(b))
			if ok && (off < 0 || len(m.Value(off)) != 3 || off%m.ValueStride() != 0) {
				t.Fatalf("Lookup offset %d outside Memory", off)
			}
			if want, in := model[string(key)]; spec.Type != LPMTrie && ok != in || ok && in && !bytes.Equal(m.Value(off), want) {
				t.Fatalf("Lookup(%x) = %v, model %x %v", key, ok, want, in)
			}
		case 3:
			err := m.Delete(key)
			if _, in := model[string(key)]; spec.Type != LPMTrie && (err == nil) != in {
				t.Fatalf("Delete(%x) = %v, present %v", key, err, in)
			}
			delete(model, string(key))
		case 4:
			next := make([]byte, spec.KeySize)
			m.NextKey(key, next)
		}
		checkInvariants(t, m, spec, model)
	}
}

// checkModelUpdate applies an update to the model, checking the map's error.
// An LRU map takes a new element for every update, which may evict any
// number of others, the updated key included (after which NOEXIST
// succeeds and EXIST fails): the model loses what the map lost.
func checkModelUpdate(t *testing.T, m Map, typ Type, model map[string][]byte, key, value []byte, flags uint64, err error) {
	_, in := model[string(key)]
	lru := typ == LRUHash || typ == LRUCPUHash
	if lru && flags <= UpdateExist {
		for k := range model {
			if m.Get([]byte(k), make([]byte, m.UserValueSize())) == ENOENT {
				delete(model, k)
			}
		}
		if in && (err == nil && flags == UpdateNoExist || err == ENOENT && flags == UpdateExist) {
			// The update's own new node evicted the key before the
			// lookup.
			in = false
		}
	}
	var want error
	switch {
	case flags > UpdateExist:
		want = EINVAL
	case in && flags == UpdateNoExist:
		want = EEXIST
	case !in && flags == UpdateExist:
		want = ENOENT
	case !in && len(model) == 4 && typ == Hash:
		want = E2BIG
	}
	if err != want {
		t.Fatalf("Update(%x, %d) = %v, want %v", key, flags, err, want)
	}
	if err != nil {
		return
	}
	model[string(key)] = slices.Clone(value)
}

func checkInvariants(t *testing.T, m Map, spec *Spec, model map[string][]byte) {
	keys := slices.Collect(m.Keys())
	if len(keys) > int(spec.MaxEntries) {
		t.Fatalf("%d keys in a map of %d", len(keys), spec.MaxEntries)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[string(k)] {
			t.Fatalf("key %x iterated twice", k)
		}
		seen[string(k)] = true
		v := make([]byte, m.UserValueSize())
		if err := m.Get(k, v); err != nil {
			t.Fatalf("Get(%x) of an iterated key: %v", k, err)
		}
	}
	if spec.Type == Hash && len(keys) != len(model) {
		t.Fatalf("%d keys, model has %d", len(keys), len(model))
	}
	if spec.Type == LPMTrie {
		// Iteration must be in post-order.
		for i := 1; i < len(keys); i++ {
			if compareKeys(keys[i-1], keys[i]) >= 0 {
				t.Fatalf("keys out of order: %x before %x", keys[i-1], keys[i])
			}
		}
	}
}
