package helpers

import (
	"encoding/binary"
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
// accepts any sizes up to 512 bytes (older kernels wanted multiples of 4);
// the 32-bit result is architecture-specific but folds to the same 16 bits.
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
	seed := uint32(a[4])
	switch {
	case len(from) > 0 && len(to) > 0:
		return uint64(csumSub(csumPartial(to, seed), csumPartial(from, 0))), nil
	case len(to) > 0:
		return uint64(csumPartial(to, seed)), nil
	default:
		return uint64(^csumPartial(from, ^seed)), nil
	}
}

// csumPartial is the kernel's csum_partial: a 32-bit one's-complement sum
// of b (little-endian words, a trailing odd byte in the low half) and sum.
func csumPartial(b []byte, sum uint32) uint32 {
	acc := uint64(sum)
	for len(b) >= 4 {
		acc += uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.LittleEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0])
	}
	return fold32(acc)
}

// csumSub subtracts b from a in one's-complement arithmetic.
func csumSub(a, b uint32) uint32 { return fold32(uint64(a) + uint64(^b)) }

// fold32 folds a 64-bit one's-complement accumulator to 32 bits.
func fold32(sum uint64) uint32 {
	sum = sum&0xffffffff + sum>>32
	sum = sum&0xffffffff + sum>>32
	return uint32(sum)
}
