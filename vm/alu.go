package vm

import "golang.org/x/exp/constraints"

// Division and modulo follow the kernel (and RFC 9669), not the host:
// x/0 is 0, x%0 leaves x, and INT_MIN/-1 does not trap. Written once for
// both widths.

func div[T constraints.Unsigned](a, b T) T {
	if b == 0 {
		return 0
	}
	return a / b
}

func mod[T constraints.Unsigned](a, b T) T {
	if b == 0 {
		return a
	}
	return a % b
}

// sdiv and smod truncate toward zero like Go; Go already defines
// INT_MIN / -1 as INT_MIN and INT_MIN % -1 as 0 without trapping.
func sdiv[T constraints.Signed](a, b T) T {
	if b == 0 {
		return 0
	}
	return a / b
}

func smod[T constraints.Signed](a, b T) T {
	if b == 0 {
		return a
	}
	return a % b
}

// atomicOp applies a BPF_ATOMIC read-modify-write to old with operand src
// (r0 is the comparand of cmpxchg). It returns the new memory value and the
// value fetched for the register.
func atomicOp[T constraints.Unsigned](aop uint8, old, src, r0 T) (nv, fetched T) {
	switch aop &^ 1 {
	case 0x00: // add
		return old + src, old
	case 0x40: // or
		return old | src, old
	case 0x50: // and
		return old & src, old
	case 0xa0: // xor
		return old ^ src, old
	case 0xe0: // xchg
		return src, old
	default: // 0xf0 cmpxchg
		if old == r0 {
			return src, old
		}
		return old, old
	}
}
