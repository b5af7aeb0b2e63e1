package helpers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/bpfscope/bpfscope/maps"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// snprintfBTFOracle prints the value of map 1 (size objSize, contents obj)
// as kernel type id with bpf_snprintf_btf into map 0: r0 as a u64, then
// the string buffer of strSize bytes. btfPtrSz and objOff let a case pass
// a bad btf_ptr size or point outside the object.
func snprintfBTFOracle(id uint32, obj []byte, strSize int32, flags uint64, btfPtrSz int32, ptrOverride *uint64) oracle {
	objMap := oracleMap{
		spec:    maps.Spec{Name: "obj", Type: maps.Array, KeySize: 4, ValueSize: uint32(len(obj)), MaxEntries: 1},
		entries: [][2][]byte{{make([]byte, 4), obj}},
	}
	return oracle{
		maps: []oracleMap{outMap(uint32(8 + strSize)), objMap},
		build: func(fd func(int) int) asm.Instructions {
			insns := asm.Instructions{
				asm.StoreImm(asm.RFP, -4, 0, asm.Word),
				asm.LoadMapPtr(asm.R1, fd(1)),
				asm.Mov.Reg(asm.R2, asm.RFP),
				asm.Add.Imm(asm.R2, -4),
				asm.FnMapLookupElem.Call(),
				asm.JEq.Imm(asm.R0, 0, "out"),
				asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord), // btf_ptr.ptr
			}
			if ptrOverride != nil {
				insns = append(insns, stDW(asm.RFP, -24, int64(*ptrOverride)))
			}
			insns = append(insns,
				asm.StoreImm(asm.RFP, -16, int64(int32(id)), asm.Word), // type_id
				asm.StoreImm(asm.RFP, -12, 0, asm.Word),                // flags
				asm.LoadMapPtr(asm.R1, fd(0)),
				asm.Mov.Reg(asm.R2, asm.RFP),
				asm.Add.Imm(asm.R2, -4),
				asm.FnMapLookupElem.Call(),
				asm.JEq.Imm(asm.R0, 0, "out"),
				asm.Mov.Reg(asm.R6, asm.R0),
				asm.Mov.Reg(asm.R1, asm.R6),
				asm.Add.Imm(asm.R1, 8),
				asm.Mov.Imm(asm.R2, strSize),
				asm.Mov.Reg(asm.R3, asm.RFP),
				asm.Add.Imm(asm.R3, -24),
				asm.Mov.Imm(asm.R4, btfPtrSz),
				asm.LoadImm(asm.R5, int64(flags), asm.DWord),
				asm.FnSnprintfBtf.Call(),
				asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord),
				asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
				asm.Return(),
			)
			return insns
		},
	}
}

// hashedPtr is a pointer %p printed: 0x, then the hash's 32 bits
// zero-padded to 16 digits. Hashes use a per-boot key, so they are
// compared by shape.
var hashedPtr = regexp.MustCompile(`0x00000000[0-9a-f]{8}`)

