package loader

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/btf"
)

// Hostile objects are built from testdata/hostile.o (a 9 KB object whose
// maps claim gigabytes) by patching its BTF in place.

// btfTypes walks the type section of a raw .BTF blob and returns, for each
// type id from 1, the offset of its struct btf_type in the blob.
func btfTypes(blob []byte) (offs []int, names func(off int) string, err error) {
	le := binary.LittleEndian
	if len(blob) < 24 || le.Uint16(blob) != 0xeb9f {
		return nil, nil, errors.New("not BTF")
	}
	hdr := int(le.Uint32(blob[4:]))
	typeOff, typeLen := hdr+int(le.Uint32(blob[8:])), int(le.Uint32(blob[12:]))
	strOff := hdr + int(le.Uint32(blob[16:]))
	names = func(off int) string {
		s := blob[strOff+int(le.Uint32(blob[off:])):]
		return string(s[:bytes.IndexByte(s, 0)])
	}
	for p := typeOff; p < typeOff+typeLen; {
		offs = append(offs, p)
		info := le.Uint32(blob[p+4:])
		kind, vlen := info>>24&0x1f, int(info&0xffff)
		p += 12
		switch kind {
		case 1, 14, 17: // int, var, decl tag
			p += 4
		case 3: // array
			p += 12
		case 4, 5, 15, 19: // struct, union, datasec, enum64
			p += 12 * vlen
		case 6, 13: // enum, func proto
			p += 8 * vlen
		}
	}
	return offs, names, nil
}

// patchBTF returns obj with edit applied to its .BTF section.
func patchBTF(t testing.TB, obj []byte, edit func(blob []byte, offs []int, name func(int) string)) []byte {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	sec := f.Section(".BTF")
	if sec == nil {
		t.Fatal("no .BTF")
	}
	out := bytes.Clone(obj)
	blob := out[sec.Offset : sec.Offset+sec.Size]
	offs, names, err := btfTypes(blob)
	if err != nil {
		t.Fatal(err)
	}
	edit(blob, offs, names)
	return out
}

// structID finds the id of the struct called name.
func structID(blob []byte, offs []int, name func(int) string, want string) int {
	for i, off := range offs {
		if binary.LittleEndian.Uint32(blob[off+4:])>>24&0x1f == 4 && name(off) == want {
			return i + 1
		}
	}
	panic("no struct " + want)
}

// cyclicBTF makes struct leaf's only member a struct node, which holds a
// leaf: a value that contains itself, which C cannot write and the
// kernel's BTF check refuses ("Loop detected").
func cyclicBTF(t testing.TB) []byte {
	obj, err := os.ReadFile("testdata/hostile.o")
	if err != nil {
		t.Fatal(err)
	}
	return patchBTF(t, obj, func(blob []byte, offs []int, name func(int) string) {
		leaf, node := structID(blob, offs, name, "leaf"), structID(blob, offs, name, "node")
		binary.LittleEndian.PutUint32(blob[offs[leaf-1]+12+4:], uint32(node))
	})
}

// TestHostileBTFCycle loads an object whose map value's BTF is cyclic. It
// died with "fatal error: stack overflow" (spinLocks recursed forever);
// now it is an *Error naming the map. The stack is kept small so a
// regression fails fast rather than growing 1 GB of stack.
func TestHostileBTFCycle(t *testing.T) {
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20))
	obj := cyclicBTF(t)
	done := make(chan error, 1)
	go func() {
		_, err := LoadReader(bytes.NewReader(obj), Options{MaxEntries: smallBig})
		done <- err
	}()
	select {
	case err := <-done:
		var e *Error
		if !errors.As(err, &e) || e.Map != "nodes" || !errors.Is(err, ErrInvalidMap) {
			t.Fatalf("load: %v, want an ErrInvalidMap for map nodes", err)
		}
		t.Log(err)
	case <-time.After(30 * time.Second):
		t.Fatal("load still running after 30s")
	}
}

