// Package kernel runs eBPF programs in the running Linux kernel with
// BPF_PROG_TEST_RUN, so that bpfscope's user-space VM can be checked against
// the real thing (differential tests).
//
// Everything here needs bpf() privileges (root or CAP_BPF+CAP_NET_ADMIN+
// CAP_PERFMON). Tests should call [Available] first and skip when it returns
// an error:
//
//	if err := kernel.Available(); err != nil {
//		t.Skip(err)
//	}
//
// Conventions used by [Input] and [Result]:
//
//   - Map keys and values are raw bytes in the kernel's (native, little
//     endian) layout, exactly as the program sees them.
//   - Global data sections (.bss, .data, .rodata, .data.*) are array maps
//     with a single element under key 0 (4 zero bytes); their value is the
//     whole section.
//   - Per-CPU maps: [KV.Value] is the values of all possible CPUs
//     concatenated, CPU 0 first, each exactly ValueSize bytes (no padding);
//     [KV.PerCPU] holds the same values split per CPU.
//   - Maps of maps and program arrays hold kernel object IDs, which differ
//     from run to run; their values are reported as the NAME of the inner
//     map or program (e.g. "class0_packets"), or "id:N" when the object is
//     not part of the collection.
//   - Queues and stacks are dumped by popping them: Key is nil and the
//     values are in pop order.
//   - Ring buffer and perf event array contents are not map entries: the
//     records the program wrote are returned in [Result.Events].
package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// DefaultMaxEntries is used for maps declared with max_entries 0 (objects
// that expect user space to size them). Perf event arrays are sized by
// cilium/ebpf to the number of possible CPUs instead.
const DefaultMaxEntries = 1024

// dataOutSlack sizes the data_out buffer: a program may grow
// the frame at the front (adjust_head/meta, up to the 256-byte headroom) and
// at the back (adjust_tail, skb_change_tail, ...).
const dataOutSlack = 8192

// Sizes of the context structs this kernel (6.18) uses.
const (
	sizeofXDPMd       = 24
	sizeofSkBuff      = 192
	sizeofFlowKeys    = 56
	sizeofSkLookupCtx = 72
)

// KV is one map entry.
type KV struct {
	Key   []byte
	Value []byte
	// PerCPU is set for per-CPU maps only: one value per possible CPU.
	PerCPU [][]byte
}

// Input describes one test run.
type Input struct {
	// Data is the packet: an Ethernet frame for XDP, skb-family and flow
	// dissector programs; for netfilter an IP packet without Ethernet
	// header (the default hook, NF_INET_LOCAL_OUT) or an Ethernet frame
	// (other hooks, chosen with a struct nf_hook_state in Ctx). Not used
	// by sk_lookup, raw_tracepoint and syscall programs.
	Data []byte
	// Ctx is the context passed as ctx_in. nil means: none for skb-family
	// programs (the kernel builds __sk_buff itself), an xdp_md with
	// data_end = len(Data) for XDP. It is required for sk_lookup (struct
	// bpf_sk_lookup), raw_tracepoint (the u64 arguments) and syscall
	// programs (the program's own argument struct).
	Ctx []byte
	// Maps gives initial contents by map name (see the package doc for the
	// layout). Data sections are replaced as a whole before loading, so
	// .rodata can be changed too; other maps are updated (BPF_ANY) after
	// loading. For per-CPU maps a Value of ValueSize bytes is written to
	// every CPU, or PerCPU (or a Value of n*ValueSize bytes) gives one
	// value per CPU.
	Maps map[string][]KV
	// NoCtxIn passes no ctx_in even for XDP (only a ctx_out buffer): the
	// kernel then starts from a zeroed xdp_md, whose data_end 0 puts the
	// whole frame in fragments.
	NoCtxIn bool
	// NoCtxOut passes no ctx_out buffer (and, with a nil Ctx, no ctx_in):
	// the kernel then builds no context structure at all.
	NoCtxOut bool
	// Repeat is BPF_PROG_TEST_RUN's repeat count; 0 means once. Must be 0
	// or 1 for raw_tracepoint and syscall programs.
	Repeat int
	// Types override the program types section names give, by program
	// name, as a loader calling libbpf's bpf_program__set_type does (QEMU
	// loads its "tun_rss_steering" section as a socket filter).
	Types map[string]ebpf.ProgramType
}