// TestSnprintfBTFKernel prints kernel types with bpf_snprintf_btf under
// every flag combination, in bpfscope and in the kernel, and compares the
// return value and the string byte for byte.
func TestSnprintfBTFKernel(t *testing.T) {
	spec := runningKernelTypes()
	if spec == nil {
		t.Skip("no kernel BTF")
	}
	typeID := func(name string) (uint32, int) {
		t.Helper()
		typ, err := spec.AnyTypeByName(name)
		if err != nil {
			t.Skipf("%s: %v", name, err)
		}
		id, err := spec.TypeID(typ)
		if err != nil {
			t.Fatal(err)
		}
		size, err := btf.Sizeof(typ)
		if err != nil {
			size = 8
		}
		return uint32(id), size
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(n int, mode string) []byte {
		b := make([]byte, (n+7)&^7)
		switch mode {
		case "random":
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case "sparse":
			for i := 0; i < n; i += 7 {
				b[i] = byte(rng.Uint32())
			}
		case "text":
			copy(b, "eth0\x00xyz\x7f\xa0\xffabcdefghijklmnopqrstuvwxyz0123456789")
		}
		return b
	}
	names := []string{"int", "char", "long unsigned int", "__u64", "__be16", "bpf_cmd", "ethhdr", "iphdr",
		"tcphdr", "in6_addr", "list_head", "bpf_map_info", "bpf_attr", "sock_common", "sk_buff", "xdp_md", "bpf_timer",
		"files_struct", "task_struct", "__int128 unsigned", "bpf_prog_aux", "net_device"}
	for _, name := range names {
		id, size := typeID(name)
		for _, mode := range []string{"zero", "random", "sparse", "text"} {
			obj := fill(max(size, 1), mode)
			for flags := range uint64(16) {
				t.Run(fmt.Sprintf("%s/%s/flags=%d", name, mode, flags), func(t *testing.T) {
					compareSnprintfBTF(t, snprintfBTFOracle(id, obj, 8192, flags, 16, nil), flags)
				})
			}
		}
	}
	// Truncation, errors and bad arguments.
	id, size := typeID("ethhdr")
	obj := fill(size, "random")
	bad := uint64(0)
	kernelAddr := uint64(0xffff888000000000) // unmapped kernel memory: -EFAULT
	for _, c := range []struct {
		name        string
		id          uint32
		strSize     int32
		flags       uint64
		ptrSize     int32
		ptrOverride *uint64
	}{
		{"short", id, 10, 0, 16, nil},
		{"short-compact", id, 1, btfFCompact, 16, nil},
		{"exact", id, 43, btfFCompact, 16, nil},
		{"bad-flags", id, 64, 16, 16, nil},
		{"bad-ptr-size", id, 64, 0, 8, nil},
		{"id-0", 0, 64, 0, 16, nil},
		{"id-beyond", 1 << 30, 64, 0, 16, nil},
		{"id-negative", 1 << 31, 64, 0, 16, nil},
		{"null", id, 64, 0, 16, &bad},
		{"unmapped", id, 64, 0, 16, &kernelAddr},
	} {
		t.Run(c.name, func(t *testing.T) {
			compareSnprintfBTF(t, snprintfBTFOracle(c.id, obj, c.strSize, c.flags, c.ptrSize, c.ptrOverride), c.flags)
		})
	}
}

func compareSnprintfBTF(t *testing.T, o oracle, flags uint64) {
	t.Helper()
	got, _, _, _ := o.runVM(t, nil)
	want := o.runKernel(t)
	g, w := got.values[0], want.values[0]
	if flags&btfFPtrRaw == 0 {
		g = hashedPtr.ReplaceAll(g, []byte("0x00000000hashhash"))
		w = hashedPtr.ReplaceAll(w, []byte("0x00000000hashhash"))
	}
	if flags&btfFPtrRaw == 0 {
		g, w = cutHashAtEnd(g), cutHashAtEnd(w)
	}
	rg, rw := int64(binary.LittleEndian.Uint64(g)), int64(binary.LittleEndian.Uint64(w))
	if rg != rw || !bytes.Equal(g, w) {
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		from := max(i-200, 8)
		t.Errorf("r0 bpfscope %d, kernel %d; first difference at byte %d:\nbpfscope %q\nkernel   %q", rg, rw, i-8, cstr(g[from:min(i+100, len(g))]), cstr(w[from:min(i+100, len(w))]))
	}
}

// cutHashAtEnd blanks a hashed pointer the end of the buffer cut short
// (the pattern above needs all its digits): the text after the last "0x"
// of a full buffer's final 18 bytes.
func cutHashAtEnd(v []byte) []byte {
	text := cstr(v[8:])
	if 8+len(text)+1 != len(v) { // not cut by the buffer's size
		return v
	}
	tail := max(len(text)-18, 0)
	i := bytes.LastIndex(text[tail:], []byte("0x"))
	if i < 0 {
		return v
	}
	out := bytes.Clone(v)
	clear(out[8+tail+i : len(out)-1])
	return out
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
