package helpers

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Dynptrs live in the program's 16-byte struct bpf_dynptr, laid out as the
// kernel's bpf_dynptr_kern: the data address, then size (low 24 bits),
// type (bits 28-30) and read-only (bit 31), then an offset into the data.
// For local and ring buffer dynptrs the address is the memory's; for skb
// and XDP ones it is the context's, and reads go through the packet
// helpers, as the kernel's do.
const (
	dynptrSize      = 16
	dynptrSizeMask  = 0xffffff
	dynptrTypeShift = 28
	dynptrTypeMask  = 7
	dynptrRdonly    = 1 << 31
	dynptrMaxSize   = dynptrSizeMask
)

// Dynptr types (enum bpf_dynptr_type).
const (
	dynptrInvalid = iota
	dynptrLocal
	dynptrRingbuf
	dynptrSKB
	dynptrXDP
)

type dynptr struct {
	data   uint64
	size   uint32
	typ    uint8
	rdonly bool
	offset uint32
}

func readDynptr(m *vm.Machine, addr uint64) (dynptr, []byte, error) {
	b, err := m.Bytes(addr, dynptrSize, true)
	if err != nil {
		return dynptr{}, nil, err
	}
	w := binary.NativeEndian.Uint32(b[8:])
	return dynptr{
		data:   binary.NativeEndian.Uint64(b),
		size:   w & dynptrSizeMask,
		typ:    uint8(w >> dynptrTypeShift & dynptrTypeMask),
		rdonly: w&dynptrRdonly != 0,
		offset: binary.NativeEndian.Uint32(b[12:]),
	}, b, nil
}

func (d dynptr) put(b []byte) {
	w := d.size | uint32(d.typ)<<dynptrTypeShift
	if d.rdonly {
		w |= dynptrRdonly
	}
	binary.NativeEndian.PutUint64(b, d.data)
	binary.NativeEndian.PutUint32(b[8:], w)
	binary.NativeEndian.PutUint32(b[12:], d.offset)
}

// setNull is bpf_dynptr_set_null: an invalid dynptr reads as all zeros.
func setNull(b []byte) { clear(b[:dynptrSize]) }

// checkOffLen is bpf_dynptr_check_off_len.
func (d dynptr) checkOffLen(off, n uint64) syscall.Errno {
	if off > uint64(d.size) || n > uint64(d.size)-off {
		return syscall.E2BIG
	}
	return 0
}

func init() {
	register(asm.FnDynptrFromMem, "bpf_dynptr_from_mem", dynptrFromMem)
	register(asm.FnDynptrRead, "bpf_dynptr_read", dynptrRead)
	register(asm.FnDynptrWrite, "bpf_dynptr_write", dynptrWrite)
	register(asm.FnDynptrData, "bpf_dynptr_data", dynptrData)
	register(asm.FnRingbufReserveDynptr, "bpf_ringbuf_reserve_dynptr", ringbufReserveDynptr)
	register(asm.FnRingbufSubmitDynptr, "bpf_ringbuf_submit_dynptr", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return ringbufCommitDynptr(s, m, a, false)
	})
	register(asm.FnRingbufDiscardDynptr, "bpf_ringbuf_discard_dynptr", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return ringbufCommitDynptr(s, m, a, true)
	})
}

// dynptrFromMem is bpf_dynptr_from_mem(data, size, flags, ptr).
func dynptrFromMem(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	_, b, err := readDynptr(m, a[3])
	if err != nil {
		return 0, err
	}
	size := uint32(a[1])
	if a[2] != 0 {
		setNull(b)
		return neg(syscall.EINVAL), nil
	}
	if size > dynptrMaxSize {
		setNull(b)
		return neg(syscall.E2BIG), nil
	}
	if _, err := m.Bytes(a[0], int(size), false); err != nil {
		return 0, err
	}
	dynptr{data: a[0], size: size, typ: dynptrLocal}.put(b)
	return 0, nil
}

// dynptrRead is bpf_dynptr_read(dst, len, src, offset, flags).
func dynptrRead(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	d, _, err := readDynptr(m, a[2])
	if err != nil {
		return 0, err
	}
	return d.read(s, m, a[0], uint32(a[1]), uint32(a[3]), a[4])
}

