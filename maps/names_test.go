package maps

import (
	"testing"

	"github.com/cilium/ebpf/btf"
)

func TestFieldName(t *testing.T) {
	u32 := &btf.Int{Name: "u32", Size: 4}
	u64 := &btf.Int{Name: "u64", Size: 8}
	be32 := &btf.Typedef{Name: "__be32", Type: u32}
	counter := &btf.Struct{Name: "counter", Size: 16, Members: []btf.Member{{Name: "packets", Type: u64}, {Name: "bytes", Type: u64, Offset: 64}}}
	key := &btf.Struct{Name: "key", Size: 4, Members: []btf.Member{{Name: "saddr", Type: be32}}}

	arr, _ := New(&Spec{Name: "counters", Type: Array, KeySize: 4, ValueSize: 16, MaxEntries: 4, Key: u32, Value: counter})
	if got := arr.(*ArrayMap).FieldName(3*16+8, 8); got != "counters[3].bytes" {
		t.Errorf("array: %q", got)
	}
	pc, _ := New(&Spec{Name: "pc", Type: PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: 4, Key: u32, Value: counter}, WithPossibleCPUs(2))
	if got := pc.(*ArrayMap).FieldName((2*2+1)*16, 8); got != "pc[2].packets@cpu1" {
		t.Errorf("per-CPU array: %q", got)
	}
	h, _ := New(&Spec{Name: "flows", Type: Hash, KeySize: 4, ValueSize: 16, MaxEntries: 4, Key: key, Value: counter})
	if err := h.Put([]byte{10, 0, 0, 2}, make([]byte, 16), 0); err != nil {
		t.Fatal(err)
	}
	off, _ := h.Lookup([]byte{10, 0, 0, 2}, 0)
	if got := h.(*HashMap).FieldName(uint32(off)+8, 8); got != "flows[{saddr=10.0.0.2}].bytes" {
		t.Errorf("hash: %q", got)
	}
	// No BTF, a section without variables, an offset no variable covers:
	// no name, the trace keeps the raw one.
	raw, _ := New(&Spec{Name: "raw", Type: Array, KeySize: 4, ValueSize: 16, MaxEntries: 1})
	empty, _ := New(&Spec{Name: ".bss", Type: Array, KeySize: 4, ValueSize: 16, MaxEntries: 1, Value: &btf.Datasec{Name: ".bss", Size: 16}})
	part, _ := New(&Spec{Name: ".data", Type: Array, KeySize: 4, ValueSize: 16, MaxEntries: 1, Value: &btf.Datasec{Name: ".data", Size: 16,
		Vars: []btf.VarSecinfo{{Type: &btf.Var{Name: "x", Type: u64}, Offset: 0, Size: 8}}}})
	for _, c := range []struct {
		m   Map
		off uint32
	}{{raw, 0}, {empty, 8}, {part, 8}} {
		if got := c.m.(*ArrayMap).FieldName(c.off, 8); got != "" {
			t.Errorf("%s+%d: %q", c.m.Name(), c.off, got)
		}
	}
	if got := part.(*ArrayMap).FieldName(0, 8); got != "x" {
		t.Errorf(".data+0: %q", got)
	}
}
