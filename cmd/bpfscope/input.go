package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	kcap "github.com/bpfscope/bpfscope/capture"
	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// defaultObject is the bundled program used when none is named.
const (
	defaultObject = "xdp_firewall.o"
	defaultProg   = "xdp_firewall"
)

// inputFlags are the flags every subcommand that runs a program shares:
// which program, and what it runs on.
type inputFlags struct {
	prog    string
	typ     string
	dataIn  string
	ctxIn   string
	pcap    string
	mapSets []string
	mapMem  uint64
	limits  vm.Config // --max-insns, --max-output (MaxInsns, MaxOutput)

	// The --pcap capture opened by load (pcapSeed), until packets takes it.
	pcapOpened bool
	opened     *capture
	openErr    error
}

func (in *inputFlags) register(fs *flag.FlagSet) {
	in.registerProgram(fs)
	fs.StringVar(&in.dataIn, "data-in", "", "run on the packet in `FILE` (data_in; - for stdin)")
	fs.StringVar(&in.ctxIn, "ctx-in", "", "pass the context structure in `FILE` (ctx_in)")
	fs.StringVar(&in.pcap, "pcap", "", "run on every packet of the pcap or pcapng `FILE`, in order")
	fs.Func("max-map-memory", "let the object's maps take at most `SIZE` bytes of host memory together (suffix K, M, G; default 1G)", func(s string) error {
		n, err := parseSize(s)
		in.mapMem = n
		return err
	})
	fs.Func("map", mapFlagHelp, func(s string) error {
		in.mapSets = append(in.mapSets, s)
		return nil
	})
	fs.Func("max-insns", "end a run after `N` instructions (helper work counted; default 2^27)", func(s string) error {
		n, err := strconv.ParseUint(s, 0, 64)
		if err == nil && n == 0 {
			err = errors.New("must be at least 1")
		}
		in.limits.MaxInsns = n
		return err
	})
	fs.Func("max-output", "end a run that produces more than `SIZE` bytes of output: bpf_printk, perf and ring buffer records (suffix K, M, G; default 64M)", func(s string) error {
		n, err := parseSize(s)
		if err == nil && n == 0 {
			err = errors.New("must be at least 1")
		}
		in.limits.MaxOutput = n
		return err
	})
}

// registerProgram registers only the flags that choose the program, for
// commands that do not run it.
func (in *inputFlags) registerProgram(fs *flag.FlagSet) {
	fs.StringVar(&in.prog, "prog", "", "program `NAME` or section of the object (default: its only or first program)")
	fs.StringVar(&in.typ, "type", "", "program `TYPE` of raw bytecode: xdp, tc, socket, ... (default xdp)")
}

// program is a loaded program with what is needed to build machines for
// it: each worker and each kernel comparison loads its own copy.
type program struct {
	label   string // file name for messages
	objPath string // the object on disk, "" when bundled or raw
	elf     []byte // the ELF object, nil for raw bytecode
	raw     *loader.Program
	name    string
	typ     ebpf.ProgramType
	bundled bool
	mapSets []string
	mapMem  uint64    // --max-map-memory
	limits  vm.Config // --max-insns, --max-output
	// ctxOut: the runs pass a ctx_out buffer (run --ctx-out), which
	// changes what test_run builds when there is no ctx_in.
	ctxOut bool
	// first is the collection load made, handed to the first caller of
	// collection so the object is not loaded twice.
	first *loader.Collection
	btf   mapBTF // the maps' key and value types, parsed on first use
	// seed is the map snapshot a bpfscope capture given as --pcap starts
	// with: every collection starts from it.
	seed *kcap.Snapshot
}