func (d dynptr) read(s *Set, m *vm.Machine, dst uint64, n, off uint32, flags uint64) (uint64, error) {
	if d.data == 0 || flags != 0 {
		return neg(syscall.EINVAL), nil
	}
	if e := d.checkOffLen(uint64(off), uint64(n)); e != 0 {
		return neg(e), nil
	}
	switch d.typ {
	case dynptrLocal, dynptrRingbuf:
		from, err := m.Bytes(d.data+uint64(d.offset+off), int(n), false)
		if err != nil {
			return 0, err
		}
		to, err := m.Bytes(dst, int(n), true)
		if err != nil {
			return 0, err
		}
		copy(to, from)
		return 0, nil
	case dynptrSKB:
		return skbLoadBytes(s, m, vm.Args{d.data, uint64(d.offset + off), dst, uint64(n)})
	case dynptrXDP:
		return xdpCopy(m, vm.Args{d.data, uint64(d.offset + off), dst, uint64(n)}, false)
	}
	return 0, fmt.Errorf("dynptr of type %d", d.typ)
}

// dynptrWrite is bpf_dynptr_write(dst, offset, src, len, flags).
func dynptrWrite(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	d, _, err := readDynptr(m, a[0])
	if err != nil {
		return 0, err
	}
	return d.write(s, m, uint32(a[1]), a[2], uint32(a[3]), a[4])
}

func (d dynptr) write(_ *Set, m *vm.Machine, off uint32, src uint64, n uint32, flags uint64) (uint64, error) {
	if d.data == 0 || d.rdonly {
		return neg(syscall.EINVAL), nil
	}
	if e := d.checkOffLen(uint64(off), uint64(n)); e != 0 {
		return neg(e), nil
	}
	switch d.typ {
	case dynptrLocal, dynptrRingbuf:
		if flags != 0 {
			return neg(syscall.EINVAL), nil
		}
		from, err := m.Bytes(src, int(n), false)
		if err != nil {
			return 0, err
		}
		to, err := m.Bytes(d.data+uint64(d.offset+off), int(n), true)
		if err != nil {
			return 0, err
		}
		copy(to, from)
		return 0, nil
	case dynptrSKB:
		k, err := skbArg(m, d.data)
		if err != nil {
			return 0, err
		}
		from, err := m.Bytes(src, int(n), false)
		if err != nil {
			return 0, err
		}
		return errnoRet(k.StoreBytes(d.offset+off, append([]byte(nil), from...), flags))
	case dynptrXDP:
		if flags != 0 {
			return neg(syscall.EINVAL), nil
		}
		return xdpCopy(m, vm.Args{d.data, uint64(d.offset + off), src, uint64(n)}, true)
	}
	return 0, fmt.Errorf("dynptr of type %d", d.typ)
}

// dynptrData is bpf_dynptr_data(ptr, offset, len): a pointer into local
// and ring buffer dynptrs, NULL for read-only, skb and XDP ones (those
// take bpf_dynptr_slice) or out of range.
func dynptrData(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	d, _, err := readDynptr(m, a[0])
	if err != nil {
		return 0, err
	}
	if d.data == 0 || d.checkOffLen(uint64(uint32(a[1])), uint64(uint32(a[2]))) != 0 || d.rdonly {
		return 0, nil
	}
	if d.typ == dynptrLocal || d.typ == dynptrRingbuf {
		return d.data + uint64(d.offset) + uint64(uint32(a[1])), nil
	}
	return 0, nil
}

// ringbufReserveDynptr is bpf_ringbuf_reserve_dynptr(ringbuf, size, flags, ptr).
func ringbufReserveDynptr(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	_, b, err := readDynptr(m, a[3])
	if err != nil {
		return 0, err
	}
	size := uint32(a[1])
	switch {
	case a[2] != 0:
		setNull(b)
		return neg(syscall.EINVAL), nil
	case size > dynptrMaxSize:
		setNull(b)
		return neg(syscall.E2BIG), nil
	}
	addr, err := ringbufReserve(s, m, vm.Args{a[0], uint64(size), 0})
	if err != nil {
		return 0, err
	}
	if addr == 0 {
		setNull(b)
		return neg(syscall.EAGAIN), nil
	}
	dynptr{data: addr, size: size, typ: dynptrRingbuf}.put(b)
	return 0, nil
}

// ringbufCommitDynptr is bpf_ringbuf_submit/discard_dynptr(ptr, flags):
// nothing for a NULL dynptr, else commit and null it.
func ringbufCommitDynptr(s *Set, m *vm.Machine, a vm.Args, discard bool) (uint64, error) {
	d, b, err := readDynptr(m, a[0])
	if err != nil {
		return 0, err
	}
	if d.data == 0 {
		return 0, nil
	}
	if _, err := ringbufCommit(s, m, vm.Args{d.data, a[1]}, discard); err != nil {
		return 0, err
	}
	setNull(b)
	return 0, nil
}
