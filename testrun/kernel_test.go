package testrun

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/internal/pktgen"
	"github.com/bpfscope/bpfscope/loader"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/gopacket/gopacket/layers"
)

var (
	diffN    = flag.Int("diff.n", 24, "random inputs per program in the differential test")
	diffSeed = flag.Uint64("diff.seed", 1, "seed of the differential test's inputs")
)

const examples = "../examples/progs"

// expectedToRun lists the example programs whose context, maps and
// helpers bpfscope has today: for these the differential test must run,
// not skip. The others (tracing.o: kprobe and tracepoint, which the kernel
// cannot test-run) skip, naming what they miss; add them here when it
// lands.
var expectedToRun = map[string]bool{
	"cgroup_skb.o/egress_filter":          true,
	"flow_dissector.o/dissect":            true,
	"lwt.o/lwt_count":                     true,
	"lwt.o/lwt_ttl_guard":                 true,
	"netfilter.o/nf_ipv4_only":            true,
	"raw_tp.o/count_syscalls":             true,
	"sk_lookup.o/port_guard":              true,
	"socket_filter.o/dns_filter":          true,
	"syscall.o/multiply":                  true,
	"tc_action.o/tc_dscp_priority":        true,
	"tc_classifier.o/tc_dnat":             true,
	"tc_resize.o/tc_nat46":                true,
	"tc_resize.o/tc_outer_eth":            true,
	"tc_resize.o/tc_trailer":              true,
	"tc_resize.o/tc_vlan_push":            true,
	"xdp_adjust.o/xdp_meta":               true,
	"xdp_frags.o/xdp_frags":               true,
	"xdp_frags.o/xdp_frags_unaware":       true,
	"xdp_adjust.o/xdp_trailer":            true,
	"xdp_adjust.o/xdp_vlan_push":          true,
	"xdp_firewall.o/xdp_firewall":         true,
	"xdp_loop.o/xdp_loop":                 true,
	"xdp_lpm.o/xdp_lpm":                   true,
	"xdp_tailcall.o/handle_ipv4":          true,
	"xdp_tailcall.o/handle_ipv6":          true,
	"xdp_tailcall.o/handle_udp":           true,
	"xdp_tailcall.o/xdp_dispatch":         true,
	"xdp_redirect.o/xdp_redirect_ifindex": true,
	"xdp_redirect.o/xdp_redirect_devmap":  true,
	"xdp_redirect.o/xdp_redirect_cpumap":  true,
	"xdp_redirect.o/xdp_fib_forward":      true,
}

// kernelCannotRun are program types BPF_PROG_TEST_RUN refuses (ENOTSUPP).
var kernelCannotRun = map[ebpf.ProgramType]bool{ebpf.Kprobe: true, ebpf.TracePoint: true}

// TestKernelDifferential runs every example program in bpfscope and in the
// kernel on the same inputs — its canonical packet and random packets and
// map contents from a seeded source — and compares retval, data_out,
// ctx_out and the maps after the run.
func TestKernelDifferential(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	objs, _ := filepath.Glob(filepath.Join(examples, "*.o"))
	if len(objs) == 0 {
		t.Skipf("no example objects in %s", examples)
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Errorf("%s: %v", obj, err)
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(spec.Programs)) {
			id := filepath.Base(obj) + "/" + name
			t.Run(id, func(t *testing.T) {
				if why := differential(t, obj, name, spec, cpus, *diffN); why != "" {
					if expectedToRun[id] {
						t.Fatalf("expected to run, but %s", why)
					}
					t.Skip(why)
				}
			})
		}
	}
}

// differential compares program name of obj in bpfscope and the kernel on
// its canonical input and n random ones, reporting the first difference;
// it returns why the program cannot run, or "".
func differential(t *testing.T, obj, name string, spec *ebpf.CollectionSpec, cpus, n int) string {
	return differentialWith(t, obj, name, spec, cpus, diffOptions{n: n})
}

// diffOptions adjust a differential run.
type diffOptions struct {
	n int // random inputs after the canonical one
	// frames, when set, are the inputs after the canonical one instead
	// of n random frames (map contents stay random, keyed from them).
	frames []pktgen.Frame
	// types override the program types section names give, by program
	// name, as the programs' own loader does with bpf_program__set_type.
	types map[string]ebpf.ProgramType
	// maps, when set, gives entries a project's control plane would
	// write for a frame (policies, pod states), laid over the random ones.
	maps func(rng *rand.Rand, frame []byte) map[string][]kernel.KV
	// clockFields, when set, clears in a map value (both sides' dumps)
	// the kernel-clock readings that lie in the run's time (clock: the
	// oracle's CLOCK_MONOTONIC before and after it), which no two runs
	// share; a reading outside it stays and differs.
	clockFields func(mapName string, value []byte, clock [2]uint64)
}

