package vm

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Machines sharing maps run on different goroutines, as one program runs on
// many CPUs in the kernel: a BPF atomic instruction must be atomic against
// every other machine's atomics on the same memory, as the kernel's
// lock-prefixed instructions are. Plain loads and stores stay plain: two
// machines writing one map value without atomics race, as they do in the
// kernel (and the race detector says so).

var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// atomicSlow serializes the atomics sync/atomic cannot do in place:
// unaligned words, and every word on a big-endian host (BPF memory is
// little-endian).
var atomicSlow sync.Mutex

// atomicRMW applies BPF atomic operation aop to the 4 or 8 bytes b and
// returns the value it fetched (the old value).
func atomicRMW(b []byte, aop uint8, src, r0 uint64) (fetched uint64) {
	p := unsafe.Pointer(&b[0])
	switch {
	case !littleEndianHost || uintptr(p)%uintptr(len(b)) != 0:
	case len(b) == 4:
		w := (*uint32)(p)
		for {
			old := atomic.LoadUint32(w)
			nv, f := atomicOp(aop, old, uint32(src), uint32(r0))
			if nv == old || atomic.CompareAndSwapUint32(w, old, nv) {
				return uint64(f)
			}
		}
	default:
		w := (*uint64)(p)
		for {
			old := atomic.LoadUint64(w)
			nv, f := atomicOp(aop, old, src, r0)
			if nv == old || atomic.CompareAndSwapUint64(w, old, nv) {
				return f
			}
		}
	}
	atomicSlow.Lock()
	defer atomicSlow.Unlock()
	if len(b) == 4 {
		nv, f := atomicOp(aop, uint32(getN(b)), uint32(src), uint32(r0))
		putN(b, uint64(nv))
		return uint64(f)
	}
	nv, f := atomicOp(aop, getN(b), src, r0)
	putN(b, nv)
	return f
}
