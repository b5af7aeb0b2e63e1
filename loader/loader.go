// Package loader turns clang-built BPF ELF objects into bpfscope programs
// and maps, without the kernel: cilium/ebpf parses the object, and the
// loader does what libbpf and the kernel do at load time — create the maps
// (global data sections included, with their initial values), resolve map
// references, subprogram calls and function pointers, apply CO-RE
// relocations against a BTF the user names, attach BTF line and function
// info, and fill program arrays and maps of maps declared with .values.
//
// Programs refer to maps by index (ld_imm64 src 1 and 2 carry an index into
// vm.Config.Maps, see package vm); every program of a Collection uses the
// same index, the position of the map in Collection.MapNames, so a tail
// call may continue in any program of the collection.
package loader

import (
	"cmp"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// DefaultMaxEntries sizes maps declared with max_entries 0 (objects that
// expect their user space to size them) unless Options.MaxEntries names
// them; perf event arrays get one slot per possible CPU instead, as
// libbpf and cilium/ebpf give them.
const DefaultMaxEntries = 1024

// DefaultKernelBTF is where CO-RE relocations look for the target BTF when
// Options names none.
const DefaultKernelBTF = "/sys/kernel/btf/vmlinux"

// Options tune loading. The zero value is ready to use.
type Options struct {
	// KernelBTF is the BTF file CO-RE relocations are applied against
	// (vmlinux BTF, raw or ELF). Empty means DefaultKernelBTF when it exists.
	KernelBTF string
	// KernelTypes, if set, is used instead of reading KernelBTF.
	KernelTypes *btf.Spec
	// MaxEntries overrides max_entries by map name.
	MaxEntries map[string]uint32
	// PossibleCPUs is the number of CPUs per-CPU maps hold values for
	// (default 1).
	PossibleCPUs int
	// NetDevices are the ifindexes of the network devices devmaps may
	// hold; nil means loopback (1) alone (see maps.WithNetDevices).
	NetDevices []uint32
	// MaxMapMemory bounds the host memory the collection's maps take
	// together, side tables included (default maps.DefaultMemoryLimit,
	// 1 GiB). Preallocated maps are charged when loaded; hash maps and
	// LPM tries as their elements arrive, so an update past the limit
	// fails (-ENOMEM to a program, a *maps.MemoryLimitError to Put).
	MaxMapMemory uint64
	// KernelRelease is the release LINUX_KERNEL_VERSION is derived from
	// ("6.18.1"); empty means the running kernel's.
	KernelRelease string
	// KernelConfig is the kernel configuration file __kconfig CONFIG_*
	// externs are read from (plain or gzip); empty means the running
	// kernel's (/proc/config.gz, /boot/config-<release>).
	KernelConfig string
	// Programs, if not empty, restricts loading to these programs plus the
	// ones the object's program arrays name in .values. Use it to load the
	// usable part of an object whose other programs cannot be supported.
	Programs []string
}

// Program is one program of a collection.
type Program struct {
	Name       string
	Type       ebpf.ProgramType
	AttachType ebpf.AttachType
	Section    string
	License    string
	// Prog is the program, with line info and function names from BTF.
	Prog *vm.Program
	// Poisoned lists the CO-RE relocations that found no match in the
	// target BTF, by pc; a run reaching one fails with ErrPoisonedCORE.
	Poisoned map[int]string
}

// Collection is the result of loading an object: its programs and maps.
type Collection struct {
	Programs map[string]*Program
	Maps     map[string]bpfmaps.Map
	// Notes say what the loader did differently from libbpf and why:
	// pinning ignored, a missing CONFIG_* value.
	Notes []string

	object   string
	budget   *bpfmaps.Budget
	mapNames []string // index order
	cpus     int
	types    *btf.Spec
}

// Load reads the ELF object at path.
func Load(path string, opts Options) (*Collection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Object: path, Insn: -1, Err: ErrInvalidObject, Cause: err}
	}
	defer f.Close()
	return load(path, f, opts)
}

