package loader

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/bpfscope/bpfscope/helpers"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// mapTypes are the map types package maps implements.
var mapTypes = map[ebpf.MapType]bpfmaps.Type{
	ebpf.Hash:           bpfmaps.Hash,
	ebpf.Array:          bpfmaps.Array,
	ebpf.ProgramArray:   bpfmaps.ProgramArray,
	ebpf.PerfEventArray: bpfmaps.PerfEventArray,
	ebpf.CGroupArray:    bpfmaps.CGroupArray,
	ebpf.PerCPUHash:     bpfmaps.PerCPUHash,
	ebpf.PerCPUArray:    bpfmaps.PerCPUArray,
	ebpf.LRUHash:        bpfmaps.LRUHash,
	ebpf.LRUCPUHash:     bpfmaps.LRUCPUHash,
	ebpf.LPMTrie:        bpfmaps.LPMTrie,
	ebpf.ArrayOfMaps:    bpfmaps.ArrayOfMaps,
	ebpf.HashOfMaps:     bpfmaps.HashOfMaps,
	ebpf.Queue:          bpfmaps.Queue,
	ebpf.Stack:          bpfmaps.Stack,
	ebpf.RingBuf:        bpfmaps.RingBuf,
	ebpf.DevMap:         bpfmaps.DevMap,
	ebpf.DevMapHash:     bpfmaps.DevMapHash,
	ebpf.CPUMap:         bpfmaps.CPUMap,
	ebpf.XSKMap:         bpfmaps.XSKMap,
	ebpf.SkStorage:      bpfmaps.SkStorage,
	ebpf.TaskStorage:    bpfmaps.TaskStorage,
	ebpf.CgroupStorage:  bpfmaps.CgrpStorage,
	// The cgroup storage of bpf_get_local_storage.
	ebpf.CGroupStorage:       bpfmaps.CgroupStorage,
	ebpf.PerCPUCGroupStorage: bpfmaps.PerCPUCgroupStorage,
	ebpf.UserRingbuf:         bpfmaps.UserRingBuf,
}

// isDataSection reports whether a map holds a global data section.
func isDataSection(name string) bool {
	return name == ".bss" || name == ".data" || name == ".rodata" || name == kconfigMap ||
		strings.HasPrefix(name, ".data.") || strings.HasPrefix(name, ".rodata.")
}

// mapSpec converts a cilium map spec, choosing max_entries where the
// object left it to user space. Pinning is ignored: nothing is shared
// between collections.
func (l *linker) mapSpec(name string, ms *ebpf.MapSpec) (*bpfmaps.Spec, error) {
	typ, ok := mapTypes[ms.Type]
	if !ok {
		return nil, &Error{Object: l.object, Map: name, Insn: -1, Err: ErrUnsupportedMap, Detail: ms.Type.String()}
	}
	s := &bpfmaps.Spec{
		Name: name, Type: typ, KeySize: ms.KeySize, ValueSize: ms.ValueSize,
		MaxEntries: ms.MaxEntries, Flags: ms.Flags,
	}
	// BTF that disagrees with the sizes would name the wrong bytes: traces
	// then show raw bytes instead.
	if btfvalue.Size(ms.Key) == int(ms.KeySize) {
		s.Key = ms.Key
	}
	if btfvalue.Size(ms.Value) == int(ms.ValueSize) {
		s.Value = ms.Value
	}
	switch typ {
	case bpfmaps.SkStorage, bpfmaps.TaskStorage, bpfmaps.CgrpStorage:
		// Sized by their owners in the kernel, which wants max_entries 0;
		// here MaxEntries is how many owners can hold a value at once.
		if ms.MaxEntries != 0 {
			return nil, &Error{Object: l.object, Map: name, Insn: -1, Err: ErrInvalidMap,
				Detail: fmt.Sprintf("(max_entries %d: local storage maps take 0)", ms.MaxEntries)}
		}
	}
	if n, ok := l.opts.MaxEntries[name]; ok {
		s.MaxEntries = n
	} else if typ == bpfmaps.CgroupStorage || typ == bpfmaps.PerCPUCgroupStorage {
		// Storage per attachment: the kernel wants max_entries 0.
	} else if s.MaxEntries == 0 {
		s.MaxEntries = DefaultMaxEntries
		if typ == bpfmaps.PerfEventArray {
			s.MaxEntries = uint32(l.opts.PossibleCPUs)
		}
	}
	if typ == bpfmaps.CPUMap && s.MaxEntries > uint32(l.opts.PossibleCPUs) {
		// cilium/ebpf clamps a cpumap to the possible CPUs.
		s.MaxEntries = uint32(l.opts.PossibleCPUs)
	}
	locks, err := spinLocks(ms.Value)
	if err != nil {
		return nil, &Error{Object: l.object, Map: name, Insn: -1, Err: ErrInvalidMap, Detail: "(value type)", Cause: err}
	}
	switch len(locks) {
	case 0:
	case 1:
		s.HasSpinLock, s.SpinLockOff = true, locks[0]
	default:
		return nil, &Error{Object: l.object, Map: name, Insn: -1, Err: ErrInvalidMap,
			Detail: "(several bpf_spin_locks in the value, the kernel allows one)"}
	}
	if ms.InnerMap != nil {
		inner, err := l.mapSpec(name+".inner", ms.InnerMap)
		if err != nil {
			return nil, err
		}
		s.InnerMap = inner
	}
	return s, nil
}

