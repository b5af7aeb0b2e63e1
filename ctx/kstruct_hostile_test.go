package ctx

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
)

// specOf marshals types into a BTF blob and reads it back, as a kernel
// BTF file the user names would be read.
func specOf(t *testing.T, types ...btf.Type) *btf.Spec {
	t.Helper()
	var b btf.Builder
	for _, typ := range types {
		if _, err := b.Add(typ); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestHostileKernelBTF feeds layoutOf kernel BTFs whose sk_buff contains
// itself, nests too deep, fans out into billions of member paths or claims
// gigabytes: each is an error, quickly (cover recursed forever on the
// first, and ran for hours on the third).
func TestHostileKernelBTF(t *testing.T) {
	u32 := &btf.Int{Name: "u32", Size: 4}
	cyclic := &btf.Struct{Name: "sk_buff", Size: 8}
	inner := &btf.Struct{Name: "inner", Size: 4, Members: []btf.Member{{Name: "again", Type: cyclic}}}
	cyclic.Members = []btf.Member{{Name: "len", Type: u32}, {Name: "in", Type: inner, Offset: 32}}

	deep := btf.Type(u32)
	for i := range 40 {
		deep = &btf.Struct{Name: "d" + strings.Repeat("x", i), Size: 4, Members: []btf.Member{{Name: "m", Type: deep}}}
	}
	deepSkb := &btf.Struct{Name: "sk_buff", Size: 4, Members: []btf.Member{{Name: "d", Type: deep}}}

	// 30 levels of two members of the level below: 2^30 paths.
	fan := btf.Type(u32)
	for i := range 30 {
		fan = &btf.Struct{Name: "f" + strings.Repeat("x", i), Size: 8, Members: []btf.Member{{Name: "a", Type: fan}, {Name: "b", Type: fan}}}
	}
	fanSkb := &btf.Struct{Name: "sk_buff", Size: 8, Members: []btf.Member{{Name: "f", Type: fan}}}

	huge := &btf.Struct{Name: "sk_buff", Size: 1 << 31, Members: []btf.Member{{Name: "len", Type: u32}}}

	for name, skb := range map[string]*btf.Struct{"cyclic": cyclic, "deep": deepSkb, "fan-out": fanSkb, "huge": huge} {
		t.Run(name, func(t *testing.T) {
			spec := specOf(t, skb)
			done := make(chan error, 1)
			go func() { _, err := layoutOf(spec, "sk_buff"); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "sk_buff") {
					t.Fatalf("layoutOf: %v, want an error about sk_buff", err)
				}
				t.Log(err)
			case <-time.After(20 * time.Second):
				t.Fatal("layoutOf still running after 20s")
			}
		})
	}
}
