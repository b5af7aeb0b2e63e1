package loader

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// TestMapBTFMustFit: a map's key and value BTF reach the map spec only when
// their sizes are the map's; otherwise traces would name the wrong bytes.
func TestMapBTFMustFit(t *testing.T) {
	u32 := &btf.Int{Name: "u32", Size: 4}
	u64 := &btf.Int{Name: "u64", Size: 8}
	var l linker
	s, err := l.mapSpec("m", &ebpf.MapSpec{Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 4, Key: u32, Value: u64})
	if err != nil {
		t.Fatal(err)
	}
	if s.Key != nil || s.Value != u64 {
		t.Errorf("key %v (4-byte BTF for an 8-byte key), value %v", s.Key, s.Value)
	}
	s, err = l.mapSpec("m", &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil || s.Key != nil || s.Value != nil {
		t.Errorf("no BTF: %v %v %v", s.Key, s.Value, err)
	}
}
