package testrun

import (
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// ciliumSuites are test files of Cilium's own datapath tests (bpf/tests in
// the cilium module), each a whole datapath program (bpf_lxc.c,
// bpf_host.c, bpf_xdp.c, or a part of it) with packet generator, setup and
// check programs per test. The setup programs fill the maps (services,
// backends, endpoints, policies, conntrack) and tail-call into the
// datapath, so these runs take the paths Cilium's developers meant to test,
// on packets they built: load balancing with DNAT and SNAT, IPv6
// extension headers and fragments, policy drops, session affinity,
// multicast, conntrack. Chosen to compile in a few seconds each.
var ciliumSuites = []string{
	"conntrack_test", "ipfrag", "ipv6_test", "lb_tests", "mcast_tests", "network_policy",
	"session_affinity_test", "tc_lxc_policy_drop", "xdp_nodeport_lb4_nat_lb",
	"tc_nodeport_lb6_nat_lb", "tc_srv6_encap", "xdp_nodeport_lb_dsr_lb",
}

// ciliumSuiteFlags are the agent's (pkg/datapath/loader StandardCFlags, less
// -Werror) plus those of bpf/tests/Makefile.
var ciliumSuiteFlags = []string{
	"-std=gnu99", "-nostdinc", "-ftrap-function=__undefined_trap", "-Wall",
	"-Wno-address-of-packed-member", "-Wno-unknown-warning-option",
	"-Wno-gnu-variable-sized-type-not-at-end", "-mcpu=v3", "-I", "bpf", "-I", "bpf/include",
}

// ciliumTestProg matches the section names of the tests' programs, as
// Cilium's runner (bpf/tests/bpftest) does.
var ciliumTestProg = regexp.MustCompile(`[^/]+/test/([^/]+)/((?:check)|(?:setup)|(?:pktgen))`)

// TestKernelDifferentialCiliumSuites runs Cilium's datapath tests as their
// runner does, in the kernel and in bpfscope side by side: one collection
// per file whose maps carry over from test to test (in alphabetical order)
// and from step to step; per test the packet generator on 3520 zero bytes
// (and, for tc, a zeroed 256-byte __sk_buff), the setup program on the
// generated packet, the check program on the setup's status and packet.
// Every step compares retval, data_out, ctx_out, every map and the perf
// records; the next step takes the kernel's outputs, so a difference is
// reported where it arises.
func TestKernelDifferentialCiliumSuites(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	if testing.Short() {
		t.Skip("downloads cilium and compiles its tests")
	}
	t.Parallel() // mostly clang: overlaps the other long tests
	clang, err := exec.LookPath("clang-19")
	if err != nil {
		t.Skipf("no clang-19: %v", err)
	}
	dir := goModuleDir(t, "github.com/cilium/cilium@v1.20.2")
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	objs := compileParallel(t, clang, dir, ciliumSuites)
	var tests, runs int
	for _, suite := range ciliumSuites {
		t.Run(suite, func(t *testing.T) {
			obj := objs[suite]
			if obj == "" {
				t.Skip("did not compile")
			}
			n, r := runCiliumSuite(t, obj, cpus)
			tests, runs = tests+n, runs+r
		})
	}
	t.Logf("%d tests of %d files, %d program runs on both sides", tests, len(ciliumSuites), runs)
}

// compileParallel compiles bpf/tests/NAME.c for each name, two at a time
// (each takes seconds), into a temporary directory.
func compileParallel(t *testing.T, clang, dir string, names []string) map[string]string {
	tmp := t.TempDir()
	objs := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out := filepath.Join(tmp, name+".o")
			args := append([]string{"-O2", "-g", "--target=bpf", "-c"}, ciliumSuiteFlags...)
			cmd := exec.Command(clang, append(args, filepath.Join("bpf/tests", name+".c"), "-o", out)...)
			cmd.Dir = dir
			msg, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("compile %s: %v\n%s", name, err, firstLines(msg, 20))
				return
			}
			objs[name] = out
		})
	}
	wg.Wait()
	return objs
}

type ciliumTest struct{ pktgen, setup, check string }

// suiteEnv answers FIB lookups and flow hashes as the kernel does.
type suiteEnv struct {
	*helpers.DefaultEnv
	*kernelFib
	*kernelSkb
}

// ciliumTestPass is what a check program returns when its test passed
// (bpf/tests/bpftest/trf.proto).
const ciliumTestPass = 101