// differentialWith is differential with options.
func differentialWith(t *testing.T, obj, name string, spec *ebpf.CollectionSpec, cpus int, o diffOptions) string {
	if len(o.types) > 0 {
		spec = spec.Copy()
		for n, typ := range o.types {
			if ps, ok := spec.Programs[n]; ok {
				ps.Type = typ
			}
		}
	}
	d := &differ{t: t, obj: obj, prog: name, spec: spec, cpus: cpus, fib: &kernelFib{t: t}, frames: o.frames, types: o.types, maps: o.maps, clockFields: o.clockFields}
	if why := d.missing(); why != "" {
		return why
	}
	rng := rand.New(rand.NewPCG(*diffSeed, uint64(len(filepath.Base(obj)+"/"+name))))
	n := o.n
	if o.frames != nil {
		n = len(o.frames)
	}
	for i := range n + 1 {
		if !d.compare(i, d.input(rng, i)) {
			return "" // one detailed report per program is enough
		}
	}
	// Which ways out the inputs took: a program that always returns the
	// same was not driven down its paths.
	t.Logf("kernel outcomes over %d inputs: %v", n+1, d.outcomes)
	return ""
}

// knownDifferences lists programs where bpfscope still differs from the
// kernel, and why. Their diffs are reported as skips, so the list shrinks as
// they are fixed and any new difference fails the test.
var knownDifferences = map[string]string{
	// BCC libbpf-tools (package libbpf-tools): latency tools store
	// bpf_ktime_get_ns() in maps, histograms and perf records. The
	// kernel's monotonic clock is not the Env's fixed one: not a
	// deterministic difference (docs/third-party.md).
	"runqslower.0.o/handle_sched_switch": timeDependent,
	"runqlat.0.o/handle_sched_switch":    timeDependent,
	"biolatency.0.o/block_rq_insert":     timeDependent,
	"biolatency.0.o/block_rq_issue":      timeDependent,
	"cpudist.0.o/sched_switch_tp":        timeDependent,
	"hardirqs.0.o/irq_handler_entry":     timeDependent,
	"hardirqs.0.o/irq_handler_exit":      timeDependent,
	"softirqs.0.o/softirq_entry":         timeDependent,
	"softirqs.0.o/softirq_exit":          timeDependent,
}

const timeDependent = "time: the program records bpf_ktime_get_ns, the kernel's clock against the Env's"

type differ struct {
	t    *testing.T
	obj  string
	prog string
	spec *ebpf.CollectionSpec
	cpus int
	fib  *kernelFib
	// frames are the inputs after the canonical one (nil: random).
	frames []pktgen.Frame
	types  map[string]ebpf.ProgramType // program types their loader sets
	maps   func(rng *rand.Rand, frame []byte) map[string][]kernel.KV
	// clockFields: see diffOptions.
	clockFields func(mapName string, value []byte, clock [2]uint64)
	// outcomes counts the kernel's retvals and errors over the inputs.
	outcomes map[string]int
}

// missing says why bpfscope cannot run the program yet, or "".
func (d *differ) missing() string {
	ps := d.spec.Programs[d.prog]
	if kernelCannotRun[ps.Type] {
		return fmt.Sprintf("the kernel cannot test-run %s programs", ps.Type)
	}
	if _, err := bpfctx.Lookup(ps.Type); err != nil {
		return fmt.Sprintf("missing context provider: %v", err)
	}
	c, err := loader.FromSpec(d.spec.Copy(), loader.Options{PossibleCPUs: d.cpus})
	if err != nil {
		return fmt.Sprintf("loader: %v", err)
	}
	set := helpers.New(nil)
	var lack []string
	for _, p := range c.Programs { // tail calls may reach any of them
		for _, id := range p.Prog.HelperIDs() {
			if _, ok := set.Helper(id); !ok && !(id == coreTrap && len(p.Poisoned) > 0) {
				lack = append(lack, fmt.Sprintf("%s (in %s)", asmName(id), p.Name))
			}
		}
	}
	if len(lack) > 0 {
		slices.Sort(lack)
		return "missing helpers: " + strings.Join(slices.Compact(lack), ", ")
	}
	return ""
}

// coreTrap is the helper id the loader rewrites CO-RE relocations that
// found no match to (in dead branches the kernel's verifier drops, as
// libbpf-tools' bpf_core_field_exists fallbacks): a run reaching one fails.
const coreTrap = 0xbad

