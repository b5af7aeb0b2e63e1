package testrun

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/internal/pktgen"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// goModProject is a public project whose BPF programs reach this test as a
// Go module: the module proxy serves its sources (or objects it ships), the
// test downloads the module into the module cache at test time, compiles
// what needs compiling into a temporary directory and runs every
// test-runnable program in bpfscope and in the kernel. Nothing of these
// projects is part of this repository.
type goModProject struct {
	module  string // module@version: a version whose go.mod this toolchain accepts
	shipped []string
	builds  []cBuild
	// n is the number of generated frames per program, spread over the
	// kinds of internal/pktgen (the canonical packet comes on top); 0
	// means the whole corpus, one of each kind and more.
	n int
	// programs, when set, picks the programs to run (the others of the
	// object are still loaded: tail calls may reach them).
	programs func(*ebpf.ProgramSpec) bool
	// prepare does to a parsed object what the project's own loader does
	// before loading it (filling program arrays, say); obj is its path.
	prepare func(spec *ebpf.CollectionSpec, obj string) error
	// maps gives entries the project's control plane would write for a
	// frame, laid over the random ones.
	maps func(rng *rand.Rand, frame []byte) map[string][]kernel.KV
	// clockFields clears the kernel-clock readings of the run in map
	// values (see diffOptions).
	clockFields func(mapName string, value []byte, clock [2]uint64)
	// frames are frames of the project's own protocol, run after the
	// corpus's.
	frames func() []pktgen.Frame
	// vmlinuxH: the sources include a vmlinux.h that the project's build
	// generates from the running kernel's BTF with bpftool.
	vmlinuxH bool
}

// cBuild compiles one C source of the module with clang-19.
type cBuild struct {
	src   string   // relative to the module's directory
	flags []string // on top of the common flags
	out   string   // name of the object; "" means the source's base name
}

// ciliumFlags are those of cilium's bpf/Makefile.bpf (less -Werror: a
// newer clang's new warning must not fail the test) with the datapath
// features the agent enables by default: IPv4 and IPv6.
var ciliumFlags = []string{
	"-I", "bpf", "-I", "bpf/include", "-std=gnu99", "-nostdinc", "-mcpu=v3",
	"-ftrap-function=__undefined_trap", "-Wno-address-of-packed-member",
	"-Wno-unknown-warning-option", "-Wno-gnu-variable-sized-type-not-at-end",
	"-DENABLE_IPV4", "-DENABLE_IPV6",
}

