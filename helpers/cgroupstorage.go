package helpers

import (
	"fmt"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

func init() {
	register(asm.FnGetLocalStorage, "bpf_get_local_storage", getLocalStorage)
}

// cgroupStorageKey names one storage of a run: a map, and for the per-CPU
// type the CPU.
type cgroupStorageKey struct {
	m   *maps.CgroupStorageMap
	cpu uint32
}

// getLocalStorage is bpf_get_local_storage(map, flags): the run's storage
// for a cgroup storage map. bpf_test_run allocates the storage of each
// type zeroed when a test run starts and frees it when the run ends
// (bpf_cgroup_storage_alloc), so a run starts from zeros and no map
// value changes; a per-CPU map gives the current CPU's. (The kernel keeps
// the storage over the repeats of one test run: with repeat > 1 a later
// repeat sees what an earlier one wrote there, not here.)
func getLocalStorage(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	cs, ok := mp.(*maps.CgroupStorageMap)
	if !ok {
		return 0, fmt.Errorf("map %s is a %v, not a cgroup storage map", mp.Name(), mp.Type())
	}
	if a[1] != 0 {
		return 0, fmt.Errorf("flags %#x: the verifier allows only 0", a[1])
	}
	key := cgroupStorageKey{m: cs}
	if cs.Type() == maps.PerCPUCgroupStorage {
		key.cpu = s.env.CPU()
	}
	st := s.run(m)
	if addr, ok := st.cgroupStorage[key]; ok {
		return addr, nil
	}
	if st.cgroupStorage == nil {
		st.cgroupStorage = map[cgroupStorageKey]uint64{}
	}
	name := cs.Name()
	if cs.Type() == maps.PerCPUCgroupStorage {
		name = fmt.Sprintf("%s[cpu %d]", name, key.cpu)
	}
	addr := m.Map(&vm.Region{Name: name, Data: make([]byte, cs.ValueSize()), Kind: hooks.RegionMapValue})
	st.cgroupStorage[key] = addr
	return addr, nil
}