// Result is what the kernel reported.
type Result struct {
	// Retval is the program's return value (low 32 bits of r0).
	Retval uint32
	// DataOut is the packet after the run (nil for program types without
	// packet output). For XDP it starts at data_meta when the program
	// added metadata. socket_filter, cgroup_skb and LWT programs get the
	// Ethernet header back zeroed. For flow dissectors it is the filled
	// struct bpf_flow_keys (56 bytes, see [FlowKeys]).
	DataOut []byte
	// CtxOut is the context after the run: xdp_md (24 bytes), __sk_buff
	// (192), bpf_sk_lookup (72), or the syscall program's argument struct.
	// nil for flow dissector, raw_tracepoint and netfilter programs. The
	// kernel copies back only some __sk_buff fields: mark, priority,
	// ifindex, cb[], tstamp, wire_len, gso_segs, gso_size, hwtstamp; the
	// others read 0.
	CtxOut []byte
	// Maps is the final content of every map of the collection, by name,
	// including the global data sections. Absent map types: ring buffers,
	// perf event arrays and socket maps.
	Maps map[string][]KV
	// Events holds, by map name, the records the program wrote to ring
	// buffers and perf event arrays, in order. Perf records are the raw
	// sample as the kernel lays it out: the payload padded with zeros so
	// that it and its u32 size end on 8 bytes. Each CPU's perf ring is
	// one page: a record over 4088 bytes fails with -ENOSPC.
	Events map[string][][]byte
	// Clock is CLOCK_MONOTONIC (ns) just before and just after the test
	// run: what bpf_ktime_get_ns returned lies between the two. The run
	// starts early enough in a second that both are in the same second
	// (unless it takes over 50 ms), so a program that keeps whole seconds
	// saw Clock[0]/1e9.
	Clock [2]uint64
	// Err is the error BPF_PROG_TEST_RUN itself returned (for example
	// EINVAL for a frame the kernel refuses). Retval, DataOut and CtxOut
	// are then zero; Maps still holds the contents after the attempt.
	Err error
}

var (
	availOnce sync.Once
	availErr  error
)

// Available reports whether programs can be loaded and test-run here. It
// returns nil when they can, otherwise an error saying why not (not root,
// bpf() disabled, no BPF_PROG_TEST_RUN, ...). The check runs once.
func Available() error {
	availOnce.Do(func() { availErr = probe() })
	return availErr
}

// removeMemlock lifts RLIMIT_MEMLOCK as far as it may for kernels that still
// charge BPF memory to it (before 5.11); later kernels charge the memory
// cgroup instead, and a container may refuse to raise the hard limit, so a
// refusal is not an error: loading the probe program below says whether
// programs can be loaded. It is not cilium/ebpf's rlimit package: importing
// that creates a BPF map in an init function, a bpf() call at the start of
// every bpfscope process, whether it talks to the kernel or not.
func removeMemlock() {
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf) == nil {
		return
	}
	var cur unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &cur) == nil && cur.Cur < cur.Max {
		cur.Cur = cur.Max
		_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &cur)
	}
}

func probe() error {
	if os.Geteuid() != 0 {
		return errors.New("kernel oracle: not running as root")
	}
	removeMemlock()
	for _, pt := range []ebpf.ProgramType{ebpf.XDP, ebpf.SchedCLS, ebpf.SocketFilter} {
		if err := features.HaveProgramType(pt); err != nil {
			return fmt.Errorf("kernel oracle: program type %s: %w", pt, err)
		}
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("kernel oracle: load probe program: %w", err)
	}
	defer prog.Close()
	ret, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 14)})
	if err != nil {
		return fmt.Errorf("kernel oracle: BPF_PROG_TEST_RUN: %w", err)
	}
	if ret != 2 {
		return fmt.Errorf("kernel oracle: probe program returned %d, want 2", ret)
	}
	return nil
}

