package maps

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
)

// TestCgroupStorageSpecKernel creates cgroup storage maps of edge sizes in
// the kernel and here: both must accept or refuse each, with the same
// errno; a detached map then answers lookups and updates with ENOENT and
// deletes with EINVAL, as the kernel's does.
func TestCgroupStorageSpecKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bpf() needs root")
	}
	for _, c := range []struct {
		typ                 Type
		key, value, entries uint32
		flags               uint32
	}{
		{CgroupStorage, 8, 8, 0, 0},
		{CgroupStorage, 16, 8, 0, 0},
		{CgroupStorage, 12, 8, 0, 0},
		{CgroupStorage, 4, 8, 0, 0},
		{CgroupStorage, 8, 0, 0, 0},
		{CgroupStorage, 8, 8, 1, 0},
		{CgroupStorage, 8, cgroupStorageMaxValue, 0, 0},
		{CgroupStorage, 8, cgroupStorageMaxValue + 1, 0, 0},
		{CgroupStorage, 8, 8, 0, FlagNoPrealloc},
		{CgroupStorage, 8, 8, 0, FlagRdOnlyProg},
		{PerCPUCgroupStorage, 8, percpuCgroupStorageMaxValue, 0, 0},
		{PerCPUCgroupStorage, 8, percpuCgroupStorageMaxValue + 1, 0, 0},
		{PerCPUCgroupStorage, 16, 24, 0, 0},
	} {
		km, kerr := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.MapType(c.typ), KeySize: c.key, ValueSize: c.value, MaxEntries: c.entries, Flags: c.flags})
		if errors.Is(kerr, ebpf.ErrNotSupported) {
			t.Skip(kerr)
		}
		m, err := New(&Spec{Name: "cg", Type: c.typ, KeySize: c.key, ValueSize: c.value, MaxEntries: c.entries, Flags: c.flags})
		if sameErrno(kerr, err) != nil {
			t.Errorf("%v key %d value %d entries %d flags %#x: kernel %v, bpfscope %v", c.typ, c.key, c.value, c.entries, c.flags, kerr, err)
		}
		if kerr != nil || err != nil {
			continue
		}
		key := make([]byte, c.key)
		val := make([]byte, m.UserValueSize())
		kval := make([]byte, 1<<20) // room for every possible CPU's value
		k := kernelMap{km}
		kErrs := []error{k.call(bpfMapLookupElem, key, kval, 0), k.call(bpfMapUpdateElem, key, kval, 0),
			k.call(bpfMapUpdateElem, key, kval, 1<<8), k.call(bpfMapDeleteElem, key, nil, 0), k.call(bpfMapGetNextKey, nil, make([]byte, c.key), 0)}
		errs := []error{m.Get(key, val), m.Put(key, val, 0), m.Put(key, val, 1<<8), m.Remove(key), m.NextKey(nil, make([]byte, c.key))}
		for i := range errs {
			if sameErrno(kErrs[i], errs[i]) != nil {
				t.Errorf("%v op %d: kernel %v, bpfscope %v", c.typ, i, kErrs[i], errs[i])
			}
		}
		km.Close()
	}
}

// sameErrno is nil when both errors are nil or carry the same errno.
func sameErrno(a, b error) error {
	if (a == nil) != (b == nil) {
		return errors.New("one failed")
	}
	for _, e := range []syscall.Errno{syscall.EINVAL, syscall.E2BIG, syscall.ENOENT, syscall.EPERM, syscall.EOPNOTSUPP} {
		if errors.Is(a, e) != errors.Is(b, e) {
			return e
		}
	}
	return nil
}