var goModProjects = []goModProject{
	{
		// Cilium's datapath: the XDP load balancer, the endpoint (lxc)
		// and host programs, with their tail calls in place as the agent
		// inserts them. The entry programs run; the tail calls are
		// reached through cilium_calls.
		module: "github.com/cilium/cilium@v1.20.2",
		builds: []cBuild{
			{src: "bpf/bpf_xdp.c", flags: ciliumFlags},
			{src: "bpf/bpf_lxc.c", flags: ciliumFlags},
			{src: "bpf/bpf_host.c", flags: ciliumFlags},
		},
		// The kernel verifies a whole object in 1.5 s: three frames per
		// program keep the test under a minute. The policy entry points
		// of this configuration are 2-instruction stubs.
		programs: func(ps *ebpf.ProgramSpec) bool {
			return strings.HasSuffix(ps.SectionName, "/entry") && len(ps.Instructions) > 2
		},
		prepare: ciliumLoad,
		n:       3,
	},
	{
		// Calico's eBPF dataplane (felix/bpf-gpl): the tc programs of a
		// workload endpoint (both directions) and of a host endpoint's
		// ingress, with FIB lookups, the XDP host-endpoint program, the
		// preambles felix attaches in front of them and its default
		// policies. Flags as felix/bpf-gpl/calculate-flags computes them
		// for from_wep_fib_no_log_co-re.o and the others.
		module: "github.com/projectcalico/calico@v1.11.0-cni-plugin.0.20250813170300-a0db560f0520",
		builds: []cBuild{
			{src: "felix/bpf-gpl/tc.c", out: "from_wep_fib.o", flags: calicoFlags(0)},
			{src: "felix/bpf-gpl/tc.c", out: "to_wep_fib.o", flags: calicoFlags(2)},
			{src: "felix/bpf-gpl/tc.c", out: "from_hep_fib.o", flags: calicoFlags(3)},
			{src: "felix/bpf-gpl/xdp.c", out: "xdp.o", flags: calicoFlags(67)},
			{src: "felix/bpf-gpl/tc_preamble.c", flags: calicoFlags(-1)},
			{src: "felix/bpf-gpl/xdp_preamble.c", flags: calicoFlags(64)},
			{src: "felix/bpf-gpl/policy_default.c", flags: calicoFlags(-1)},
		},
		prepare: calicoLoad,
		n:       2,
	},
	{
		// The AWS VPC CNI's network policy agent: tc programs that
		// enforce Kubernetes network policies per pod, with a conntrack
		// LRU and policy verdict events in a ring buffer. (v1.5.0 wants
		// a newer Go than CI's to be downloaded.)
		module:   "github.com/aws/aws-network-policy-agent@v1.4.3",
		vmlinuxH: true,
		builds: []cBuild{
			{src: "pkg/ebpf/c/tc.v4ingress.bpf.c", flags: awsFlags},
			{src: "pkg/ebpf/c/tc.v4egress.bpf.c", flags: awsFlags},
			{src: "pkg/ebpf/c/tc.v6ingress.bpf.c", flags: awsFlags},
			{src: "pkg/ebpf/c/tc.v6egress.bpf.c", flags: awsFlags},
			{src: "pkg/ebpf/c/v4events.bpf.c", flags: awsFlags},
			{src: "pkg/ebpf/c/v6events.bpf.c", flags: awsFlags},
		},
		prepare:     awsLoad,
		maps:        awsPolicies,
		clockFields: awsLastSeen,
	},
	{
		// cilium/ebpf's examples: objects bpf2go generated, which the
		// module ships.
		module:  "github.com/cilium/ebpf@v0.22.0",
		shipped: []string{"examples/*/bpf_bpfel.o", "cmd/bpf2go/test/test_bpfel.o"},
	},
	{
		// gVisor ships the XDP programs runsc and its xdp tool attach.
		module:  "gvisor.dev/gvisor@v0.0.0-20260905035102-160fafc42237",
		shipped: []string{"runsc/sandbox/bpf/*_ebpf.o", "tools/xdp/cmd/bpf/*_ebpf.o"},
	},
	{
		// Tailscale's DERP servers answer STUN in XDP.
		module:  "tailscale.com@v1.100.0",
		shipped: []string{"derp/xdp/bpf_bpfel.o"},
		frames:  stunFrames,
		maps:    stunConfig,
	},
}

// TestKernelDifferentialGoModules runs the programs of goModProjects in
// bpfscope and in the kernel, as TestKernelDifferentialThirdParty does for
// the objects Debian ships. It needs the Go module proxy (or a module cache
// that already holds the modules) and, for sources, clang-19; without them
// it skips.
func TestKernelDifferentialGoModules(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	if testing.Short() {
		t.Skip("downloads modules and compiles their programs")
	}
	t.Parallel() // mostly the kernel's verifier and clang: overlaps the other long tests
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	corpus := pktgen.Corpus(*diffSeed, len(pktgen.Kinds)+9)
	for _, p := range goModProjects {
		t.Run(p.module, func(t *testing.T) {
			dir := goModuleDir(t, p.module)
			objs := p.objects(t, dir)
			ran := 0
			for _, obj := range objs {
				spec, err := ebpf.LoadCollectionSpec(obj)
				if err != nil {
					t.Errorf("%s: %v", obj, err)
					continue
				}
				if p.prepare != nil {
					if err := p.prepare(spec, obj); err != nil {
						t.Errorf("%s: %v", obj, err)
						continue
					}
				}
				for _, name := range slices.Sorted(maps.Keys(spec.Programs)) {
					if p.programs != nil && !p.programs(spec.Programs[name]) {
						continue
					}
					rel, _ := filepath.Rel(dir, obj)
					if !strings.HasPrefix(obj, dir) {
						rel = filepath.Base(obj)
					}
					t.Run(rel+"/"+name, func(t *testing.T) {
						frames := corpus
						if p.n > 0 {
							frames = spread(corpus, p.n)
						}
						if p.frames != nil {
							frames = append(slices.Clip(frames), p.frames()...)
						}
						if why := differentialWith(t, obj, name, spec, cpus, diffOptions{frames: frames, maps: p.maps, clockFields: p.clockFields}); why != "" {
							t.Skip(why)
						}
						ran++
					})
				}
			}
			if ran == 0 {
				t.Errorf("none of the programs of %s could run", p.module)
			}
		})
	}
}

// goModuleDir downloads module@version into the module cache (a no-op when
// it is there) and returns its directory, or skips the test.
func goModuleDir(t *testing.T, module string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to download %s: %v", module, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", module)
	cmd.Dir = t.TempDir() // outside any module: nothing touches go.mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Dir == "" {
		t.Skipf("cannot download %s (no module proxy?): %v %s %s", module, err, info.Error, stderr.String())
	}
	return info.Dir
}