// Run loads every program and map of the ELF object objPath into the kernel
// and test-runs the program progName once (or in.Repeat times) with in.
//
// Pinning is dropped, maps with max_entries 0 get [DefaultMaxEntries], and
// program arrays and maps of maps declared with initial values are filled by
// the loader. The returned error is for failures before the run (bad object,
// verifier rejection, unknown map); errors of the test run itself are in
// Result.Err.
func Run(objPath, progName string, in Input) (*Result, error) {
	spec, err := ebpf.LoadCollectionSpec(objPath)
	if err != nil {
		return nil, err
	}
	return RunSpec(objPath, spec, progName, in)
}

// RunSpec is [Run] for a collection already parsed (and perhaps changed:
// program arrays filled by name, as a project's own loader would fill
// them). It changes spec; objPath only names it in errors.
func RunSpec(objPath string, spec *ebpf.CollectionSpec, progName string, in Input) (*Result, error) {
	if _, ok := spec.Programs[progName]; !ok {
		names := make([]string, 0, len(spec.Programs))
		for n := range spec.Programs {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%s: no program %q (have %s)", objPath, progName, strings.Join(names, ", "))
	}
	for name, typ := range in.Types {
		if ps, ok := spec.Programs[name]; ok {
			ps.Type = typ
		}
	}
	// Programs that attach to kernel functions and tracepoints are left
	// out, as their loaders leave out those the running kernel lacks
	// (bpf_program__set_autoload), and so are programs of sections no
	// type is known for: a test run of another program needs none of
	// them.
	for name, ps := range spec.Programs {
		switch ps.Type {
		case ebpf.Tracing, ebpf.Kprobe, ebpf.TracePoint, ebpf.PerfEvent, ebpf.LSM, ebpf.UnspecifiedProgram:
			if name != progName && ps.Type != spec.Programs[progName].Type {
				delete(spec.Programs, name)
			}
		}
	}
	for name, ms := range spec.Maps {
		ms.Pinning = ebpf.PinNone
		switch ms.Type {
		case ebpf.SkStorage, ebpf.TaskStorage, ebpf.CgroupStorage, ebpf.InodeStorage:
			continue // sized by their owners: max_entries must stay 0
		}
		if ms.MaxEntries == 0 && ms.Type != ebpf.PerfEventArray {
			ms.MaxEntries = DefaultMaxEntries
		}
		if kvs, ok := in.Maps[name]; ok && isDataSection(name) {
			if len(kvs) != 1 || len(kvs[0].Value) != int(ms.ValueSize) {
				return nil, fmt.Errorf("map %s: want one value of %d bytes", name, ms.ValueSize)
			}
			content := slices.Clone(kvs[0].Value)
			ms.Contents = []ebpf.MapKV{{Key: uint32(0), Value: content}}
			// The loader writes VariableSpecs over the section: keep
			// them in sync with the new contents.
			for vname, v := range spec.Variables {
				if v.SectionName != name {
					continue
				}
				if err := v.Set(content[v.Offset : v.Offset+v.Size()]); err != nil {
					return nil, fmt.Errorf("map %s: variable %s: %w", name, vname, err)
				}
			}
		}
	}
	for name := range in.Maps {
		if _, ok := spec.Maps[name]; !ok {
			return nil, fmt.Errorf("%s: no map %q", objPath, name)
		}
	}

	c, err := load(objPath, spec)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Run(progName, in)
}

// Collection is an object loaded into the kernel whose programs run one
// after the other on the same maps, as a project's test suite runs a
// packet generator, a setup and a check program.
type Collection struct {
	objPath string
	coll    *ebpf.Collection
}

// Load loads spec into the kernel as [Run] does (pinning dropped, maps of
// max_entries 0 sized). It changes spec; objPath only names it in errors.
func Load(objPath string, spec *ebpf.CollectionSpec) (*Collection, error) {
	for _, ms := range spec.Maps {
		ms.Pinning = ebpf.PinNone
		switch ms.Type {
		case ebpf.SkStorage, ebpf.TaskStorage, ebpf.CgroupStorage, ebpf.InodeStorage:
			continue
		}
		if ms.MaxEntries == 0 && ms.Type != ebpf.PerfEventArray {
			ms.MaxEntries = DefaultMaxEntries
		}
	}
	return load(objPath, spec)
}

func load(objPath string, spec *ebpf.CollectionSpec) (*Collection, error) {
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogSizeStart: 1 << 20},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", objPath, err)
	}
	return &Collection{objPath: objPath, coll: coll}, nil
}