// LoadReader reads an ELF object from r.
func LoadReader(r io.ReaderAt, opts Options) (*Collection, error) {
	return load("", r, opts)
}

func load(object string, r io.ReaderAt, opts Options) (*Collection, error) {
	var magic [4]byte
	if n, _ := r.ReadAt(magic[:], 0); n < len(magic) || string(magic[:]) != elf.ELFMAG {
		return nil, &Error{Object: object, Insn: -1, Err: ErrInvalidObject, Cause: fmt.Errorf("%w (starts with %q)", ErrNotELF, magic[:n])}
	}
	if err := checkObjectBTF(r); err != nil {
		return nil, &Error{Object: object, Insn: -1, Err: ErrInvalidObject, Cause: err}
	}
	if err := checkZeroSections(r, mapMemoryLimit(opts), mapMemoryHint); err != nil {
		var le *bpfmaps.MemoryLimitError
		errors.As(err, &le)
		return nil, &Error{Object: object, Map: le.Map, Insn: -1, Err: ErrInvalidMap, Cause: err}
	}
	spec, err := parse(r)
	if err != nil {
		return nil, &Error{Object: object, Insn: -1, Err: ErrInvalidObject, Cause: err}
	}
	return fromSpec(object, spec, opts)
}

// parse runs cilium/ebpf's ELF reader, which is not hardened against every
// malformed input: a panic there is one more way to be an invalid object.
func parse(r io.ReaderAt) (spec *ebpf.CollectionSpec, err error) {
	defer func() {
		if p := recover(); p != nil {
			spec, err = nil, fmt.Errorf("ELF reader panicked: %v", p)
		}
	}()
	return ebpf.LoadCollectionSpecFromReader(r)
}

// FromSpec builds a collection from a parsed object, for callers that
// edit the spec first (for example global variables through
// spec.Variables, whose values are overlaid on the data sections).
// The spec is not modified.
func FromSpec(spec *ebpf.CollectionSpec, opts Options) (*Collection, error) {
	return fromSpec("", spec, opts)
}

const mapMemoryHint = "raise it with loader.Options.MaxMapMemory, or bpfscope's --max-map-memory"

func mapMemoryLimit(opts Options) uint64 {
	if opts.MaxMapMemory == 0 {
		return bpfmaps.DefaultMemoryLimit
	}
	return opts.MaxMapMemory
}

func fromSpec(object string, spec *ebpf.CollectionSpec, opts Options) (*Collection, error) {
	if opts.PossibleCPUs < 1 {
		opts.PossibleCPUs = 1
	}
	spec = spec.Copy()
	budget := bpfmaps.NewBudget(opts.MaxMapMemory)
	budget.Hint = mapMemoryHint
	l := &linker{object: object, spec: spec, opts: opts, mapIndex: map[string]int{}, budget: budget}
	c := &Collection{
		Programs: map[string]*Program{},
		Maps:     map[string]bpfmaps.Map{},
		object:   object,
		budget:   budget,
		cpus:     opts.PossibleCPUs,
	}
	if err := l.applyDefaults(c); err != nil {
		return nil, err
	}
	c.mapNames = slices.Sorted(maps.Keys(spec.Maps))
	for i, name := range c.mapNames {
		l.mapIndex[name] = i
		m, err := l.newMap(name, spec.Maps[name])
		if err != nil {
			return nil, err
		}
		c.Maps[name] = m
	}
	l.mapNames = c.mapNames
	for _, name := range l.programsToLoad() {
		p, err := l.program(name, spec.Programs[name])
		if err != nil {
			return nil, err
		}
		c.Programs[name] = p
	}
	for _, name := range c.mapNames {
		if err := l.fill(c, name, spec.Maps[name]); err != nil {
			return nil, err
		}
	}
	c.types = l.target
	if opts.KernelTypes != nil {
		c.types = opts.KernelTypes
	}
	return c, nil
}

