package maps

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// Programs on other goroutines update map values with atomic instructions
// while user space (Get, Put) and helpers (bpf_map_update_elem) copy whole
// values. The kernel copies values a word at a time (bpf_long_memcpy for
// per-CPU values), so a copy never tears a word an atomic instruction
// updates; these copies do the same with sync/atomic on the map's side,
// which also keeps them apart from programs' atomics under the race
// detector. Plain loads and stores a program makes into a value it shares
// remain a race, in the kernel as here.

// loadValue copies src, in map memory, to dst.
func loadValue(dst, src []byte) {
	n := min(len(dst), len(src))
	i := 0
	if uintptr(unsafe.Pointer(unsafe.SliceData(src)))%8 == 0 {
		for ; i+8 <= n; i += 8 {
			binary.NativeEndian.PutUint64(dst[i:], atomic.LoadUint64((*uint64)(unsafe.Pointer(&src[i]))))
		}
		if i+4 <= n {
			binary.NativeEndian.PutUint32(dst[i:], atomic.LoadUint32((*uint32)(unsafe.Pointer(&src[i]))))
			i += 4
		}
	}
	copy(dst[i:n], src[i:n])
}

// storeValue copies src to dst, in map memory.
func storeValue(dst, src []byte) {
	n := min(len(dst), len(src))
	i := 0
	if uintptr(unsafe.Pointer(unsafe.SliceData(dst)))%8 == 0 {
		for ; i+8 <= n; i += 8 {
			atomic.StoreUint64((*uint64)(unsafe.Pointer(&dst[i])), binary.NativeEndian.Uint64(src[i:]))
		}
		if i+4 <= n {
			atomic.StoreUint32((*uint32)(unsafe.Pointer(&dst[i])), binary.NativeEndian.Uint32(src[i:]))
			i += 4
		}
	}
	copy(dst[i:n], src[i:n])
}