// input builds test input i: the canonical packet (a 60-byte UDP/IPv4
// frame) first, then a generated or random one, and random contents for
// the plain maps.
func (d *differ) input(rng *rand.Rand, i int) kernel.Input {
	canonical := i == 0
	ps := d.spec.Programs[d.prog]
	in := kernel.Input{Types: d.types}
	frame := kernel.Pad(kernel.UDP4Frame(kernel.IPv4A, kernel.IPv4B, 1000, 53, []byte("hello")), 60)
	switch {
	case canonical:
	case d.frames != nil:
		frame = d.frames[(i-1)%len(d.frames)].Data
	default:
		frame = randomFrame(rng)
	}
	switch ps.Type {
	case ebpf.SkLookup:
		l := kernel.SkLookup{Family: 2, Protocol: 6, LocalPort: 80, RemotePort: uint32(kernel.Ntohs(1000))}
		if !canonical {
			l.Protocol = []uint32{6, 17}[rng.IntN(2)]
			l.LocalPort = uint32([]int{22, 53, 80, 443, rng.IntN(65536)}[rng.IntN(5)])
			l.RemoteIP4 = [4]byte{10, 0, 0, byte(rng.IntN(4))}
			if rng.IntN(3) == 0 {
				l.Family = 10
			}
		}
		in.Ctx = kernel.Marshal(l)
	case ebpf.RawTracepoint:
		args := []uint64{0, 59}
		if !canonical {
			// Two arguments, or as many as a tracepoint may have
			// (sched_switch's raw_tp has three; MAX_BPF_FUNC_ARGS is
			// 12): a program reading past ctx_size_in is refused.
			args = make([]uint64, []int{2, 2, 6, 12}[rng.IntN(4)])
			for i := range args {
				args[i] = []uint64{0, uint64(rng.IntN(8)), rng.Uint64(), 0xffff888000000000 + uint64(rng.IntN(1<<20))<<3}[rng.IntN(4)]
			}
		}
		in.Ctx = kernel.Marshal(args)
	case ebpf.Syscall:
		in.Ctx = make([]byte, 48)
		a, b := uint32(6), uint32(7)
		if !canonical {
			a, b = rng.Uint32(), rng.Uint32()>>uint(rng.IntN(32))
		}
		binary.LittleEndian.PutUint32(in.Ctx[0:], a)
		binary.LittleEndian.PutUint32(in.Ctx[4:], b)
	default:
		in.Data = frame
	}
	if canonical {
		return in
	}
	// Sometimes no ctx_out buffer (the kernel then builds no context
	// structure: the skb family sees wire_len 0), or for XDP only a
	// ctx_out buffer (a zeroed xdp_md: the whole frame in fragments).
	switch rng.IntN(6) {
	case 0:
		in.NoCtxOut = oracleCtxOut[ps.Type]
	case 1:
		in.NoCtxIn = ps.Type == ebpf.XDP
	}
	in.Maps = map[string][]kernel.KV{}
	for name, ms := range d.spec.Maps {
		if isData(name) {
			// .rodata configures the program (and a format string there
			// must stay terminated); .data and .bss get a random value.
			if !strings.HasPrefix(name, ".rodata") && rng.IntN(2) == 0 {
				in.Maps[name] = []kernel.KV{{Key: make([]byte, 4), Value: randBytes(rng, int(ms.ValueSize))}}
			}
			if strings.HasPrefix(name, ".rodata") && d.frames != nil && rng.IntN(2) == 0 {
				if v := configFromFrame(rng, d.spec, name, frame); v != nil {
					in.Maps[name] = []kernel.KV{{Key: make([]byte, 4), Value: v}}
				}
			}
			continue
		}
		if kvs := randomEntries(rng, ms, frame, d.cpus, d.frames != nil); len(kvs) > 0 {
			in.Maps[name] = kvs
		}
	}
	if d.maps != nil {
		for name, kvs := range d.maps(rng, frame) {
			if ms := d.spec.Maps[name]; ms != nil && len(kvs) > 0 && len(kvs[0].Key) == int(ms.KeySize) {
				in.Maps[name] = kvs
			}
		}
	}
	return in
}