// Run test-runs progName with in on the collection's maps as they are;
// in.Maps updates them first (data sections cannot change after loading).
func (c *Collection) Run(progName string, in Input) (*Result, error) {
	prog := c.coll.Programs[progName]
	if prog == nil {
		return nil, fmt.Errorf("%s: no program %q", c.objPath, progName)
	}
	for name, kvs := range in.Maps {
		if isDataSection(name) {
			continue
		}
		m := c.coll.Maps[name]
		if m == nil {
			return nil, fmt.Errorf("%s: no map %q", c.objPath, name)
		}
		if err := fill(m, kvs); err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
	}
	return run(prog, c.coll.Maps, c.coll.Programs, in)
}

// Close releases the collection's programs and maps.
func (c *Collection) Close() { c.coll.Close() }

// runOnCPU0 test-runs prog on CPU 0, where bpfscope's default
// environment runs: bpf_get_smp_processor_id and the per-CPU slots a
// program touches are then the same on both sides. The test run stays on
// the CPU it started on (migrate_disable); where the affinity cannot be
// set it runs wherever the thread is.
func runOnCPU0(prog *ebpf.Program, opts *ebpf.RunOptions) (uint32, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, cpu0 unix.CPUSet
	if unix.SchedGetaffinity(0, &old) == nil {
		cpu0.Set(0)
		if unix.SchedSetaffinity(0, &cpu0) == nil {
			defer unix.SchedSetaffinity(0, &old)
		}
	}
	return prog.Run(opts)
}

func isDataSection(name string) bool {
	return name == ".bss" || name == ".data" || strings.HasPrefix(name, ".data.") ||
		name == ".rodata" || strings.HasPrefix(name, ".rodata.")
}

// MapDef declares a map for [RunInsns].
type MapDef struct {
	Name       string // key in Input.Maps and Result.Maps; "map<i>" if empty
	Type       ebpf.MapType
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
}

// RunInsns loads raw bytecode (8-byte slots, little endian; ld_imm64 takes
// two) as a program of type progType and test-runs it. An ld_imm64 with
// src_reg 1 (BPF_PSEUDO_MAP_FD) or 2 (BPF_PSEUDO_MAP_VALUE) must carry, in
// its first imm, an index into maps instead of a file descriptor; for src 2
// the second imm is the offset into element 0's value. Syscall programs are
// loaded sleepable.
func RunInsns(progType ebpf.ProgramType, insns []byte, maps []MapDef, in Input) (*Result, error) {
	decoded, err := asm.AppendInstructions(nil, bytes.NewReader(insns), binary.LittleEndian, "linux")
	if err != nil {
		return nil, fmt.Errorf("decode bytecode: %w", err)
	}
	byName := make(map[string]*ebpf.Map, len(maps))
	byIndex := make([]*ebpf.Map, len(maps))
	defer func() {
		for _, m := range byIndex {
			if m != nil {
				m.Close()
			}
		}
	}()
	for i, d := range maps {
		name := d.Name
		if name == "" {
			name = fmt.Sprintf("map%d", i)
		}
		m, err := ebpf.NewMap(&ebpf.MapSpec{
			Type: d.Type, KeySize: d.KeySize, ValueSize: d.ValueSize,
			MaxEntries: d.MaxEntries, Flags: d.Flags,
		})
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		byIndex[i], byName[name] = m, m
	}
	for name, kvs := range in.Maps {
		m, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("no map %q", name)
		}
		if err := fill(m, kvs); err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
	}
	for i := range decoded {
		ins := &decoded[i]
		if !ins.IsLoadFromMap() {
			continue
		}
		idx := int(uint32(ins.Constant))
		if idx >= len(byIndex) {
			return nil, fmt.Errorf("instruction %d: map index %d out of range", i, idx)
		}
		ins.Constant = ins.Constant&^0xffffffff | int64(uint32(byIndex[idx].FD()))
	}
	spec := &ebpf.ProgramSpec{Type: progType, Instructions: decoded, License: "GPL"}
	if progType == ebpf.Syscall {
		spec.Flags = sysBPFFSleepable
	}
	prog, err := ebpf.NewProgramWithOptions(spec, ebpf.ProgramOptions{LogSizeStart: 1 << 20})
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	return run(prog, byName, nil, in)
}