// chainedBTF rebuilds hostile.o's BTF with n pointer types appended, each
// pointing at the one before, and makes struct leaf's member the last: a
// value type n links deep. The new .BTF goes at the end of the file and
// the section header is pointed at it.
func chainedBTF(t testing.TB, n int) []byte {
	obj, err := os.ReadFile("testdata/hostile.o")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var shdr int
	for i, sec := range f.Sections {
		if sec.Name == ".BTF" {
			shdr = int(le.Uint64(obj[0x28:])) + i*64 // e_shoff + index * sizeof(Elf64_Shdr)
		}
	}
	sec := f.Section(".BTF")
	old := obj[sec.Offset : sec.Offset+sec.Size]
	offs, names, err := btfTypes(old)
	if err != nil {
		t.Fatal(err)
	}
	hdr := int(le.Uint32(old[4:]))
	types := old[hdr+int(le.Uint32(old[8:])):][:le.Uint32(old[12:])]
	strs := old[hdr+int(le.Uint32(old[16:])):][:le.Uint32(old[20:])]
	leaf := structID(old, offs, names, "leaf")
	intID := int(le.Uint32(old[offs[leaf-1]+12+4:])) // leaf's member type
	types = bytes.Clone(types)
	prev := intID
	for i := range n {
		types = le.AppendUint32(types, 0)
		types = le.AppendUint32(types, 2<<24) // BTF_KIND_PTR
		types = le.AppendUint32(types, uint32(prev))
		prev = len(offs) + 1 + i
	}
	// leaf's member: offset of its type field in the copied type section.
	le.PutUint32(types[offs[leaf-1]-hdr-int(le.Uint32(old[8:]))+12+4:], uint32(prev))
	blob := bytes.Clone(old[:hdr])
	le.PutUint32(blob[8:], 0)
	le.PutUint32(blob[12:], uint32(len(types)))
	le.PutUint32(blob[16:], uint32(len(types)))
	le.PutUint32(blob[20:], uint32(len(strs)))
	blob = append(append(blob, types...), strs...)
	out := bytes.Clone(obj)
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	le.PutUint64(out[shdr+0x18:], uint64(len(out)))  // sh_offset
	le.PutUint64(out[shdr+0x20:], uint64(len(blob))) // sh_size
	return append(out, blob...)
}

// TestHostileBTFChain loads an object whose map value's BTF is a chain of
// 800,000 pointers (a 9.6 MB object). cilium/ebpf's decoder recursed once
// per link and died with "fatal error: stack overflow"; the loader now
// counts types first and refuses the object with an *Error. A chain the
// guard lets through still loads.
func TestHostileBTFChain(t *testing.T) {
	defer debug.SetMaxStack(debug.SetMaxStack(256 << 20))
	obj := chainedBTF(t, 800_000)
	_, err := LoadReader(bytes.NewReader(obj), Options{MaxEntries: smallBig})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalidObject) || !errors.Is(err, errTooManyTypes) {
		t.Fatalf("load: %v, want ErrInvalidObject for too many BTF types", err)
	}
	t.Log(err)
	if _, err := LoadReader(bytes.NewReader(chainedBTF(t, 1000)), Options{MaxEntries: smallBig}); err != nil {
		t.Errorf("a 1000-link chain: %v", err)
	}
	// The same chain as a CO-RE target BTF file.
	raw := chainedBTF(t, MaxKernelBTFTypes)
	path := t.TempDir() + "/vmlinux"
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadBTF(path); !errors.Is(err, errTooManyTypes) {
		t.Errorf("target BTF: %v, want too many types", err)
	}
}

// TestHostileMapClaims loads hostile.o, 9 KB whose four arrays claim
// 512 MiB each and whose hash map claims 2^30 elements. It allocated
// 2 GiB before failing on the hash map; now the collection's maps share a
// 1 GiB budget, the third array is refused with an error naming the map,
// the limit and the option that raises it, and nothing past the budget is
// allocated.
func TestHostileMapClaims(t *testing.T) {
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	_, err := Load("testdata/hostile.o", Options{})
	runtime.ReadMemStats(&ms1)
	var le *bpfmaps.MemoryLimitError
	if !errors.As(err, &le) || le.Map != "big2" || le.Limit != bpfmaps.DefaultMemoryLimit ||
		!errors.Is(err, ErrInvalidMap) || !strings.Contains(err.Error(), "--max-map-memory") {
		t.Fatalf("load: %v, want a MemoryLimitError for big2", err)
	}
	t.Log(err)
	if got := ms1.TotalAlloc - ms0.TotalAlloc; got > bpfmaps.DefaultMemoryLimit+64<<20 {
		t.Errorf("allocated %d bytes under a %d-byte limit", got, bpfmaps.DefaultMemoryLimit)
	}
	if _, err := Load("testdata/hostile.o", Options{MaxMapMemory: 64 << 20}); !errors.As(err, &le) || le.Map != "big0" {
		t.Errorf("64 MiB budget: %v, want big0 refused", err)
	}
}