// randomFrame is an Ethernet frame: mostly well-formed IPv4/IPv6 TCP, UDP
// or ICMP with ports and TTLs the examples test, sometimes cut short or
// random bytes.
func randomFrame(rng *rand.Rand) []byte {
	f := kernel.Frame{
		Src: kernel.IPv4A, Dst: kernel.IPv4B,
		TTL:     []uint8{1, 2, 64, 255}[rng.IntN(4)],
		TOS:     uint8(rng.IntN(256)),
		Proto:   []layers.IPProtocol{layers.IPProtocolUDP, layers.IPProtocolTCP, layers.IPProtocolICMPv4}[rng.IntN(3)],
		SrcPort: uint16([]int{53, 1000, 9, rng.IntN(65536)}[rng.IntN(4)]),
		DstPort: uint16([]int{53, 80, 9, 443, rng.IntN(65536)}[rng.IntN(5)]),
		Payload: randBytes(rng, rng.IntN(80)),
	}
	if rng.IntN(2) == 0 {
		f.Src = netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + rng.IntN(3))})
	}
	if rng.IntN(4) == 0 {
		f.Src, f.Dst = kernel.IPv6A, kernel.IPv6B
		if f.Proto == layers.IPProtocolICMPv4 {
			f.Proto = layers.IPProtocolUDP
		}
	}
	if rng.IntN(6) == 0 {
		// A jumbo frame: XDP gets it as a linear part and fragments,
		// the skb family refuses it.
		n := []int{3520, 3521, 4901, 9018, 4000 + rng.IntN(5019), bpfctx.XDPMaxFrame, bpfctx.XDPMaxFrame + 1}[rng.IntN(7)]
		// The IP header covers up to 9000 bytes of it, the rest is
		// trailing bytes (an IPv4 length cannot say 73 KB).
		f.Payload = randBytes(rng, max(0, min(n, 9018)-len(f.Build())+len(f.Payload)))
		b := f.Build()
		return append(b, randBytes(rng, max(0, n-len(b)))...)
	}
	b := kernel.Pad(f.Build(), 60)
	switch rng.IntN(8) {
	case 0:
		return b[:14+rng.IntN(len(b)-14)] // truncated headers
	case 1:
		r := randBytes(rng, 14+rng.IntN(100))
		binary.BigEndian.PutUint16(r[12:], []uint16{0x0800, 0x86dd, 0x0806}[rng.IntN(3)])
		return r
	}
	return b
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// randomEntries gives a plain map a few random entries. Keys of 4 and 16
// bytes are often the frame's IPv4 or IPv6 source, so lookups hit; LPM
// trie values are often small. Devmaps
// get loopback (or an emptied slot), cpumaps a queue on a possible CPU.
func randomEntries(rng *rand.Rand, ms *ebpf.MapSpec, frame []byte, cpus int, byFields bool) []kernel.KV {
	var fields [][]byte
	if byFields {
		fields = pktgen.Fields(frame)
	}
	switch ms.Type {
	case ebpf.DevMap, ebpf.CPUMap:
		n := int(ms.MaxEntries)
		if n == 0 { // sized by the program's loader: the oracle's default
			n = kernel.DefaultMaxEntries
		}
		if ms.Type == ebpf.CPUMap {
			n = min(n, cpus)
		}
		var kvs []kernel.KV
		for range rng.IntN(3) {
			v := binary.LittleEndian.AppendUint32(nil, []uint32{1, 1, 0}[rng.IntN(3)]) // ifindex
			if ms.Type == ebpf.CPUMap {
				v = binary.LittleEndian.AppendUint32(nil, []uint32{64, 64, 0}[rng.IntN(3)]) // qsize
			}
			v = append(v, make([]byte, int(ms.ValueSize)-len(v))...) // no program
			kvs = append(kvs, kernel.KV{Key: binary.LittleEndian.AppendUint32(nil, uint32(rng.IntN(n))), Value: v})
		}
		return kvs
	case ebpf.Hash, ebpf.LRUHash, ebpf.PerCPUHash, ebpf.LRUCPUHash, ebpf.Array, ebpf.PerCPUArray, ebpf.LPMTrie:
	default:
		return nil
	}
	if ms.KeySize == 0 || ms.ValueSize == 0 || ms.ValueSize > 64 || ms.MaxEntries == 0 {
		return nil
	}
	var kvs []kernel.KV
	n := rng.IntN(4)
	if ms.Type == ebpf.Hash || ms.Type == ebpf.PerCPUHash {
		n = min(n, int(ms.MaxEntries)) // a full hash map refuses more (E2BIG)
	}
	for range n {
		key := randBytes(rng, int(ms.KeySize))
		switch {
		case ms.Type == ebpf.Array || ms.Type == ebpf.PerCPUArray:
			binary.LittleEndian.PutUint32(key, uint32(rng.IntN(int(ms.MaxEntries))))
		case ms.Type == ebpf.LPMTrie:
			binary.LittleEndian.PutUint32(key, uint32(rng.IntN(int(ms.KeySize-4)*8+1)))
			switch {
			case len(fields) > 0 && rng.IntN(2) == 0:
				keyFromFields(rng, key[4:], fields)
			case len(frame) >= 30 && ms.KeySize == 8 && rng.IntN(2) == 0:
				copy(key[4:], frame[26:30])
			}
		case len(fields) > 0 && rng.IntN(2) == 0 && fillFromBTF(rng, key, ms.Key, fields, true):
			// a struct key laid out from the frame by its fields' names
		case len(fields) > 0 && rng.IntN(3) != 0:
			keyFromFields(rng, key, fields)
		case ms.KeySize == 4 && len(frame) >= 30 && rng.IntN(2) == 0:
			copy(key, frame[26:30])
		case ms.KeySize == 16 && len(frame) >= 38 && rng.IntN(2) == 0:
			copy(key, frame[22:38])
		}
		val := randBytes(rng, int(ms.ValueSize))
		switch {
		case ms.ValueSize == 4 && rng.IntN(2) == 0:
			// Route classes, indexes into other maps, counts: small
			// numbers (xdp_lpm blackholes class 1, Katran's rings
			// hold indexes of reals).
			binary.LittleEndian.PutUint32(val, uint32(rng.IntN(3)))
		case len(fields) > 0 && rng.IntN(2) == 0:
			fillFromBTF(rng, val, ms.Value, fields, false)
		}
		kvs = append(kvs, kernel.KV{Key: key, Value: val})
	}
	return kvs
}