const sysBPFFSleepable = 1 << 4 // BPF_F_SLEEPABLE

// fill writes initial contents into m.
func fill(m *ebpf.Map, kvs []KV) error {
	perCPU := isPerCPU(m.Type())
	vs := int(m.ValueSize())
	for _, kv := range kvs {
		var key any = kv.Key
		if len(kv.Key) == 0 && m.KeySize() == 0 {
			key = nil // queue, stack, bloom filter: push
		}
		var value any = kv.Value
		if perCPU {
			ncpu, err := ebpf.PossibleCPU()
			if err != nil {
				return err
			}
			vals := kv.PerCPU
			switch {
			case vals != nil:
			case len(kv.Value) == vs:
				for range ncpu {
					vals = append(vals, kv.Value)
				}
			case vs > 0 && len(kv.Value) == vs*ncpu:
				for c := range ncpu {
					vals = append(vals, kv.Value[c*vs:(c+1)*vs])
				}
			default:
				return fmt.Errorf("per-CPU value of %d bytes, want %d or %d", len(kv.Value), vs, vs*ncpu)
			}
			value = vals
		}
		if key == nil {
			if err := m.Update(nil, value, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("push: %w", err)
			}
			continue
		}
		if err := m.Update(key, value, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update key %x: %w", kv.Key, err)
		}
	}
	return nil
}

func isPerCPU(t ebpf.MapType) bool {
	switch t {
	case ebpf.PerCPUArray, ebpf.PerCPUHash, ebpf.LRUCPUHash, ebpf.PerCPUCGroupStorage:
		return true
	}
	return false
}

// run test-runs prog with in and collects the results.
func run(prog *ebpf.Program, maps map[string]*ebpf.Map, progs map[string]*ebpf.Program, in Input) (*Result, error) {
	opts := ebpf.RunOptions{Repeat: uint32(in.Repeat)}
	var ctxOut []byte
	switch prog.Type() {
	case ebpf.XDP:
		opts.Data = in.Data
		opts.DataOut = make([]byte, len(in.Data)+dataOutSlack)
		ctx := in.Ctx
		if ctx == nil && !in.NoCtxIn && !in.NoCtxOut {
			ctx = Marshal(XDPMd{DataEnd: uint32(len(in.Data))})
		}
		opts.Context = ctx
		ctxOut = make([]byte, sizeofXDPMd)
	case ebpf.SchedCLS, ebpf.SchedACT, ebpf.SocketFilter, ebpf.CGroupSKB,
		ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit:
		opts.Data = in.Data
		opts.DataOut = make([]byte, len(in.Data)+dataOutSlack)
		if in.Ctx != nil {
			opts.Context = in.Ctx
		}
		ctxOut = make([]byte, sizeofSkBuff)
	case ebpf.FlowDissector:
		// The filled bpf_flow_keys come back as data_out; ctx_in may
		// only set flags.
		opts.Data = in.Data
		opts.DataOut = make([]byte, sizeofFlowKeys)
		if in.Ctx != nil {
			opts.Context = in.Ctx
		}
	case ebpf.SkLookup:
		if in.Ctx == nil {
			return nil, errors.New("sk_lookup needs Input.Ctx (struct bpf_sk_lookup)")
		}
		opts.Context = in.Ctx
		ctxOut = make([]byte, sizeofSkLookupCtx)
	case ebpf.RawTracepoint, ebpf.Syscall:
		if in.Repeat > 1 {
			return nil, fmt.Errorf("%s programs cannot repeat", prog.Type())
		}
		opts.Repeat = 0
		if in.Ctx != nil {
			opts.Context = in.Ctx
		}
		if prog.Type() == ebpf.Syscall && in.Ctx != nil {
			ctxOut = make([]byte, len(in.Ctx)) // the kernel writes ctx_in back
		}
	case ebpf.Netfilter:
		opts.Data = in.Data
		if in.Ctx != nil {
			opts.Context = in.Ctx
		}
	default:
		opts.Data = in.Data
		if in.Ctx != nil {
			opts.Context = in.Ctx
		}
	}
	if in.NoCtxOut {
		ctxOut = nil
	}
	if ctxOut != nil {
		opts.ContextOut = ctxOut
	}

	// Perf readers must exist before the run: they put the per-CPU perf
	// buffers into the map.
	perfReaders := map[string]*perf.Reader{}
	defer func() {
		for _, r := range perfReaders {
			r.Close()
		}
	}()
	for name, m := range maps {
		if m.Type() != ebpf.PerfEventArray {
			continue
		}
		r, err := perf.NewReader(m, os.Getpagesize())
		if err != nil {
			return nil, fmt.Errorf("perf reader for %s: %w", name, err)
		}
		perfReaders[name] = r
	}

	res := &Result{}
	res.Clock[0] = monotonicAwayFromSecondEnd()
	ret, err := runOnCPU0(prog, &opts)
	res.Clock[1] = monotonic()
	if err != nil {
		res.Err = err
	} else {
		res.Retval = ret
		if opts.DataOut != nil {
			res.DataOut = opts.DataOut
		}
		res.CtxOut = ctxOut
	}

	res.Events = map[string][][]byte{}
	for name, r := range perfReaders {
		r.SetDeadline(time.Now())
		for {
			rec, err := r.Read()
			if err != nil {
				break
			}
			if rec.LostSamples == 0 {
				res.Events[name] = append(res.Events[name], rec.RawSample)
			}
		}
	}
	for name, m := range maps {
		if m.Type() != ebpf.RingBuf {
			continue
		}
		recs, err := drainRingbuf(m)
		if err != nil {
			return nil, fmt.Errorf("ring buffer %s: %w", name, err)
		}
		if len(recs) > 0 {
			res.Events[name] = recs
		}
	}

	names, err := objectNames(maps, progs)
	if err != nil {
		return nil, err
	}
	res.Maps = map[string][]KV{}
	for name, m := range maps {
		kvs, ok, err := dump(m, names)
		if err != nil {
			return nil, fmt.Errorf("dump map %s: %w", name, err)
		}
		if ok {
			res.Maps[name] = kvs
		}
	}
	return res, nil
}