// maxBTFDepth is the kernel's MAX_RESOLVE_DEPTH: BTF whose types nest
// deeper (a struct in a struct in ..., or a struct that contains itself,
// which C cannot write but BTF can) fails the kernel's BTF check.
const maxBTFDepth = 32

// spinLocks lists the offsets of the struct bpf_spin_lock fields in a
// value's BTF (at most two: one more than the kernel allows), looking into
// nested structs and data section variables as the kernel's
// btf_parse_fields does. Each type is walked once, so types shared by many
// members cost nothing more; a type that contains itself or nests past
// maxBTFDepth is an error.
func spinLocks(t btf.Type) ([]uint32, error) {
	w := lockWalk{}
	info, err := w.walk(t)
	if err != nil {
		return nil, err
	}
	return info.offs, nil
}

type lockWalk map[btf.Type]*lockInfo

type lockInfo struct {
	offs   []uint32 // relative to the type's start
	height int      // levels of nesting below the type
	busy   bool     // being walked: meeting it again is a cycle
}

func (w lockWalk) walk(t btf.Type) (*lockInfo, error) {
	t = btf.UnderlyingType(t)
	if info, ok := w[t]; ok {
		if info.busy {
			return nil, fmt.Errorf("type %s contains itself", t.TypeName())
		}
		return info, nil
	}
	info := &lockInfo{busy: true}
	w[t] = info
	add := func(child btf.Type, off uint32) error {
		c, err := w.walk(child)
		if err != nil {
			return err
		}
		info.height = max(info.height, c.height+1)
		for _, o := range c.offs {
			if len(info.offs) < 2 {
				info.offs = append(info.offs, off+o)
			}
		}
		return nil
	}
	switch v := t.(type) {
	case *btf.Struct:
		if v.Name == "bpf_spin_lock" {
			info.offs = []uint32{0}
			break
		}
		for _, m := range v.Members {
			if m.BitfieldSize == 0 {
				if err := add(m.Type, m.Offset.Bytes()); err != nil {
					return nil, err
				}
			}
		}
	case *btf.Datasec:
		for _, vs := range v.Vars {
			if err := add(vs.Type, vs.Offset); err != nil {
				return nil, err
			}
		}
	case *btf.Var:
		if err := add(v.Type, 0); err != nil {
			return nil, err
		}
	}
	if info.height > maxBTFDepth {
		return nil, fmt.Errorf("types nest %d deep, more than the kernel's MAX_RESOLVE_DEPTH of %d", info.height, maxBTFDepth)
	}
	info.busy = false
	return info, nil
}

func (l *linker) newMap(name string, ms *ebpf.MapSpec) (bpfmaps.Map, error) {
	s, err := l.mapSpec(name, ms)
	if err != nil {
		return nil, err
	}
	opts := []bpfmaps.Option{bpfmaps.WithPossibleCPUs(l.opts.PossibleCPUs), bpfmaps.WithBudget(l.budget)}
	if l.opts.NetDevices != nil {
		opts = append(opts, bpfmaps.WithNetDevices(l.opts.NetDevices...))
	}
	m, err := bpfmaps.New(s, opts...)
	if err != nil {
		return nil, &Error{Object: l.object, Map: name, Insn: -1, Err: ErrInvalidMap, Cause: err}
	}
	return m, nil
}