// fillFromBTF lays a map key or value out from the frame by the names of
// its BTF struct's fields: addresses (fields named addr, ip, src, dst,
// vip..., and address-sized unions) from the frame's addresses, ports and
// protocols from its ports and protocols, MACs from its MACs; in a key the
// other fields are zero (lookups match exactly), in a value fields naming
// an index or a count get small numbers. It reports whether the type is a
// struct it could lay out.
func fillFromBTF(rng *rand.Rand, buf []byte, typ btf.Type, fields [][]byte, key bool) bool {
	st, ok := btf.UnderlyingType(typ).(*btf.Struct)
	if !ok || int(st.Size) != len(buf) {
		return false
	}
	bySize := map[int][][]byte{}
	for _, f := range fields {
		bySize[len(f)] = append(bySize[len(f)], f)
	}
	pick := func(n int) []byte {
		if fs := bySize[n]; len(fs) > 0 {
			return fs[rng.IntN(len(fs))]
		}
		return nil
	}
	if key {
		clear(buf)
	}
	var walk func(off uint32, name string, t btf.Type)
	walk = func(off uint32, name string, t btf.Type) {
		t = btf.UnderlyingType(t)
		size, err := btf.Sizeof(t)
		if err != nil || int(off)+size > len(buf) {
			return
		}
		dst := buf[off : int(off)+size]
		n := strings.ToLower(name)
		has := func(subs ...string) bool {
			for _, s := range subs {
				if strings.Contains(n, s) {
					return true
				}
			}
			return false
		}
		_, union := t.(*btf.Union)
		switch {
		case (size == 4 || size == 16) && (has("addr", "ip", "src", "dst", "vip", "daddr", "saddr") || union && name == ""):
			if a := pick(size); a != nil && (size == 4 || rng.IntN(2) == 0) {
				copy(dst, a)
			} else if a := pick(4); a != nil && size == 16 {
				clear(dst)
				copy(dst, a) // an IPv4 address in a v4/v6 union
			}
			return
		case size == 2 && has("port"):
			copy(dst, pick(2))
			return
		case size == 1 && has("proto"):
			copy(dst, pick(1))
			return
		case size == 6 && has("mac", "eth"):
			copy(dst, pick(6))
			return
		case !key && size <= 4 && has("num", "idx", "index", "pos", "cnt", "count"):
			clear(dst)
			dst[0] = byte(rng.IntN(3))
			return
		}
		switch t := t.(type) {
		case *btf.Struct:
			for _, m := range t.Members {
				if m.BitfieldSize == 0 {
					walk(off+m.Offset.Bytes(), m.Name, m.Type)
				}
			}
		case *btf.Union:
			if len(t.Members) > 0 {
				walk(off, t.Members[0].Name, t.Members[0].Type)
			}
		}
	}
	walk(0, "", st)
	return true
}

