package maps

import (
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// Type is a map type, numbered like the kernel's BPF_MAP_TYPE_* values.
type Type uint32

// Map types implemented by this package, with the kernel's numbers.
const (
	Hash           Type = 1
	Array          Type = 2
	ProgramArray   Type = 3
	PerfEventArray Type = 4
	PerCPUHash     Type = 5
	PerCPUArray    Type = 6
	CGroupArray    Type = 8
	LRUHash        Type = 9
	LRUCPUHash     Type = 10
	LPMTrie        Type = 11
	ArrayOfMaps    Type = 12
	HashOfMaps     Type = 13
	DevMap         Type = 14
	CPUMap         Type = 16
	XSKMap         Type = 17
	Queue          Type = 22
	Stack          Type = 23
	DevMapHash     Type = 25
	RingBuf        Type = 27
)

var typeNames = map[Type]string{
	Hash: "Hash", Array: "Array", ProgramArray: "ProgramArray",
	PerfEventArray: "PerfEventArray", PerCPUHash: "PerCPUHash",
	PerCPUArray: "PerCPUArray", LRUHash: "LRUHash", LRUCPUHash: "LRUCPUHash",
	LPMTrie: "LPMTrie", ArrayOfMaps: "ArrayOfMaps", HashOfMaps: "HashOfMaps",
	Queue: "Queue", Stack: "Stack", RingBuf: "RingBuf",
	DevMap: "DevMap", DevMapHash: "DevMapHash", CPUMap: "CPUMap", XSKMap: "XSKMap",
	CGroupArray: "CGroupArray",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("MapType(%d)", uint32(t))
}

// hasPerCPUValue reports whether values are stored once per possible CPU.
func (t Type) hasPerCPUValue() bool {
	return t == PerCPUArray || t == PerCPUHash || t == LRUCPUHash
}

// Map creation flags (BPF_F_*).
const (
	FlagNoPrealloc    = 0x1
	FlagNoCommonLRU   = 0x2
	FlagNUMANode      = 0x4
	FlagRdOnly        = 0x8
	FlagWrOnly        = 0x10
	FlagZeroSeed      = 0x40
	FlagRdOnlyProg    = 0x80
	FlagWrOnlyProg    = 0x100
	FlagMmapable      = 0x400
	FlagPreserveElems = 0x800
	FlagInnerMap      = 0x1000

	flagAccessMask = FlagRdOnly | FlagWrOnly | FlagRdOnlyProg | FlagWrOnlyProg
)

// Update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK).
const (
	UpdateAny     = 0
	UpdateNoExist = 1
	UpdateExist   = 2
	UpdateLock    = 4
)

// Spec describes a map, like ebpf.MapSpec.
type Spec struct {
	Name       string
	Type       Type
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	// InnerMap is the template of the maps held by ArrayOfMaps and HashOfMaps.
	InnerMap *Spec
	// HasSpinLock says the value holds a struct bpf_spin_lock at
	// SpinLockOff (the loader finds it in the value's BTF). Only Hash and
	// Array values may. Like the kernel's copy_map_value, updates leave
	// the lock's 4 bytes alone and user-space lookups read them as zero;
	// UpdateLock becomes a valid update flag.
	HasSpinLock bool
	SpinLockOff uint32
	// Key and Value are the BTF of a key and a value, nil when the object
	// carries none (or BTF that disagrees with the sizes). Traces use them
	// to print keys and values and name fields (package btfvalue); the map
	// itself never reads them.
	Key, Value btf.Type
}

// Copy returns a deep copy of s.
func (s *Spec) Copy() *Spec {
	if s == nil {
		return nil
	}
	c := *s
	c.InnerMap = s.InnerMap.Copy()
	return &c
}

// Option configures map creation beyond the Spec.
type Option func(*config)

type config struct {
	budget  *Budget
	cpus    int
	netdevs map[uint32]bool // nil: loopback only
}

// WithPossibleCPUs sets the number of possible CPUs (default 1). Per-CPU maps
// keep one value per CPU, and cpu arguments must be below n.
func WithPossibleCPUs(n int) Option {
	return func(c *config) { c.cpus = n }
}

// Kernel limits the validation mirrors (x86-64, 4 KiB pages).
const (
	kmallocMaxSize   = 4 << 20  // KMALLOC_MAX_SIZE
	pcpuMinUnitSize  = 32 << 10 // PCPU_MIN_UNIT_SIZE
	pageSize         = 4096
	maxRecordSize    = (1<<32 - 1) / 4
	lpmDataSizeMax   = 256
	lpmKeyHeaderSize = 4
)

// specError wraps errno with the map's name, so loaders can tell which
// map of an object was rejected.
func specError(s *Spec, errno Errno, format string, args ...any) error {
	return fmt.Errorf("map %q (%s): %s: %w", s.Name, s.Type, fmt.Sprintf(format, args...), errno)
}

// New creates a map from spec, validating it as the kernel's BPF_MAP_CREATE
// does. Unlike the kernel, MaxEntries 0 is always an error: the loader
// is expected to have chosen a size.
func New(spec *Spec, opts ...Option) (Map, error) {
	if spec == nil {
		return nil, fmt.Errorf("nil map spec: %w", EINVAL)
	}
	cfg := config{cpus: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.budget == nil {
		cfg.budget = NewBudget(0)
	}
	if cfg.cpus < 1 {
		return nil, specError(spec, EINVAL, "%d possible CPUs", cfg.cpus)
	}
	if spec.Type == CgroupStorage || spec.Type == PerCPUCgroupStorage {
		return newCgroupStorage(spec.Copy(), cfg)
	}
	if spec.MaxEntries == 0 {
		return nil, specError(spec, EINVAL, "max_entries is 0")
	}
	if !accessFlagsOK(spec.Flags) {
		return nil, specError(spec, EINVAL, "conflicting access flags %#x", spec.Flags)
	}
	if err := checkSpinLock(spec); err != nil {
		return nil, err
	}
	s := spec.Copy()
	switch s.Type {
	case Array, PerCPUArray:
		return newArray(s, cfg)
	case Hash, PerCPUHash, LRUHash, LRUCPUHash:
		return newHash(s, cfg)
	case LPMTrie:
		return newLPMTrie(s, cfg)
	case Queue, Stack:
		return newQueue(s, cfg)
	case RingBuf:
		return newRingBuf(s, cfg)
	case PerfEventArray:
		return newPerfEventArray(s, cfg)
	case ProgramArray:
		return newProgramArray(s, cfg)
	case CGroupArray:
		return newCGroupArray(s, cfg)
	case ArrayOfMaps, HashOfMaps:
		return newMapOfMaps(s, cfg)
	case DevMap:
		return newDevMap(s, cfg)
	case DevMapHash:
		return newDevMapHash(s, cfg)
	case CPUMap:
		return newCPUMap(s, cfg)
	case XSKMap:
		return newXSKMap(s, cfg)
	case SkStorage, TaskStorage, CgrpStorage:
		return newLocalStorage(s, cfg)
	case UserRingBuf:
		return newUserRingBuf(s, cfg)
	}
	return nil, specError(s, EINVAL, "unsupported map type")
}

// accessFlagsOK mirrors bpf_map_flags_access_ok: a map can't be both
// read-only and write-only from the same side.
func accessFlagsOK(flags uint32) bool {
	return flags&(FlagRdOnly|FlagWrOnly) != FlagRdOnly|FlagWrOnly &&
		flags&(FlagRdOnlyProg|FlagWrOnlyProg) != FlagRdOnlyProg|FlagWrOnlyProg
}

// checkFlags rejects flags outside allowed, as each map type's alloc_check does.
func checkFlags(s *Spec, allowed uint32) error {
	if extra := s.Flags &^ allowed; extra != 0 {
		return specError(s, EINVAL, "unsupported flags %#x", extra)
	}
	return nil
}

// spinLockSize is sizeof(struct bpf_spin_lock).
const spinLockSize = 4

// checkSpinLock mirrors map_check_btf for a value's bpf_spin_lock: only
// hash and array maps may hold one, inside the value and aligned.
func checkSpinLock(s *Spec) error {
	if !s.HasSpinLock {
		return nil
	}
	if s.Type != Hash && s.Type != Array {
		return specError(s, EOPNOTSUPP, "bpf_spin_lock in a %s value", s.Type)
	}
	if s.SpinLockOff%spinLockSize != 0 || uint64(s.SpinLockOff)+spinLockSize > uint64(s.ValueSize) {
		return specError(s, EINVAL, "bpf_spin_lock at offset %d of a %d-byte value", s.SpinLockOff, s.ValueSize)
	}
	return nil
}

func roundUp8(n int) int { return (n + 7) &^ 7 }
