package helpers

import (
	"encoding/binary"
	"math/bits"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

func init() {
	register(asm.FnCsumDiff, "bpf_csum_diff", csumDiff)
}

// maxCsumDiff is the kernel's limit on each buffer: MAX_BPF_STACK bytes.
const maxCsumDiff = 512

// csumDiff implements bpf_csum_diff(from, from_size, to, to_size, seed):
// seed plus the one's-complement sum of to, minus that of from. Linux 6.18
// accepts any sizes up to 512 bytes (older kernels wanted multiples of 4)
// and folds the result to 16 bits, so it no longer depends on the
// architecture.
func csumDiff(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	fromSize, toSize := a[1], a[3]
	if fromSize > maxCsumDiff || toSize > maxCsumDiff {
		return neg(syscall.EINVAL), nil
	}
	from, err := m.Bytes(a[0], int(fromSize), false)
	if err != nil {
		return 0, err
	}
	to, err := m.Bytes(a[2], int(toSize), false)
	if err != nil {
		return 0, err
	}
	if err := chargeBytes(m, len(from)+len(to)); err != nil {
		return 0, err
	}
	seed := uint32(a[4])
	var sum uint32
	switch {
	case len(from) > 0 && len(to) > 0:
		sum = csumSub(csumPartial(to, seed), csumPartial(from, 0))
	case len(to) > 0:
		sum = csumPartial(to, seed)
	default:
		sum = ^csumPartial(from, ^seed)
	}
	return uint64(fold16(sum)), nil
}

// csumPartial is x86-64's csum_partial: a 64-bit one's-complement sum of
// little-endian 8-byte words (the tail zero-padded) starting from sum,
// finalized to 32 bits. Other architectures give other 32-bit values with
// the same 16-bit fold.
func csumPartial(b []byte, sum uint32) uint32 {
	acc := uint64(sum)
	add := func(w uint64) {
		var c uint64
		acc, c = bits.Add64(acc, w, 0)
		acc += c
	}
	for len(b) >= 8 {
		add(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte
		copy(tail[:], b)
		add(binary.LittleEndian.Uint64(tail[:]))
	}
	return uint32((acc + bits.RotateLeft64(acc, 32)) >> 32)
}

// csumSub is the kernel's 32-bit one's-complement csum_sub (csumAdd is in skb.go).
func csumSub(a, b uint32) uint32 { return csumAdd(a, ^b) }

// fold16 is the kernel's from32to16: a 32-bit sum folded to 16 bits.
func fold16(x uint32) uint16 {
	x = x&0xffff + x>>16
	x = x&0xffff + x>>16
	return uint16(x)
}