// objects lists the shipped objects and compiles the sources of p.
func (p goModProject) objects(t *testing.T, dir string) []string {
	var objs []string
	for _, g := range p.shipped {
		m, _ := filepath.Glob(filepath.Join(dir, g))
		objs = append(objs, m...)
	}
	if len(p.builds) > 0 {
		clang, err := exec.LookPath("clang-19")
		if err != nil {
			t.Skipf("no clang-19 to compile %s: %v", p.module, err)
		}
		tmp := t.TempDir()
		var include []string
		if p.vmlinuxH {
			h, err := exec.Command("bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c").Output()
			if err != nil {
				t.Skipf("no vmlinux.h for %s (bpftool, kernel BTF): %v", p.module, err)
			}
			if err := os.WriteFile(filepath.Join(tmp, "vmlinux.h"), h, 0o644); err != nil {
				t.Fatal(err)
			}
			include = []string{"-I", tmp}
		}
		for _, b := range p.builds {
			out := b.out
			if out == "" {
				out = strings.TrimSuffix(filepath.Base(b.src), ".c") + ".o"
			}
			out = filepath.Join(tmp, out)
			args := append([]string{"-O2", "-g", "--target=bpf", "-c"}, include...)
			args = append(args, b.flags...)
			args = append(args, filepath.Join(dir, b.src), "-o", out)
			cmd := exec.Command(clang, args...)
			cmd.Dir = dir
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("compile %s: %v\n%s", b.src, err, firstLines(msg, 20))
				continue
			}
			objs = append(objs, out)
		}
	}
	if len(objs) == 0 {
		t.Fatalf("no objects in %s (the module's layout changed?)", dir)
	}
	return objs
}

// calicoFlags are those of felix/bpf-gpl/Makefile and calculate-flags
// for a program compiled with CALI_COMPILE_FLAGS=flags (-1: none), logging
// off, FIB lookups on, CO-RE.
func calicoFlags(flags int) []string {
	f := []string{
		"-Wall", "-fno-stack-protector",
		"-I", "felix/bpf-gpl/include/libbpf/src", "-I", "felix/bpf-gpl/include/libbpf/include/uapi",
		"-I", "/usr/include/x86_64-linux-gnu", "-D__TARGET_ARCH_x86", "-D__x86_64__",
		"-DBPF_CORE_SUPPORTED", "-DCALI_LOG_LEVEL=CALI_LOG_LEVEL_OFF",
		"-DCALI_DROP_WORKLOAD_TO_HOST=false", "-DCALI_FIB_LOOKUP_ENABLED=true",
	}
	if flags >= 0 {
		f = append(f, fmt.Sprintf("-DCALI_COMPILE_FLAGS=%d", flags))
	}
	return f
}

// calicoLoad sizes the hash tables and the policy jump table down, as
// felix does from its configuration (the defaults preallocate 512 Ki
// conntrack entries, and the 240,000 slots of cali_jump3 take half a
// million syscalls to read back after each run).
func calicoLoad(spec *ebpf.CollectionSpec, _ string) error {
	for _, ms := range spec.Maps {
		switch ms.Type {
		case ebpf.Hash, ebpf.LRUHash, ebpf.LRUCPUHash, ebpf.PerCPUHash, ebpf.LPMTrie, ebpf.ProgramArray:
			ms.MaxEntries = min(ms.MaxEntries, 1024)
		}
	}
	return nil
}

// awsFlags are those of the agent's Makefile.
var awsFlags = []string{"-Wall", "-fpie", "-DCORE", "-D__BPF_TRACING__", "-D__TARGET_ARCH_x86"}