func drainRingbuf(m *ebpf.Map) ([][]byte, error) {
	r, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	r.SetDeadline(time.Now())
	var recs [][]byte
	for {
		rec, err := r.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec.RawSample)
	}
}

// objectNames maps kernel IDs of the collection's maps and programs to
// their names, to report maps of maps and program arrays by name.
type idNames struct {
	maps, progs map[uint32]string
}

func objectNames(maps map[string]*ebpf.Map, progs map[string]*ebpf.Program) (idNames, error) {
	n := idNames{maps: map[uint32]string{}, progs: map[uint32]string{}}
	for name, m := range maps {
		info, err := m.Info()
		if err != nil {
			return n, err
		}
		if id, ok := info.ID(); ok {
			n.maps[uint32(id)] = name
		}
	}
	for name, p := range progs {
		info, err := p.Info()
		if err != nil {
			return n, err
		}
		if id, ok := info.ID(); ok {
			n.progs[uint32(id)] = name
		}
	}
	return n, nil
}

func nameOf(names map[uint32]string, value []byte) []byte {
	if len(value) < 4 {
		return value
	}
	id := binary.LittleEndian.Uint32(value)
	if n, ok := names[id]; ok {
		return []byte(n)
	}
	return []byte(fmt.Sprintf("id:%d", id))
}

