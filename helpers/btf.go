package helpers

import (
	"encoding/binary"
	"sync"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Helpers that read the kernel's BTF: bpf_snprintf_btf (any program) and
// bpf_btf_find_by_name_kind (syscall programs).

func init() {
	register(asm.FnSnprintfBtf, "bpf_snprintf_btf", snprintfBTF)
}

// KernelBTFEnv supplies the kernel BTF (vmlinux) whose type ids
// bpf_snprintf_btf and bpf_btf_find_by_name_kind use: the BTF the
// program's CO-RE relocations (bpf_core_type_id_kernel) were resolved
// against; nil defers to the default. Default: the BTF Set.SetKernelTypes
// gave, else the running kernel's (what the loader relocates against by
// default); where there is none, both helpers fail as on a kernel without
// BTF (-EINVAL).
type KernelBTFEnv interface {
	KernelTypes() *btf.Spec
}

// PointerHashEnv hashes a pointer as printk's %p does: the low 32 bits of
// a keyed siphash whose key is random at each boot, so no run can predict
// the kernel's value. Default: a fixed-key hash with the same shape
// (zero in the high 32 bits).
type PointerHashEnv interface {
	HashPointer(addr uint64) uint64
}

// runningKernelTypes reads the running kernel's BTF once.
var runningKernelTypes = sync.OnceValue(func() *btf.Spec {
	s, err := btf.LoadKernelSpec()
	if err != nil {
		return nil
	}
	return s
})

func (s *Set) kernelTypes() *btf.Spec {
	if e, ok := s.env.(KernelBTFEnv); ok {
		if t := e.KernelTypes(); t != nil {
			return t
		}
	}
	if s.kernelBTF != nil {
		return s.kernelBTF
	}
	return runningKernelTypes()
}

// SetKernelTypes sets the kernel BTF the helpers name types in when the
// Env is not a KernelBTFEnv (or its answer is nil): the BTF the program's CO-RE relocations were
// resolved against (loader.Collection.KernelTypes), so that the type ids
// bpf_core_type_id_kernel gave it name the same types here. Call it before
// running.
func (s *Set) SetKernelTypes(spec *btf.Spec) { s.kernelBTF = spec }

func (s *Set) hashPointer(p uint64) uint64 {
	if e, ok := s.env.(PointerHashEnv); ok {
		return e.HashPointer(p)
	}
	return defaultPointerHash(p)
}

// defaultPointerHash is splitmix64 of the address under a fixed key, cut
// to 32 bits as the kernel cuts its siphash.
func defaultPointerHash(p uint64) uint64 {
	z := p + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return (z ^ z>>31) & 0xffffffff
}

// btfPtrSize is sizeof(struct btf_ptr): ptr, type_id, flags.
const btfPtrSize = 16

// snprintfBTF implements bpf_snprintf_btf(str, str_size, ptr, btf_ptr_size,
// flags) as bpf_btf_printf_prepare and btf_type_snprintf_show do: -EINVAL
// for unknown flags, a btf_ptr_size other than 16, no kernel BTF or type
// id 0; -ENOENT for a type id the BTF does not have; otherwise the text
// of *ptr->ptr in str (cut to str_size-1 bytes and NUL-terminated) and its
// whole length, or the error reading the object failed with (-EFAULT,
// -ERANGE for a user address) after what was printed before it. One
// difference cannot be helped: a type larger than the memory the pointer
// lies in (a map value, the stack, the packet) reads on into whatever
// kernel memory follows in the kernel, and fails with -EFAULT here at the
// end of bpfscope's region.
func snprintfBTF(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	size, flags := int(uint32(a[1])), a[4]
	if flags&^btfFAll != 0 || uint32(a[3]) != btfPtrSize {
		return neg(syscall.EINVAL), nil
	}
	spec := s.kernelTypes()
	if spec == nil {
		return neg(syscall.EINVAL), nil
	}
	p, err := m.Bytes(a[2], btfPtrSize, false)
	if err != nil {
		return 0, err
	}
	obj, id := binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint32(p[8:])
	if id == 0 {
		return neg(syscall.EINVAL), nil
	}
	if int32(id) < 0 {
		return neg(syscall.ENOENT), nil
	}
	t, err := spec.TypeByID(btf.TypeID(id))
	if err != nil {
		return neg(syscall.ENOENT), nil
	}
	sh := &btfShow{
		read:    func(addr uint64, dst []byte) error { return s.readHost(m, addr, dst, false) },
		hashPtr: s.hashPointer,
		charge:  func(n int) error { return m.Charge(1 + uint64(n)/8) },
	}
	out, n, status := btfSnprintfShow(t, obj, size, flags, sh)
	if sh.err != nil {
		return 0, sh.err
	}
	if sh.wrote { // vsnprintf leaves the buffer alone until it is called
		buf, err := m.Bytes(a[0], size, true)
		if err != nil {
			return 0, err
		}
		buf[copy(buf, out)] = 0
	}
	if status != 0 {
		return neg(status), nil
	}
	return uint64(n), nil
}