// fill writes a map's initial contents: a data section's bytes overlaid
// with the spec's variables, the programs of a program array and the inner
// maps of a map of maps (named in .values), or plain keys and values.
func (l *linker) fill(c *Collection, name string, ms *ebpf.MapSpec) error {
	m := c.Maps[name]
	fail := func(detail string, cause error) error {
		return &Error{Object: l.object, Map: name, Insn: -1, Err: ErrMapContents, Detail: detail, Cause: cause}
	}
	if isDataSection(name) && len(ms.Contents) == 1 {
		data, ok := ms.Contents[0].Value.([]byte)
		if !ok || len(data) != int(ms.ValueSize) {
			return fail("(data section value is not its bytes)", nil)
		}
		data = append([]byte(nil), data...)
		for vname, v := range l.spec.Variables {
			if v.SectionName != name {
				continue
			}
			if int(v.Offset)+len(v.Value) > len(data) {
				return fail("variable "+vname, fmt.Errorf("%d bytes at offset %d overflow the %d-byte section", len(v.Value), v.Offset, len(data)))
			}
			copy(data[v.Offset:], v.Value)
		}
		if err := m.Put(make([]byte, 4), data, bpfmaps.UpdateAny); err != nil {
			return fail("", err)
		}
		return nil
	}
	for _, kv := range ms.Contents {
		key, err := encode(kv.Key, l.spec.ByteOrder)
		if err != nil {
			return fail(fmt.Sprintf("key %v", kv.Key), err)
		}
		switch mm := m.(type) {
		case *bpfmaps.ProgramArrayMap:
			pname, ok := kv.Value.(string)
			if !ok || len(key) != 4 {
				return fail(fmt.Sprintf("slot %v", kv.Key), fmt.Errorf("want a program name, have %T", kv.Value))
			}
			p, ok := c.Programs[pname]
			if !ok {
				return fail("slot program "+pname, ErrUnresolved)
			}
			if err := mm.SetProgram(l.spec.ByteOrder.Uint32(key), p.Prog); err != nil {
				return fail("slot program "+pname, err)
			}
			continue
		case interface {
			SetMap([]byte, bpfmaps.Map, uint64) error
		}:
			iname, ok := kv.Value.(string)
			if !ok {
				return fail(fmt.Sprintf("key %v", kv.Key), fmt.Errorf("want an inner map name, have %T", kv.Value))
			}
			inner, ok := c.Maps[iname]
			if !ok {
				return fail("inner map "+iname, ErrUnresolved)
			}
			if err := mm.SetMap(key, inner, bpfmaps.UpdateAny); err != nil {
				return fail("inner map "+iname, err)
			}
			continue
		}
		value, err := encode(kv.Value, l.spec.ByteOrder)
		if err != nil {
			return fail(fmt.Sprintf("value of key %x", key), err)
		}
		if err := m.Put(key, value, bpfmaps.UpdateAny); err != nil {
			return fail(fmt.Sprintf("key %x", key), err)
		}
	}
	return nil
}

// encode turns a MapKV key or value into bytes in the object's byte order.
func encode(v any, bo binary.ByteOrder) ([]byte, error) {
	switch v := v.(type) {
	case []byte:
		return v, nil
	case string:
		return nil, fmt.Errorf("unexpected symbol %q", v)
	}
	b, err := binary.Append(nil, bo, v)
	if err != nil {
		return nil, fmt.Errorf("%T has no fixed-size encoding", v)
	}
	return b, nil
}

// helperSet wraps the user's helpers with the trap that poisoned CO-RE
// instructions call.
func (c *Collection) helperSet(h vm.HelperSet) vm.HelperSet {
	if h == nil {
		hs := helpers.New(nil)
		if c.types != nil {
			hs.SetKernelTypes(c.types) // the BTF bpf_core_type_id_kernel resolved against
		}
		h = hs
	}
	return coreTrap{HelperSet: h, c: c}
}