// configFromFrame returns the compiled contents of a .rodata section with
// the configuration constants that name an address, a port or a protocol
// (cls_redirect's ENCAPSULATION_IP and _PORT, ...) set to the frame's, so
// that the frame is the traffic the program was configured for; nil if
// the section has none.
func configFromFrame(rng *rand.Rand, spec *ebpf.CollectionSpec, section string, frame []byte) []byte {
	ms := spec.Maps[section]
	if len(ms.Contents) != 1 {
		return nil
	}
	compiled, ok := ms.Contents[0].Value.([]byte)
	if !ok || len(compiled) != int(ms.ValueSize) {
		return nil
	}
	val := bytes.Clone(compiled)
	changed := false
	for _, name := range slices.Sorted(maps.Keys(spec.Variables)) {
		v := spec.Variables[name]
		end := int(v.Offset) + int(v.Size())
		if v.SectionName != section || end > len(val) || v.Type == nil {
			continue
		}
		// A one-member struct named after the variable: fillFromBTF
		// lays it out by name.
		st := &btf.Struct{Size: v.Size(), Members: []btf.Member{{Name: name, Type: v.Type.Type}}}
		buf := bytes.Clone(val[v.Offset:end])
		if fillFromBTF(rng, buf, st, pktgen.Fields(frame), true) && !bytes.Equal(buf, make([]byte, len(buf))) {
			copy(val[v.Offset:], buf)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return val
}

// keyFromFields lays fields of the frame into a key, so that a program
// looking up what it parsed finds an entry: an address (rest zero), or
// consecutive fields from a random one on (a tuple: addresses, ports).
func keyFromFields(rng *rand.Rand, key []byte, fields [][]byte) {
	clear(key)
	if rng.IntN(2) == 0 {
		var addrs [][]byte
		for _, f := range fields {
			if len(f) == 4 || len(f) == 16 {
				addrs = append(addrs, f)
			}
		}
		if len(addrs) > 0 {
			copy(key, addrs[rng.IntN(len(addrs))])
			return
		}
	}
	off := 0
	for _, f := range fields[rng.IntN(len(fields)):] {
		if off >= len(key) {
			break
		}
		off += copy(key[off:], f)
	}
}

// compare runs one input on both sides and reports the differences.
func (d *differ) compare(i int, in kernel.Input) bool {
	t := d.t
	want, err := kernel.RunSpec(d.obj, d.spec.Copy(), d.prog, in)
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) && d.frames != nil {
		// A program from elsewhere that this kernel's verifier refuses
		// (bpfscope has no verifier: it would run it).
		t.Skipf("the kernel's verifier refuses it: %v", err)
	}
	if err != nil {
		t.Fatalf("input %d: kernel: %v", i, err)
	}
	if d.outcomes == nil {
		d.outcomes = map[string]int{}
	}
	if want.Err != nil {
		d.outcomes[unwrapErrno(want.Err).Error()]++
	} else {
		d.outcomes[fmt.Sprintf("ret %d", int32(want.Retval))]++
	}
	got, gotMaps, gotEvents, err := d.run(in, want.Clock[0])
	if d.clockFields != nil {
		for _, dump := range []map[string][]kernel.KV{want.Maps, gotMaps} {
			for name, kvs := range dump {
				for _, kv := range kvs {
					d.clockFields(name, kv.Value, want.Clock)
				}
			}
		}
	}
	if diffs := resultDiffs(want, got, gotMaps, gotEvents, err, d.spec.Maps); len(diffs) > 0 {
		report := fmt.Sprintf("input %d (data %s, ctx %x, maps %v):\n%s", i, short(in.Data), in.Ctx, in.Maps, strings.Join(diffs, "\n"))
		if why, known := knownDifferences[filepath.Base(d.obj)+"/"+d.prog]; known {
			t.Skipf("known difference, not fixed yet (%s):\n%s", why, report)
		}
		t.Error(report)
		return false
	}
	return true
}

// resultDiffs lists how bpfscope's run (got, its maps and records after
// the run, err) differs from the kernel's (want) of a collection with the
// maps specs.
func resultDiffs(want *kernel.Result, got *Result, gotMaps map[string][]kernel.KV, gotEvents map[string][][]byte, err error, specs map[string]*ebpf.MapSpec) []string {
	var diffs []string
	switch {
	case want.Err != nil && err == nil:
		diffs = append(diffs, fmt.Sprintf("kernel failed with %v, bpfscope returned %d", want.Err, got.Retval))
	case want.Err == nil && err != nil:
		diffs = append(diffs, fmt.Sprintf("bpfscope failed: %v (kernel returned %d)", err, want.Retval))
	case want.Err != nil:
		if !errors.Is(want.Err, unwrapErrno(err)) {
			diffs = append(diffs, fmt.Sprintf("both failed, differently: bpfscope %v, kernel %v", err, want.Err))
		}
	default:
		if got.Retval != want.Retval {
			diffs = append(diffs, fmt.Sprintf("retval %d, kernel %d", got.Retval, want.Retval))
		}
		if !bytes.Equal(got.DataOut, want.DataOut) {
			diffs = append(diffs, fmt.Sprintf("data_out\n  got    %s\n  kernel %s", short(got.DataOut), short(want.DataOut)))
		}
		if want.CtxOut != nil && !bytes.Equal(got.CtxOut, want.CtxOut) {
			diffs = append(diffs, fmt.Sprintf("ctx_out\n  got    %x\n  kernel %x", got.CtxOut, want.CtxOut))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		w, g := want.Events[name], gotEvents[name]
		if len(w) != len(g) || !slices.EqualFunc(w, g, bytes.Equal) {
			diffs = append(diffs, fmt.Sprintf("records of %s\n  got    %x\n  kernel %x", name, g, w))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.Maps)) {
		if diff := diffKVs(want.Maps[name], gotMaps[name], specs[name]); diff != "" {
			diffs = append(diffs, fmt.Sprintf("map %s: %s", name, diff))
		}
	}
	return diffs
}

// short prints a packet, or the start of a jumbo frame with its length and
// a hash, so that reports stay readable.
func short(b []byte) string {
	if len(b) <= 512 {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%x... (%d bytes, sha %x)", b[:256], len(b), sha256.Sum256(b))
}

func unwrapErrno(err error) error {
	for _, e := range []error{ErrInvalid, ErrNoSpace, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return e
		}
	}
	if errors.Is(err, bpfctx.ErrInvalidCtx) || errors.Is(err, bpfctx.ErrInvalidData) {
		return ErrInvalid
	}
	return err
}

// run runs the input in bpfscope and dumps the maps as the oracle does.
// bpfscope's clock starts where the kernel's was when it ran the input
// (clock, CLOCK_MONOTONIC in ns; 0 for the Env's default), so programs that
// keep seconds (conntrack lifetimes) see the same ones.
func (d *differ) run(in kernel.Input, clock uint64) (*Result, map[string][]kernel.KV, map[string][][]byte, error) {
	spec := d.spec.Copy()
	for name, kvs := range in.Maps {
		if !isData(name) {
			continue
		}
		spec.Maps[name].Contents = []ebpf.MapKV{{Key: uint32(0), Value: kvs[0].Value}}
		for _, v := range spec.Variables { // the loader overlays them, keep them in sync
			if v.SectionName == name {
				if err := v.Set(kvs[0].Value[v.Offset : v.Offset+v.Size()]); err != nil {
					d.t.Fatal(err)
				}
			}
		}
	}
	c, err := loader.FromSpec(spec, loader.Options{PossibleCPUs: d.cpus})
	if err != nil {
		d.t.Fatal(err)
	}
	for name, kvs := range in.Maps {
		if isData(name) {
			continue
		}
		mp := c.Maps[name]
		for _, kv := range kvs {
			if err := mp.Put(kv.Key, perCPUValue(mp, kv.Value, d.cpus), bpfmaps.UpdateAny); err != nil {
				d.t.Fatalf("fill %s: %v", name, err)
			}
		}
	}
	for _, mp := range c.Maps { // the oracle's perf readers fill every CPU's slot
		if pa, ok := mp.(*bpfmaps.PerfEventArrayMap); ok {
			pa.SetRingSize(os.Getpagesize()) // the oracle's readers map one page per CPU
			for cpu := range min(d.cpus, int(pa.Spec().MaxEntries)) {
				k := binary.LittleEndian.AppendUint32(nil, uint32(cpu))
				if err := pa.Put(k, k, bpfmaps.UpdateAny); err != nil {
					d.t.Fatal(err)
				}
			}
		}
	}
	typ := d.spec.Programs[d.prog].Type
	ctxIn := in.Ctx
	if typ == ebpf.XDP && ctxIn == nil && !in.NoCtxIn && !in.NoCtxOut {
		ctxIn = kernel.Marshal(kernel.XDPMd{DataEnd: uint32(len(in.Data))}) // what the oracle passes
	}
	env := fibEnv{helpers.NewDefaultEnv(), d.fib}
	if clock != 0 {
		env.DefaultEnv.Start = clock
	}
	opts := Options{Data: in.Data, Ctx: ctxIn, Repeat: in.Repeat, WantCtxOut: oracleCtxOut[typ] && !in.NoCtxOut}
	res, err := RunProgram(c, d.prog, vm.Config{Helpers: helpers.New(env)}, opts)
	if res == nil {
		res = &Result{}
	}
	return res, dumpMaps(c), drainEvents(c), err
}

// oracleCtxOut are the types the oracle (package kernel) passes a ctx_out
// buffer for, unless told not to.
var oracleCtxOut = map[ebpf.ProgramType]bool{
	ebpf.XDP: true, ebpf.SocketFilter: true, ebpf.SchedCLS: true, ebpf.SchedACT: true, ebpf.CGroupSKB: true,
	ebpf.LWTIn: true, ebpf.LWTOut: true, ebpf.LWTXmit: true,
}

func isData(name string) bool {
	return name == ".bss" || name == ".data" || name == ".rodata" ||
		strings.HasPrefix(name, ".data.") || strings.HasPrefix(name, ".rodata.")
}

// perCPUValue lays out one value for every CPU as the syscall wants it.
func perCPUValue(mp bpfmaps.Map, v []byte, cpus int) []byte {
	if mp.UserValueSize() == len(v) {
		return v
	}
	stride := mp.UserValueSize() / cpus
	out := make([]byte, mp.UserValueSize())
	for c := range cpus {
		copy(out[c*stride:], v)
	}
	return out
}

// drainEvents collects the records of every ring buffer and perf event
// array as the oracle's readers get them: perf samples padded as the
// kernel lays them out.
func drainEvents(c *loader.Collection) map[string][][]byte {
	out := map[string][][]byte{}
	for name, mp := range c.Maps {
		var recs [][]byte
		switch m := mp.(type) {
		case *bpfmaps.PerfEventArrayMap:
			for _, r := range m.Drain() {
				recs = append(recs, r.RawSample())
			}
		case *bpfmaps.RingBufMap:
			for _, r := range m.Drain() {
				recs = append(recs, r.Data)
			}
		}
		if len(recs) > 0 {
			out[name] = recs
		}
	}
	return out
}

// dumpMaps lists every map as the oracle does (see package kernel).
func dumpMaps(c *loader.Collection) map[string][]kernel.KV {
	names := map[any]string{}
	for n, p := range c.Programs {
		names[p.Prog] = n
	}
	for n, m := range c.Maps {
		names[m] = n
	}
	out := map[string][]kernel.KV{}
	for name, mp := range c.Maps {
		s := mp.Spec()
		var kvs []kernel.KV
		switch m := mp.(type) {
		case *bpfmaps.QueueMap:
			for {
				v := make([]byte, s.ValueSize)
				if m.Pop(v) != nil {
					break
				}
				kvs = append(kvs, kernel.KV{Value: v})
			}
		case *bpfmaps.ProgramArrayMap:
			for k := range m.Keys() {
				if p, ok := m.Program(binary.LittleEndian.Uint32(k)); ok {
					kvs = append(kvs, kernel.KV{Key: k, Value: []byte(names[p])})
				}
			}
		case interface {
			LookupMap([]byte) (bpfmaps.Map, bool)
		}:
			for k := range mp.Keys() {
				if inner, ok := m.LookupMap(k); ok {
					kvs = append(kvs, kernel.KV{Key: k, Value: []byte(names[inner])})
				}
			}
		case *bpfmaps.RingBufMap, *bpfmaps.PerfEventArrayMap:
			continue
		default:
			for k := range mp.Keys() {
				v := make([]byte, mp.UserValueSize())
				if mp.Get(k, v) != nil {
					continue
				}
				kv := kernel.KV{Key: k, Value: v}
				if isPerCPU(s.Type) {
					stride := len(v) / c.PossibleCPUs()
					kv.Value = nil
					for cpu := range c.PossibleCPUs() {
						val := v[cpu*stride : cpu*stride+int(s.ValueSize)]
						kv.PerCPU = append(kv.PerCPU, val)
						kv.Value = append(kv.Value, val...)
					}
				}
				kvs = append(kvs, kv)
			}
		}
		if s.Type != bpfmaps.Array && s.Type != bpfmaps.PerCPUArray && s.Type != bpfmaps.ArrayOfMaps &&
			s.Type != bpfmaps.ProgramArray && s.Type != bpfmaps.Queue && s.Type != bpfmaps.Stack &&
			s.Type != bpfmaps.DevMap && s.Type != bpfmaps.CPUMap {
			slices.SortFunc(kvs, func(a, b kernel.KV) int { return bytes.Compare(a.Key, b.Key) })
		}
		out[name] = kvs
	}
	return out
}

func isPerCPU(t bpfmaps.Type) bool {
	return t == bpfmaps.PerCPUArray || t == bpfmaps.PerCPUHash || t == bpfmaps.LRUCPUHash
}

// diffKVs compares map dumps. Per-CPU values are compared as multisets:
// the kernel runs the program on whichever CPU the test thread is on,
// bpfscope on CPU 0.
func diffKVs(want, got []kernel.KV, ms *ebpf.MapSpec) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d entries, kernel %d\n  got    %s\n  kernel %s", len(got), len(want), fmtKVs(got), fmtKVs(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if !bytes.Equal(w.Key, g.Key) {
			return fmt.Sprintf("entry %d: key %x, kernel %x", i, g.Key, w.Key)
		}
		if w.PerCPU != nil {
			if !sameMultiset(w.PerCPU, g.PerCPU) {
				return fmt.Sprintf("key %x: per-CPU values %x, kernel %x", w.Key, g.PerCPU, w.PerCPU)
			}
			continue
		}
		if !bytes.Equal(w.Value, g.Value) {
			return fmt.Sprintf("key %x: value\n  got    %x\n  kernel %x", w.Key, g.Value, w.Value)
		}
	}
	return ""
}

func sameMultiset(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(sa, bytes.Compare)
	slices.SortFunc(sb, bytes.Compare)
	for i := range sa {
		if !bytes.Equal(sa[i], sb[i]) {
			return false
		}
	}
	return true
}

func fmtKVs(kvs []kernel.KV) string {
	var b strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&b, "%x=%x ", kv.Key, kv.Value)
	}
	return b.String()
}

func asmName(id int32) string { return asm.BuiltinFunc(id).String() }