// runCiliumSuite runs the tests of one file; it returns how many tests and
// program runs there were.
func runCiliumSuite(t *testing.T, obj string, cpus int) (tests, runs int) {
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		t.Fatal(err)
	}
	for n, ps := range spec.Programs { // as bpftest: only what test_run runs
		if ps.Type != ebpf.XDP && ps.Type != ebpf.SchedCLS && ps.Type != ebpf.SchedACT {
			delete(spec.Programs, n)
		}
	}
	if err := ciliumLoad(spec, obj); err != nil {
		t.Fatal(err)
	}
	byName := map[string]*ciliumTest{}
	for n, ps := range spec.Programs {
		m := ciliumTestProg.FindStringSubmatch(ps.SectionName)
		if m == nil {
			continue
		}
		ct := byName[m[1]]
		if ct == nil {
			ct = &ciliumTest{}
			byName[m[1]] = ct
		}
		switch m[2] {
		case "pktgen":
			ct.pktgen = n
		case "setup":
			ct.setup = n
		case "check":
			ct.check = n
		}
	}
	if len(byName) == 0 {
		t.Fatalf("%s: no tests", obj)
	}

	kc, err := kernel.Load(obj, spec.Copy())
	if err != nil {
		t.Fatalf("kernel: %v", err)
	}
	defer kc.Close()
	c, err := loader.FromSpec(spec.Copy(), loader.Options{PossibleCPUs: cpus})
	if err != nil {
		t.Fatalf("bpfscope: %v", err)
	}
	for _, mp := range c.Maps { // the oracle's perf readers fill every CPU's slot
		if pa, ok := mp.(*bpfmaps.PerfEventArrayMap); ok {
			pa.SetRingSize(os.Getpagesize())
			for cpu := range min(cpus, int(pa.Spec().MaxEntries)) {
				k := binary.LittleEndian.AppendUint32(nil, uint32(cpu))
				if err := pa.Put(k, k, bpfmaps.UpdateAny); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	fib, skb := &kernelFib{t: t}, &kernelSkb{t: t}

	for _, name := range slices.Sorted(maps.Keys(byName)) {
		ct := byName[name]
		tests++
		t.Run(name, func(t *testing.T) {
			if ct.check == "" {
				t.Fatal("no check program")
			}
			typ := spec.Programs[ct.check].Type
			data := make([]byte, 4096-256-320)
			var ctx []byte
			if typ != ebpf.XDP {
				ctx = make([]byte, 256) // bpftest's: larger than __sk_buff, zero tail
			}
			for _, step := range []string{ct.pktgen, ct.setup, ct.check} {
				if step == "" {
					continue
				}
				in := kernel.Input{Data: data, Ctx: ctx}
				want, err := kc.Run(step, in) // on CPU 0, as bpfscope's runs
				runs++
				if err != nil {
					t.Fatalf("%s: kernel: %v", step, err)
				}
				ctxIn := ctx
				if typ == ebpf.XDP {
					ctxIn = kernel.Marshal(kernel.XDPMd{DataEnd: uint32(len(data))}) // what the oracle passes
				}
				env := suiteEnv{helpers.NewDefaultEnv(), fib, skb}
				env.DefaultEnv.Start = want.Clock[0]
				got, err := RunProgram(c, step, vm.Config{Helpers: helpers.New(env)},
					Options{Data: data, Ctx: ctxIn, WantCtxOut: true})
				if got == nil {
					got = &Result{}
				}
				if diffs := resultDiffs(want, got, dumpMaps(c), drainEvents(c), err, spec.Maps); len(diffs) > 0 {
					report := fmt.Sprintf("%s (data %s, ctx %x):\n%s", step, short(data), ctx, strings.Join(diffs, "\n"))
					if why, ok := ciliumSuiteDifferences[filepath.Base(obj)+"/"+name]; ok {
						t.Logf("known difference (%s):\n%s", why, report)
					} else {
						t.Error(report)
					}
					// Go on from the kernel's maps, so that the next
					// steps and tests report their own differences.
					if err := syncMaps(c, want.Maps, cpus); err != nil {
						t.Fatal(err)
					}
				}
				if want.Err != nil {
					t.Fatalf("%s failed in both: %v", step, want.Err)
				}
				// The next step takes the kernel's outputs, as bpftest
				// passes them on.
				data, ctx = want.DataOut, want.CtxOut
				if typ == ebpf.XDP {
					ctx = nil
				}
				if step == ct.check && want.Retval != ciliumTestPass {
					t.Logf("the kernel's run of the check says %d, not PASS (%d)", want.Retval, ciliumTestPass)
				}
				if step == ct.setup {
					data = append(binary.NativeEndian.AppendUint32(nil, want.Retval), data...)
				}
			}
		})
	}
	return tests, runs
}

// ciliumSuiteDifferences are tests where bpfscope differs from the kernel
// for a reason outside its control, by object/test name. Their
// differences are logged, and the next steps go on from the kernel's maps.
var ciliumSuiteDifferences = map[string]string{
	"xdp_nodeport_lb4_nat_lb.o/xdp_nodeport_l7delegate_remote":      ciliumSNATPort,
	"tc_nodeport_lb6_nat_lb.o/tc_nodeport_nat_fwd":                  ciliumSNATPort,
	"tc_nodeport_lb6_nat_lb.o/tc_nodeport_nat_fwd_original_renated": ciliumSNATPort,
}

const ciliumSNATPort = "random: SNAT picks the new source port with bpf_get_prandom_u32"

// syncMaps makes bpfscope's maps hold what the kernel's do (as the oracle
// dumped them). Program arrays, maps of maps, queues and stacks, device
// and CPU maps and read-only maps are left alone: no program changes them.
func syncMaps(c *loader.Collection, want map[string][]kernel.KV, cpus int) error {
	for name, kvs := range want {
		mp := c.Maps[name]
		if mp == nil || mp.ReadOnly() {
			continue
		}
		switch mp.Type() {
		case bpfmaps.ProgramArray, bpfmaps.ArrayOfMaps, bpfmaps.HashOfMaps, bpfmaps.Queue, bpfmaps.Stack,
			bpfmaps.DevMap, bpfmaps.DevMapHash, bpfmaps.CPUMap:
			continue
		case bpfmaps.Array, bpfmaps.PerCPUArray:
		default:
			for _, k := range slices.Collect(mp.Keys()) {
				if err := mp.Delete(k); err != nil {
					return fmt.Errorf("sync %s: delete %x: %w", name, k, err)
				}
			}
		}
		for _, kv := range kvs {
			v := perCPUValue(mp, kv.Value, cpus)
			if kv.PerCPU != nil { // one value per CPU, each at its stride
				v = make([]byte, mp.UserValueSize())
				for cpu, pv := range kv.PerCPU {
					copy(v[cpu*len(v)/len(kv.PerCPU):], pv)
				}
			}
			if err := mp.Put(kv.Key, v, bpfmaps.UpdateAny); err != nil {
				return fmt.Errorf("sync %s: put %x: %w", name, kv.Key, err)
			}
		}
	}
	return nil
}