// TestHashClaimRuns: with the arrays shrunk, the 2^30-element hash map
// loads for the cost of its first segment once the program inserts, and
// the program sees its element through the segment.
func TestHashClaimRuns(t *testing.T) {
	c, err := Load("testdata/hostile.o", Options{MaxEntries: map[string]uint32{"big0": 1, "big1": 1, "big2": 1, "big3": 1}})
	if err != nil {
		t.Fatal(err)
	}
	empty := c.MapMemory().Used()
	if empty > 1<<20 {
		t.Fatalf("the maps cost %d bytes before any insert", empty)
	}
	m, err := c.Machine("touch", vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		x, err := bpfctx.NewXDP(m, make([]byte, 64), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r0, err := m.Run(context.Background(), x.Arg()); err != nil || r0 != 2 {
			t.Fatalf("run: %d, %v", r0, err)
		}
		m.Reset()
	}
	got := make([]byte, 8)
	if err := c.Maps["claims"].Get(make([]byte, 4), got); err != nil || got[0] != 1 {
		t.Fatalf("claims[0] = %x, %v", got, err)
	}
	if used := c.MapMemory().Used() - empty; used == 0 || used > 1<<20 {
		t.Errorf("one element cost %d bytes", used)
	}
}

// TestHostileZeroSection: xdp_tailcall.o with its .bss (zero-filled, so
// free in the file) declared 3.75 GiB. cilium/ebpf allocated that before
// the loader saw a map; the loader now refuses it first, as the map it
// would become, under the maps' memory limit.
func TestHostileZeroSection(t *testing.T) {
	obj, err := os.ReadFile(examples + "/xdp_tailcall.o")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	for i, sec := range f.Sections {
		if sec.Name == ".bss" {
			le.PutUint64(obj[int(le.Uint64(obj[0x28:]))+i*64+0x20:], 0xf000_0000) // sh_size
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	_, err = LoadReader(bytes.NewReader(obj), Options{})
	runtime.ReadMemStats(&ms1)
	var me *bpfmaps.MemoryLimitError
	if !errors.As(err, &me) || me.Map != ".bss" || !errors.Is(err, ErrInvalidMap) {
		t.Fatalf("load: %v, want a MemoryLimitError for .bss", err)
	}
	if got := ms1.TotalAlloc - ms0.TotalAlloc; got > 64<<20 {
		t.Errorf("allocated %d bytes", got)
	}
}

// smallBig shrinks hostile.o's big arrays, for tests about something else.
var smallBig = map[string]uint32{"big0": 1, "big1": 1, "big2": 1, "big3": 1, "claims": 1}

// TestSpinLocksBounded walks value types that nest too deep, contain
// themselves, or share member types into billions of paths: each ends
// quickly, the first two with an error.
func TestSpinLocksBounded(t *testing.T) {
	u32 := &btf.Int{Name: "u32", Size: 4}
	lock := &btf.Struct{Name: "bpf_spin_lock", Size: 4, Members: []btf.Member{{Name: "val", Type: u32}}}
	deep := btf.Type(u32)
	for i := range maxBTFDepth + 1 {
		deep = &btf.Struct{Name: fmt.Sprint("d", i), Size: 4, Members: []btf.Member{{Name: "m", Type: deep}}}
	}
	self := &btf.Struct{Name: "self", Size: 4}
	self.Members = []btf.Member{{Name: "s", Type: &btf.Typedef{Name: "self_t", Type: self}}}
	fan := btf.Type(lock)
	for i := range 30 { // 2^30 paths to the lock
		fan = &btf.Struct{Name: fmt.Sprint("f", i), Size: 8, Members: []btf.Member{{Name: "a", Type: fan}, {Name: "b", Type: fan, Offset: 32}}}
	}
	one := &btf.Struct{Name: "v", Size: 8, Members: []btf.Member{{Name: "n", Type: u32}, {Name: "l", Type: lock, Offset: 32}}}
	for _, c := range []struct {
		name  string
		typ   btf.Type
		locks []uint32
		fails bool
	}{
		{"deep", deep, nil, true},
		{"self", self, nil, true},
		{"fan-out", fan, []uint32{0, 4}, false},
		{"one lock", one, []uint32{4}, false},
	} {
		start := time.Now()
		locks, err := spinLocks(c.typ)
		if (err != nil) != c.fails || !slices.Equal(locks, c.locks) {
			t.Errorf("%s: locks %v, error %v", c.name, locks, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", c.name, d)
		}
	}
}