// awsPolicies writes what the agent writes for a pod: its network policy
// and cluster policy states (pod_state_map keys 0 and 1: policies applied,
// default allow or default deny) and, keyed by the frame's peer address
// (the source for ingress, the destination for egress) or a prefix of it,
// a network policy rule and a cluster policy rule: a protocol (the frame's
// or any) and a port (the frame's destination port, a range around it, or
// any), with the cluster rule's priority across the tiers' limits.
func awsPolicies(rng *rand.Rand, frame []byte) map[string][]kernel.KV {
	const anyProto, anyPort = 254, 0
	var peerIn, peerOut []byte // source and destination address
	var proto byte
	var dport uint16
	switch {
	case len(frame) >= 38 && frame[12] == 0x08 && frame[13] == 0x00:
		peerIn, peerOut, proto = frame[26:30], frame[30:34], frame[23]
		if ihl := int(frame[14]&0xf) * 4; len(frame) >= 14+ihl+4 {
			dport = binary.BigEndian.Uint16(frame[14+ihl+2:])
		}
	case len(frame) >= 58 && frame[12] == 0x86 && frame[13] == 0xdd:
		peerIn, peerOut, proto = frame[22:38], frame[38:54], frame[20]
		dport = binary.BigEndian.Uint16(frame[56:])
	default:
		return nil
	}
	u32 := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		return b
	}
	key := func(addr []byte) []byte {
		plen := []uint32{uint32(len(addr) * 8), uint32(len(addr) * 8), 24, 0}[rng.IntN(4)]
		return append(u32(plen), addr...)
	}
	rule := func(cluster bool) []byte {
		p := []uint32{uint32(proto), uint32(proto), anyProto, 17}[rng.IntN(4)]
		start := []uint32{uint32(dport), anyPort, uint32(dport) - 1, 443}[rng.IntN(4)]
		end := []uint32{0, uint32(dport) + 1, 0xffff}[rng.IntN(3)]
		var v []byte
		if cluster {
			prio := []uint32{0, 500, 1000, 2000, 65535}[rng.IntN(5)]
			v = u32(p, prio, start, end)
			return append(v, make([]byte, 16*23)...) // 24 rules of 16 bytes
		}
		v = u32(p, start, end)
		return append(v, make([]byte, 12*23)...) // 24 rules of 12 bytes
	}
	state := func() []byte { return []byte{byte(rng.IntN(3))} }
	states := []kernel.KV{{Key: u32(0), Value: state()}, {Key: u32(1), Value: state()}}
	return map[string][]kernel.KV{
		"ingress_pod_state_map": states,
		"egress_pod_state_map":  states,
		"ingress_map":           {{Key: key(peerIn), Value: rule(false)}},
		"egress_map":            {{Key: key(peerOut), Value: rule(false)}},
		"cp_ingress_map":        {{Key: key(peerIn), Value: rule(true)}},
		"cp_egress_map":         {{Key: key(peerOut), Value: rule(true)}},
	}
}

// awsLastSeen clears the conntrack entries' last_seen (bpf_ktime_get_ns
// when the datapath last saw the flow) where it lies in the run: the
// kernel's reading and bpfscope's (its clock starts where the kernel's
// was, 1 µs a reading) cannot be the same nanosecond.
func awsLastSeen(mapName string, value []byte, clock [2]uint64) {
	if mapName != "aws_conntrack_map" || len(value) != 16 {
		return
	}
	if t := binary.LittleEndian.Uint64(value[8:]); t >= clock[0] && t <= clock[1]+uint64(time.Millisecond) {
		clear(value[8:])
	}
}

// awsLoad does what the agent's loader (aws-ebpf-sdk-go) does: the tc
// programs declare the conntrack map and the event ring buffer as plain
// globals (struct bpf_map_def_pvt aws_conntrack_map;), which the loader
// binds to the maps v4events.o or v6events.o defines. The LRU is sized
// down from 512 Ki entries, as a node's agent may configure it.
func awsLoad(spec *ebpf.CollectionSpec, obj string) error {
	if len(spec.Programs) == 0 {
		return nil
	}
	events := "v4events.bpf.o"
	if strings.Contains(filepath.Base(obj), "v6") {
		events = "v6events.bpf.o"
	}
	ev, err := ebpf.LoadCollectionSpec(filepath.Join(filepath.Dir(obj), events))
	if err != nil {
		return err
	}
	for _, ms := range spec.Maps {
		ms.Extra = nil // the pinning field of bpf_map_def_pvt: the SDK's, not the kernel's
	}
	bss := map[uint32]string{} // offset in .bss -> map
	for _, v := range spec.Variables {
		if v.SectionName == ".bss" && ev.Maps[v.Name] != nil {
			bss[uint32(v.Offset)] = v.Name
			ms := ev.Maps[v.Name].Copy()
			ms.Extra = nil
			if ms.Type == ebpf.LRUHash {
				ms.MaxEntries = 1024
			}
			spec.Maps[v.Name] = ms
		}
	}
	for _, ps := range spec.Programs {
		for i := range ps.Instructions {
			ins := &ps.Instructions[i]
			if ins.Reference() != ".bss" || !ins.IsLoadFromMap() {
				continue
			}
			name, ok := bss[uint32(uint64(ins.Constant)>>32)]
			if !ok {
				continue
			}
			ins.Src = asm.PseudoMapFD
			ins.Constant = 0
			*ins = ins.WithReference(name)
		}
	}
	return nil
}