// programsToLoad lists, sorted, the programs Options asks for and those
// the program arrays name.
func (l *linker) programsToLoad() []string {
	if len(l.opts.Programs) == 0 {
		return slices.Sorted(maps.Keys(l.spec.Programs))
	}
	want := map[string]bool{}
	for _, n := range l.opts.Programs {
		want[n] = true
	}
	for _, ms := range l.spec.Maps {
		if ms.Type != ebpf.ProgramArray {
			continue
		}
		for _, kv := range ms.Contents {
			if n, ok := kv.Value.(string); ok {
				want[n] = true
			}
		}
	}
	var names []string
	for n := range want {
		if _, ok := l.spec.Programs[n]; ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// MapNames lists the maps in the order of the index programs use.
func (c *Collection) MapNames() []string { return slices.Clone(c.mapNames) }

// KernelTypes is the kernel BTF the programs' CO-RE relocations were
// applied against: Options.KernelTypes, or the BTF read for relocating, or
// nil if none was needed. Contexts that hand a program kernel structs lay
// them out by it (ctx.Input.KernelTypes).
func (c *Collection) KernelTypes() *btf.Spec { return c.types }

// MapMemory is the budget the collection's maps charge their host memory
// to (Options.MaxMapMemory): Used says how much they take.
func (c *Collection) MapMemory() *bpfmaps.Budget { return c.budget }

// PossibleCPUs is the number of CPUs the per-CPU maps were created for.
func (c *Collection) PossibleCPUs() int { return c.cpus }

// Program finds a program by name or, failing that, by section name (which
// must then be unique).
func (c *Collection) Program(nameOrSection string) (*Program, error) {
	if p, ok := c.Programs[nameOrSection]; ok {
		return p, nil
	}
	var found []*Program
	for _, p := range c.Programs {
		if p.Section == nameOrSection {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, &Error{Object: c.object, Program: nameOrSection, Insn: -1, Err: ErrNoProgram,
			Detail: "(have " + strings.Join(slices.Sorted(maps.Keys(c.Programs)), ", ") + ")"}
	}
	slices.SortFunc(found, func(a, b *Program) int { return cmp.Compare(a.Name, b.Name) })
	names := make([]string, len(found))
	for i, p := range found {
		names[i] = p.Name
	}
	return nil, &Error{Object: c.object, Section: nameOrSection, Insn: -1, Err: ErrNoProgram,
		Detail: "(section holds several: " + strings.Join(names, ", ") + ")"}
}

// VMMaps returns the maps in index order, as vm.Config.Maps wants them.
func (c *Collection) VMMaps() []vm.Map {
	out := make([]vm.Map, len(c.mapNames))
	for i, n := range c.mapNames {
		out[i] = c.Maps[n]
	}
	return out
}

// Machine binds the program named prog (or the program of that section) to
// the collection's maps. cfg.Maps is replaced by the collection's maps;
// cfg.Helpers nil means the helpers of package helpers with a default
// environment. The helpers also learn to fail a run that reaches an
// instruction poisoned by CO-RE.
func (c *Collection) Machine(prog string, cfg vm.Config) (*vm.Machine, error) {
	p, err := c.Program(prog)
	if err != nil {
		return nil, err
	}
	cfg.Helpers = c.helperSet(cfg.Helpers)
	cfg.Maps = c.VMMaps()
	m, err := vm.New(p.Prog, cfg)
	if err != nil {
		e := &Error{Object: c.object, Program: p.Name, Section: p.Section, Insn: -1, Err: ErrInvalidProgram, Cause: err}
		var le *vm.LoadError
		if errors.As(err, &le) {
			e.Insn = le.PC
		}
		return nil, e
	}
	return m, nil
}

// Raw builds a program from little-endian bytecode, for programs that do
// not come from an ELF object. Map references must already carry map
// indexes (see package vm).
func Raw(name string, code []byte, typ ebpf.ProgramType) (*Program, error) {
	p, err := vm.Load(name, code)
	if err != nil {
		e := &Error{Program: name, Insn: -1, Err: ErrInvalidProgram, Cause: err}
		var le *vm.LoadError
		if errors.As(err, &le) {
			e.Insn = le.PC
		}
		return nil, e
	}
	return &Program{Name: name, Type: typ, Prog: p}, nil
}