// load reads the program named by args (at most one), or the bundled
// example when there is none.
func (in *inputFlags) load(args []string) (*program, error) {
	if len(args) > 1 {
		return nil, fmt.Errorf("one program expected, got %d arguments: %s", len(args), strings.Join(args, " "))
	}
	p := &program{mapSets: in.mapSets, mapMem: in.mapMem, limits: in.limits}
	if in.pcap != "" {
		p.seed = in.pcapSeed()
	}
	if len(args) == 0 {
		b, err := fs.ReadFile(examples.Progs, defaultObject)
		if err != nil {
			return nil, err
		}
		p.label, p.elf, p.bundled = defaultObject, b, true
		if in.prog == "" {
			in.prog = defaultProg
		}
		p.mapSets = append([]string{"blocked_v4:" + hexAddr(examples.BlockedAddr) + "=0000000000000000"}, p.mapSets...)
	} else {
		b, err := os.ReadFile(args[0])
		if err != nil {
			return nil, err
		}
		p.label, p.objPath = filepath.Base(args[0]), args[0]
		if bytes.HasPrefix(b, []byte("\x7fELF")) {
			p.elf = b
		} else {
			typ := ebpf.XDP
			if in.typ != "" {
				if typ, err = parseType(in.typ); err != nil {
					return nil, err
				}
			}
			name := in.prog
			if name == "" {
				name = strings.TrimSuffix(p.label, filepath.Ext(p.label))
			}
			if p.raw, err = loader.Raw(name, b, typ); err != nil {
				var le *vm.LoadError
				if errors.As(err, &le) && le.PC <= 0 {
					// Not one instruction makes sense: the file is something else.
					return nil, fmt.Errorf("%s: not an ELF object or raw bytecode (%v)", p.label, le)
				}
				return nil, fmt.Errorf("%s: %w", p.label, err)
			}
			p.name, p.typ = p.raw.Name, typ
			return p, nil
		}
	}
	if in.typ != "" {
		return nil, errors.New("--type applies to raw bytecode; an object's sections name the type")
	}
	c, err := p.collection()
	if err != nil {
		return nil, err
	}
	lp, err := pick(c, in.prog, p.label)
	if err != nil {
		return nil, err
	}
	p.name, p.typ = lp.Name, lp.Type
	p.first = c
	return p, nil
}

// parseSize reads a byte count with an optional binary K, M or G suffix.
func parseSize(s string) (uint64, error) {
	shift := 0
	switch {
	case strings.HasSuffix(s, "K"):
		shift = 10
	case strings.HasSuffix(s, "M"):
		shift = 20
	case strings.HasSuffix(s, "G"):
		shift = 30
	}
	if shift > 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > (1<<63)>>shift {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, K, M or G", s)
	}
	return n << shift, nil
}

// pick finds the program to run, listing the choices when it cannot.
func pick(c *loader.Collection, name, label string) (*loader.Program, error) {
	names := make([]string, 0, len(c.Programs))
	for n := range c.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	if name == "" {
		if len(names) == 0 {
			return nil, fmt.Errorf("%s has no programs", label)
		}
		if len(names) > 1 {
			return nil, fmt.Errorf("%s has %d programs, choose one with --prog: %s", label, len(names), strings.Join(names, ", "))
		}
		return c.Programs[names[0]], nil
	}
	lp, err := c.Program(name)
	if err != nil {
		return nil, fmt.Errorf("%s has no program %q; available: %s", label, name, strings.Join(names, ", "))
	}
	return lp, nil
}

