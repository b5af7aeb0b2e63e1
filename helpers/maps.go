package helpers

import (
	"fmt"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

func init() {
	register(asm.FnMapLookupElem, "bpf_map_lookup_elem", mapLookup)
	register(asm.FnMapUpdateElem, "bpf_map_update_elem", mapUpdate)
	register(asm.FnMapDeleteElem, "bpf_map_delete_elem", mapDelete)
}

// mapArg resolves the map pointer a program passed in a register.
func mapArg(m *vm.Machine, addr uint64) (maps.Map, error) {
	vmap, ok := m.MapAt(addr)
	if !ok {
		return nil, fmt.Errorf("%#x (%s) is not a map pointer", addr, m.Describe(addr))
	}
	mp, ok := vmap.(maps.Map)
	if !ok {
		return nil, fmt.Errorf("map %s does not support helper operations", vmap.Name())
	}
	return mp, nil
}

// redirectOnly mirrors check_map_func_compatibility for the XDP redirect
// maps: programs may look devmaps and xskmaps up and redirect to all of
// them, nothing else; the verifier rejects other calls.
func redirectOnly(mp maps.Map, fn string) error {
	t := mp.Type()
	switch {
	case fn == "bpf_map_lookup_elem" && t != maps.CPUMap:
		return nil
	case t == maps.DevMap || t == maps.DevMapHash || t == maps.CPUMap || t == maps.XSKMap:
		return fmt.Errorf("%s on %s map %s (the verifier rejects this)", fn, t, mp.Name())
	}
	return nil
}

func keyArg(m *vm.Machine, mp maps.Map, addr uint64) ([]byte, error) {
	return m.Bytes(addr, mp.KeySize(), false)
}

func mapLookup(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	if err := redirectOnly(mp, "bpf_map_lookup_elem"); err != nil {
		return 0, err
	}
	key, err := keyArg(m, mp, a[1])
	if err != nil {
		return 0, err
	}
	if mm, isMapOfMaps := mp.(interface {
		LookupMap(key []byte) (maps.Map, bool)
	}); isMapOfMaps { // the value is the inner map itself
		inner, ok := mm.LookupMap(key)
		if listen, _ := m.Listening(); listen {
			m.ReportMapOp(&hooks.MapOp{Map: mp.Name(), Op: hooks.MapLookup, Key: key, Hit: ok})
		}
		if !ok {
			return 0, nil
		}
		return m.MapHandle(inner), nil
	}
	off, ok := mp.Lookup(key, int(s.env.CPU()))
	if listen, _ := m.Listening(); listen {
		ev := &hooks.MapOp{Map: mp.Name(), Op: hooks.MapLookup, Key: key, Hit: ok}
		if ok {
			ev.Value = mp.Value(off)
		}
		m.ReportMapOp(ev)
	}
	if !ok {
		return 0, nil
	}
	return m.MapValue(mp, off), nil
}

func mapUpdate(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	if err := redirectOnly(mp, "bpf_map_update_elem"); err != nil {
		return 0, err
	}
	key, err := keyArg(m, mp, a[1])
	if err != nil {
		return 0, err
	}
	val, err := m.Bytes(a[2], mp.ValueSize(), false)
	if err != nil {
		return 0, err
	}
	uerr := mp.Update(key, val, a[3], int(s.env.CPU()))
	ret, err := errnoRet(uerr)
	if listen, _ := m.Listening(); listen {
		m.ReportMapOp(&hooks.MapOp{Map: mp.Name(), Op: hooks.MapUpdate, Key: key, Value: val, Flags: a[3], Errno: errnoOf(ret)})
	}
	return ret, err
}

func mapDelete(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[0])
	if err != nil {
		return 0, err
	}
	if err := redirectOnly(mp, "bpf_map_delete_elem"); err != nil {
		return 0, err
	}
	key, err := keyArg(m, mp, a[1])
	if err != nil {
		return 0, err
	}
	ret, err := errnoRet(mp.Delete(key))
	if listen, _ := m.Listening(); listen {
		m.ReportMapOp(&hooks.MapOp{Map: mp.Name(), Op: hooks.MapDelete, Key: key, Errno: errnoOf(ret)})
	}
	return ret, err
}

// errnoOf turns a helper return of -errno into the positive errno.
func errnoOf(ret uint64) int32 {
	if int64(ret) < 0 {
		return int32(-int64(ret))
	}
	return 0
}