// dump reads all entries of m. ok is false for map types that are not
// dumped (ring buffers, perf event arrays, socket maps, ...).
// dumpArray reads a plain or per-CPU array in one batch: programs use
// arrays of 64 Ki entries (a port table), and a syscall per element and
// CPU makes a differential test of such a program take a minute.
func dumpArray(m *ebpf.Map) ([]KV, error) {
	n, size := int(m.MaxEntries()), int(m.ValueSize())
	cpus := 1
	if m.Type() == ebpf.PerCPUArray {
		var err error
		if cpus, err = ebpf.PossibleCPU(); err != nil {
			return nil, err
		}
	}
	idx := make([]uint32, n)
	vals := make([][]byte, n*cpus)
	for i := range vals {
		vals[i] = make([]byte, size)
	}
	var cursor ebpf.MapBatchCursor
	var got int
	var err error
	if m.Type() == ebpf.PerCPUArray {
		got, err = m.BatchLookup(&cursor, idx, vals, nil)
	} else {
		flat := make([]byte, n*size)
		got, err = m.BatchLookup(&cursor, idx, flat, nil)
		for i := range vals {
			vals[i] = flat[i*size : (i+1)*size : (i+1)*size]
		}
	}
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("batch lookup returned %d of %d elements", got, n)
	}
	kvs := make([]KV, n)
	for i := range kvs {
		k := binary.LittleEndian.AppendUint32(nil, idx[i])
		if m.Type() == ebpf.PerCPUArray {
			per := vals[i*cpus : (i+1)*cpus : (i+1)*cpus]
			kvs[i] = KV{Key: k, PerCPU: per, Value: bytes.Join(per, nil)}
		} else {
			kvs[i] = KV{Key: k, Value: vals[i]}
		}
	}
	return kvs, nil
}

func dump(m *ebpf.Map, names idNames) (kvs []KV, ok bool, err error) {
	switch m.Type() {
	case ebpf.Queue, ebpf.Stack:
		for {
			v := make([]byte, m.ValueSize())
			if err := m.LookupAndDelete(nil, &v); err != nil {
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					return kvs, true, nil
				}
				return nil, false, err
			}
			kvs = append(kvs, KV{Value: v})
		}
	case ebpf.Array, ebpf.Hash, ebpf.LRUHash, ebpf.LPMTrie, ebpf.PerCPUArray,
		ebpf.PerCPUHash, ebpf.LRUCPUHash, ebpf.ArrayOfMaps, ebpf.HashOfMaps,
		ebpf.ProgramArray, ebpf.DevMap, ebpf.DevMapHash, ebpf.CPUMap:
	default:
		return nil, false, nil
	}

	if m.Type() == ebpf.Array || m.Type() == ebpf.PerCPUArray {
		if kvs, err := dumpArray(m); err == nil {
			return kvs, true, nil
		}
		// Batch operations refused: one lookup per element below.
	}
	var keys [][]byte
	var cur any // nil: first key
	for {
		next := make([]byte, m.KeySize())
		if err := m.NextKey(cur, &next); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				break
			}
			return nil, false, err
		}
		keys = append(keys, next)
		cur = next
	}
	switch m.Type() {
	case ebpf.Array, ebpf.PerCPUArray, ebpf.ArrayOfMaps, ebpf.ProgramArray, ebpf.DevMap, ebpf.CPUMap:
		// index order, as NextKey returned them
	default:
		sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	}

	for _, k := range keys {
		kv := KV{Key: k}
		if isPerCPU(m.Type()) {
			ncpu, err := ebpf.PossibleCPU()
			if err != nil {
				return nil, false, err
			}
			vals := make([][]byte, ncpu)
			if err := m.Lookup(k, vals); err != nil {
				return nil, false, fmt.Errorf("lookup %x: %w", k, err)
			}
			kv.PerCPU = vals
			kv.Value = bytes.Join(vals, nil)
		} else {
			var v []byte
			if err := m.Lookup(k, &v); err != nil {
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					continue // empty slot of a program array or devmap
				}
				return nil, false, fmt.Errorf("lookup %x: %w", k, err)
			}
			switch m.Type() {
			case ebpf.ArrayOfMaps, ebpf.HashOfMaps:
				v = nameOf(names.maps, v)
			case ebpf.ProgramArray:
				v = nameOf(names.progs, v)
			}
			kv.Value = v
		}
		kvs = append(kvs, kv)
	}
	return kvs, true, nil
}

// monotonic reads CLOCK_MONOTONIC, bpf_ktime_get_ns's clock.
func monotonic() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}

// monotonicAwayFromSecondEnd waits, when the clock is in the last 50 ms of
// a second, for the next one, and returns the clock.
func monotonicAwayFromSecondEnd() uint64 {
	const second, margin = uint64(time.Second), uint64(50 * time.Millisecond)
	now := monotonic()
	if rest := second - now%second; rest < margin {
		time.Sleep(time.Duration(rest) + time.Millisecond)
		now = monotonic()
	}
	return now
}