// collection loads a fresh copy of the object, with its maps, and applies
// the --map settings. Raw bytecode has no collection: nil.
func (p *program) collection() (*loader.Collection, error) {
	if p.raw != nil {
		return nil, nil
	}
	if c := p.first; c != nil {
		p.first = nil
		return c, nil
	}
	c, err := loader.LoadReader(bytes.NewReader(p.elf), loader.Options{MaxMapMemory: p.mapMem})
	if err != nil {
		var le *loader.Error
		if errors.As(err, &le) {
			le.Object = p.label
		}
		return nil, err
	}
	if p.seed != nil {
		kcap.ApplySnapshot(c, p.seed)
	}
	for _, s := range p.mapSets {
		if err := setMap(c, p.mapTypes(), s); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// instance is one machine bound to the program, with its own helpers.
type instance struct {
	m      *vm.Machine
	run    *testrun.Runner // created by execute, for the program's type
	hs     *helpers.Set
	coll   *loader.Collection // nil for raw bytecode
	prog   *vm.Program
	ctxOut bool // see program.ctxOut
}

// config is the machine configuration of p's runs: its helpers and the
// limits the command line set.
func (p *program) config(hs *helpers.Set) vm.Config {
	c := p.limits
	c.Helpers = hs
	return c
}

// instantiate builds a machine for p on a fresh copy of its maps (or on
// coll's maps, if given) with helpers over env.
func (p *program) instantiate(coll *loader.Collection, env helpers.Env) (*instance, error) {
	hs := helpers.New(env)
	if p.raw != nil {
		m, err := vm.New(p.raw.Prog, p.config(hs))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.label, err)
		}
		return &instance{m: m, hs: hs, prog: p.raw.Prog, ctxOut: p.ctxOut}, nil
	}
	if coll == nil {
		var err error
		if coll, err = p.collection(); err != nil {
			return nil, err
		}
	}
	m, err := coll.Machine(p.name, p.config(hs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.label, err)
	}
	return &instance{m: m, hs: hs, coll: coll, prog: coll.Programs[p.name].Prog, ctxOut: p.ctxOut}, nil
}

// writableMaps reports whether runs of p can change state a later run
// sees, which makes the order of packets matter.
func (p *program) writableMaps(c *loader.Collection) bool {
	if c == nil {
		return false
	}
	for _, m := range c.Maps {
		if !m.ReadOnly() {
			return true
		}
	}
	return false
}

// mapsInOrder returns the collection's maps in the index order programs use.
func mapsInOrder(c *loader.Collection) []maps.Map {
	if c == nil {
		return nil
	}
	var ms []maps.Map
	for _, n := range c.MapNames() {
		ms = append(ms, c.Maps[n])
	}
	return ms
}

// hexAddr is an IP address in network byte order, as hex.
func hexAddr(s string) string {
	a := netip.MustParseAddr(s)
	return hex.EncodeToString(a.AsSlice())
}

var typeNames = map[string]ebpf.ProgramType{
	"xdp":            ebpf.XDP,
	"tc":             ebpf.SchedCLS,
	"sched_cls":      ebpf.SchedCLS,
	"classifier":     ebpf.SchedCLS,
	"action":         ebpf.SchedACT,
	"sched_act":      ebpf.SchedACT,
	"socket":         ebpf.SocketFilter,
	"socket_filter":  ebpf.SocketFilter,
	"cgroup_skb":     ebpf.CGroupSKB,
	"lwt_in":         ebpf.LWTIn,
	"lwt_out":        ebpf.LWTOut,
	"lwt_xmit":       ebpf.LWTXmit,
	"flow_dissector": ebpf.FlowDissector,
	"sk_lookup":      ebpf.SkLookup,
	"raw_tracepoint": ebpf.RawTracepoint,
	"syscall":        ebpf.Syscall,
	"netfilter":      ebpf.Netfilter,
}

func parseType(s string) (ebpf.ProgramType, error) {
	if t, ok := typeNames[strings.ToLower(s)]; ok {
		return t, nil
	}
	names := make([]string, 0, len(typeNames))
	for n := range typeNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("unknown program type %q; known: %s", s, strings.Join(names, ", "))
}

// parseList parses "1,3,5-7" into a set of numbers.
func parseList(s string) (map[int]bool, error) {
	set := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("bad number %q in %q", lo, s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("bad number %q in %q", hi, s)
			}
		}
		if b < a || b-a > 1<<20 {
			return nil, fmt.Errorf("bad range %q", part)
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	return set, nil
}

// defaultJobs is the number of workers for run: one when runs share
// writable maps (the order of packets then matters), every core otherwise.
func defaultJobs(p *program, c *loader.Collection) int {
	if p.writableMaps(c) {
		return 1
	}
	return runtime.NumCPU()
}