// ciliumLoad does what the Cilium agent does to an object before loading
// it: it sizes the hash tables and the policy program arrays (from its
// configuration; here 1024 entries, which keeps the test quick: the
// defaults preallocate half a million LRU entries per load, and reading
// back two 64 Ki-slot program arrays takes 262,144 syscalls) and fills
// cilium_calls, a program tagged btf_decl_tag("tail:cilium_calls/N") going
// into slot N.
func ciliumLoad(spec *ebpf.CollectionSpec, _ string) error {
	for _, ms := range spec.Maps {
		switch ms.Type {
		case ebpf.Hash, ebpf.LRUHash, ebpf.LRUCPUHash, ebpf.PerCPUHash, ebpf.LPMTrie, ebpf.ProgramArray:
			ms.MaxEntries = min(ms.MaxEntries, 1024)
		}
	}
	for name, ps := range spec.Programs {
		fn := btf.FuncMetadata(&ps.Instructions[0])
		if fn == nil {
			continue
		}
		for _, tag := range fn.Tags {
			rest, ok := strings.CutPrefix(tag, "tail:")
			if !ok {
				continue
			}
			mapName, slot, ok := strings.Cut(rest, "/")
			n, err := strconv.ParseUint(slot, 0, 32)
			ms := spec.Maps[mapName]
			if !ok || err != nil || ms == nil {
				return fmt.Errorf("program %s: bad tail call tag %q", name, tag)
			}
			ms.Contents = append(ms.Contents, ebpf.MapKV{Key: uint32(n), Value: name})
		}
	}
	return nil
}

func init() {
	// Calico's XDP preamble exits early on a frame whose linear part is
	// shorter than an Ethernet header with bpf_exit(XDP_DROP), inline
	// assembly whose input clang-19 does not materialize: r0 still holds
	// the map value pointer of state_get_globals_xdp, and the kernel
	// (root may leak pointers) returns its low 32 bits, an address of
	// the kernel's; bpfscope returns the address in its own space.
	knownDifferences["xdp_preamble.o/cali_xdp_preamble"] = "address: the program returns a map value pointer (calico's bpf_exit asm under clang-19)"
}

// stunPort is the STUN port the DERP server's config_map names.
const stunPort = 3478

// stunConfig is the DERP server's configuration: the STUN port, and
// sometimes drop_stun (shedding load during maintenance).
func stunConfig(rng *rand.Rand, _ []byte) map[string][]kernel.KV {
	v := binary.LittleEndian.AppendUint16(nil, stunPort)
	v = binary.LittleEndian.AppendUint16(v, uint16(rng.IntN(4)/3))
	return map[string][]kernel.KV{"config_map": {{Key: make([]byte, 4), Value: v}}}
}

// stunFrames are STUN binding requests over IPv4 and IPv6 as Tailscale's
// clients send them (a SOFTWARE attribute of 8 bytes first), one with a
// bad UDP checksum, one with an unexpected first attribute and one to
// another port.
func stunFrames() []pktgen.Frame {
	req := func(attr uint16) []byte {
		b := binary.BigEndian.AppendUint16(nil, 0x0001) // binding request
		b = binary.BigEndian.AppendUint16(b, 12)
		b = binary.BigEndian.AppendUint32(b, 0x2112a442)
		b = append(b, "txid-0123456"...)
		b = binary.BigEndian.AppendUint16(b, attr)
		b = binary.BigEndian.AppendUint16(b, 8)
		return append(b, "tailnode"...)
	}
	build := func(v6 bool, dport uint16, payload []byte) []byte {
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		udp := &layers.UDP{SrcPort: 41641, DstPort: layers.UDPPort(dport)}
		var ip gopacket.SerializableLayer
		if v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: kernel.IPv6A.AsSlice(), DstIP: kernel.IPv6B.AsSlice()}
			udp.SetNetworkLayerForChecksum(ip6)
			ip = ip6
		} else {
			ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: kernel.IPv4A.AsSlice(), DstIP: kernel.IPv4B.AsSlice()}
			udp.SetNetworkLayerForChecksum(ip4)
			ip = ip4
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
			panic(err)
		}
		return buf.Bytes()
	}
	bad := build(false, stunPort, req(0x8022))
	bad[len(bad)-1] ^= 1 // the UDP checksum no longer holds
	return []pktgen.Frame{
		{Name: "stun4", Data: build(false, stunPort, req(0x8022))},
		{Name: "stun6", Data: build(true, stunPort, req(0x8022))},
		{Name: "stun4-bad-csum", Data: bad},
		{Name: "stun4-other-attr", Data: build(false, stunPort, req(0x0006))},
		{Name: "stun6-other-port", Data: build(true, stunPort+1, req(0x8022))},
	}
}
