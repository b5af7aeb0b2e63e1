package testrun

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/internal/pktgen"
	"github.com/cilium/ebpf"
)

// A project is a public project nobody here wrote whose BPF programs
// Debian ships, as objects, embedded in its executables (libbpf skeletons:
// the object is a byte array in the binary) or as sources compiled here.
// Nothing of theirs is in this repository: the test takes what the
// installed packages hold (.ci/run installs them) and skips a project whose
// packages are missing. docs/third-party.md lists the programs and results.
type project struct {
	name     string
	packages string // the Debian packages that ship the programs
	// objects returns the project's object files, written into dir where
	// they have to be extracted or built, or why there are none.
	objects func(t *testing.T, dir string) ([]string, string)
	// types are program types the project's loader sets itself
	// (bpf_program__set_type) rather than leaving to the section name.
	types map[string]ebpf.ProgramType
	// inputs is how many generated frames each program runs on (the map
	// tables of some projects take long to fill and dump).
	inputs int
}

var thirdPartyProjects = []project{
	{
		name:     "xdp-tools",
		packages: "libxdp1 xdp-tests xdp-tools",
		objects: func(t *testing.T, dir string) ([]string, string) {
			objs := globs("/usr/lib/x86_64-linux-gnu/bpf/*.o", "/usr/libexec/xdp-tools/*.o")
			emb, why := embeddedObjects(t, dir, globs("/usr/sbin/xdp-bench", "/usr/sbin/xdp-trafficgen",
				"/usr/sbin/xdp-monitor", "/usr/sbin/xdp-filter", "/usr/sbin/xdp-loader")...)
			if len(objs)+len(emb) == 0 {
				return nil, why
			}
			return dedupe(t, append(objs, emb...)), ""
		},
		inputs: 10, // xdp-filter's 64 Ki-entry port tables make runs slow
	},
	{
		name:     "Knot DNS",
		packages: "libknot13",
		objects: func(t *testing.T, dir string) ([]string, string) {
			return embeddedObjects(t, dir, globs("/usr/lib/x86_64-linux-gnu/libknot.so.*.*")...)
		},
	},
	{
		name:     "QEMU",
		packages: "qemu-system-x86",
		objects: func(t *testing.T, dir string) ([]string, string) {
			return embeddedObjects(t, dir, globs("/usr/bin/qemu-system-x86_64")...)
		},
		// ebpf/ebpf_rss.c loads its RSS steering program as a socket
		// filter that tun(4) runs (TUNSETSTEERINGEBPF).
		types:  map[string]ebpf.ProgramType{"tun_rss_steering_prog": ebpf.SocketFilter},
		inputs: 24,
	},
	{
		name:     "BCC libbpf-tools",
		packages: "libbpf-tools",
		objects: func(t *testing.T, dir string) ([]string, string) {
			// The tools with raw_tp programs, the tracing type a test
			// run can run.
			return embeddedObjects(t, dir, globs("/usr/sbin/runqlat", "/usr/sbin/runqslower", "/usr/sbin/biolatency",
				"/usr/sbin/cpudist", "/usr/sbin/hardirqs", "/usr/sbin/softirqs")...)
		},
		inputs: 12, // frames do not matter to raw_tp programs: arguments and maps do
	},
	{
		name:     "Linux",
		packages: "linux-source-6.12 bpftool clang-19 python3",
		objects:  linuxSelftests,
		// The selftests load these sections with the type set in the
		// test (bpf_program__set_type, or tc and ip naming the section).
		types: map[string]ebpf.ProgramType{
			"tc_prog": ebpf.SchedCLS, "ing_cls": ebpf.SchedCLS, "ing_xdp": ebpf.XDP,
			"bpf_lwt_encap_gre": ebpf.LWTXmit, "bpf_lwt_encap_gre6": ebpf.LWTXmit,
			"xdp_redirect_to_111": ebpf.XDP, "xdp_redirect_to_222": ebpf.XDP,
		},
		inputs: 16, // Katran, cls_redirect and the SYN proxy take seconds per input
	},
}

// TestKernelDifferentialThirdParty runs every test-runnable program of
// the third-party projects in bpfscope and in the kernel on the same
// inputs: the canonical packet, then generated frames (package pktgen:
// tags, tunnels, IPv6 extension headers, jumbo and cut frames) with random
// map contents keyed from each frame's addresses and ports, comparing
// retval, data_out, ctx_out, every map and perf and ring buffer records.
func TestKernelDifferentialThirdParty(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	corpus := pktgen.Corpus(*diffSeed, len(pktgen.Kinds)+9)
	for _, p := range thirdPartyProjects {
		t.Run(p.name, func(t *testing.T) {
			// Projects run side by side: the selftests' extraction and
			// compilation overlap the other projects' runs.
			t.Parallel()
			objs, why := p.objects(t, t.TempDir())
			if len(objs) == 0 {
				t.Skipf("no programs (%s): apt-get install %s", why, p.packages)
			}
			frames := corpus
			if p.inputs > 0 {
				frames = spread(corpus, p.inputs)
			}
			ran := 0
			for _, obj := range objs {
				spec, err := ebpf.LoadCollectionSpec(obj)
				if err != nil {
					t.Errorf("%s: %v", obj, err)
					continue
				}
				for _, name := range slices.Sorted(maps.Keys(spec.Programs)) {
					t.Run(filepath.Base(obj)+"/"+name, func(t *testing.T) {
						o := diffOptions{frames: frames, types: p.types}
						if why := differentialWith(t, obj, name, spec, cpus, o); why != "" {
							t.Skip(why)
						}
						ran++
					})
				}
			}
			if ran == 0 {
				t.Errorf("none of the %d objects' programs could run", len(objs))
			}
		})
	}
}

// spread picks n frames evenly from all.
func spread(all []pktgen.Frame, n int) []pktgen.Frame {
	if n >= len(all) {
		return all
	}
	out := make([]pktgen.Frame, n)
	for i := range out {
		out[i] = all[i*len(all)/n]
	}
	return out
}

func globs(patterns ...string) []string {
	var out []string
	for _, g := range patterns {
		m, _ := filepath.Glob(g)
		out = append(out, m...)
	}
	return out
}

// dedupe drops objects whose bytes another one has (libxdp's dispatcher
// is in every xdp-tools binary).
func dedupe(t *testing.T, objs []string) []string {
	seen := map[[32]byte]bool{}
	var out []string
	for _, o := range objs {
		b, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if !seen[h] {
			seen[h] = true
			out = append(out, o)
		}
	}
	return out
}

// embeddedObjects writes the BPF objects embedded in the files into dir
// as <file>.<n>.o, each once.
func embeddedObjects(t *testing.T, dir string, files ...string) ([]string, string) {
	if len(files) == 0 {
		return nil, "not installed"
	}
	seen := map[[32]byte]bool{}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range EmbeddedBPF(b) {
			h := sha256.Sum256(o)
			if seen[h] {
				continue
			}
			seen[h] = true
			path := filepath.Join(dir, fmt.Sprintf("%s.%d.o", filepath.Base(f), i))
			if err := os.WriteFile(path, o, 0o644); err != nil {
				t.Fatal(err)
			}
			out = append(out, path)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Sprintf("no BPF objects embedded in %s", strings.Join(files, ", "))
	}
	return out, ""
}

// EmbeddedBPF finds the BPF ELF objects embedded in b (a libbpf skeleton
// keeps its object as a byte array in the executable): 64-bit
// little-endian ELF headers with e_machine EM_BPF, each as long as its
// furthest section or section header table reaches.
func EmbeddedBPF(b []byte) [][]byte {
	var out [][]byte
	magic := []byte("\x7fELF\x02\x01\x01")
	for i := 0; ; i++ {
		j := bytes.Index(b[i:], magic)
		if j < 0 {
			return out
		}
		i += j
		f, err := elf.NewFile(bytes.NewReader(b[i:]))
		if err != nil || f.Machine != elf.EM_BPF {
			continue
		}
		end := uint64(0)
		for _, s := range f.Sections {
			if s.Type != elf.SHT_NOBITS {
				end = max(end, s.Offset+s.FileSize)
			}
		}
		// The section header table: e_shoff, e_shentsize, e_shnum.
		shoff := leU64(b[i+40:])
		shsize := uint64(leU16(b[i+58:])) * uint64(leU16(b[i+60:]))
		end = max(end, shoff+shsize)
		if end > uint64(len(b)-i) {
			continue
		}
		out = append(out, bytes.Clone(b[i:i+int(end)]))
		i += int(end) - 1
	}
}

func leU16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func leU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// linuxPrograms are the kernel's BPF selftests (tools/testing/selftests/
// bpf/progs) of test-runnable types the differential test compiles: XDP
// and tc load balancers (test_xdp_noinline and test_l4lb are Katran's
// balancer), tunnel encapsulation (test_xdp, test_cls_redirect,
// test_lwt_ip_encap), a SYN proxy, VLAN rewriting, tail adjustments over
// fragments, ICMP echo (xdping), the flow dissector with tail calls
// (bpf_flow), a firewall (xdpwall), TCP option parsing, MTU checks,
// neighbour redirects, EDT pacing and seg6. Left out: test_sk_lookup
// (sockmaps, which package maps lacks), xdp_flowtable (its kfunc needs
// the nf_flowtable module), test_l4lb_noinline (test_l4lb with calls).
var linuxPrograms = []string{
	"test_xdp", "test_xdp_noinline", "test_l4lb", "xdp_synproxy_kern",
	"test_xdp_vlan", "test_xdp_adjust_tail_grow", "test_xdp_adjust_tail_shrink", "test_xdp_update_frags",
	"xdping_kern", "xdpwall", "test_xdp_loop", "xdp_tx", "test_xdp_dynptr", "test_cls_redirect",
	"test_cls_redirect_subprogs", "test_pkt_access", "test_skb_ctx", "test_tc_neigh", "test_tc_edt",
	"bpf_flow", "test_check_mtu", "test_parse_tcp_hdr_opt", "test_lwt_ip_encap", "test_seg6_loop",
	"test_xdp_meta", "test_xdp_context_test_run", "test_pkt_md_access", "test_xdp_redirect",
	"xdp_redirect_map", "test_queue_map", "test_tcp_check_syncookie_kern", "decap_sanity",
	"test_skb_helpers", "test_xdp_do_redirect",
}

const linuxSource = "/usr/src/linux-source-6.12.tar.xz"

// linuxSelftests extracts the selftests above from Debian's kernel source
// and compiles them with clang-19 against the source's libbpf headers and
// the running kernel's BTF as vmlinux.h, as the selftests' Makefile does.
// A program that does not build here is left out, named in the log.
func linuxSelftests(t *testing.T, dir string) ([]string, string) {
	for _, tool := range []string{"tar", "clang-19", "bpftool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, tool + " missing"
		}
	}
	if _, err := os.Stat(linuxSource); err != nil {
		return nil, linuxSource + " missing"
	}
	const top = "linux-source-6.12/"
	const st = top + "tools/testing/selftests/bpf/"
	args := []string{"-I", "xz -T0", "-xf", linuxSource, "-C", dir, "--wildcards", st + "*.h", // and progs/*.h: a wildcard crosses "/"
		top + "tools/lib/bpf/*.h", top + "scripts/bpf_doc.py", top + "include/uapi/linux/bpf.h"}
	for _, p := range linuxPrograms {
		args = append(args, st+"progs/"+p+".c")
	}
	if out, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	src := filepath.Join(dir, top)
	inc := filepath.Join(dir, "include")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(inc, "bpf"), 0o755))
	for _, h := range []string{"bpf_helpers.h", "bpf_endian.h", "bpf_core_read.h", "bpf_tracing.h"} {
		b, err := os.ReadFile(filepath.Join(src, "tools/lib/bpf", h))
		must(err)
		must(os.WriteFile(filepath.Join(inc, "bpf", h), b, 0o644))
	}
	// bpf_helper_defs.h is generated from the UAPI header's comments.
	defs, err := exec.Command("python3", filepath.Join(src, "scripts/bpf_doc.py"), "--header",
		"--file", filepath.Join(src, "include/uapi/linux/bpf.h")).Output()
	if err != nil {
		defs, err = os.ReadFile("/usr/include/bpf/bpf_helper_defs.h") // libbpf-dev's, older
		if err != nil {
			return nil, "no python3 to generate bpf_helper_defs.h, no libbpf-dev"
		}
	}
	must(os.WriteFile(filepath.Join(inc, "bpf/bpf_helper_defs.h"), defs, 0o644))
	vmlinux, err := exec.Command("bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c").Output()
	if err != nil {
		return nil, fmt.Sprintf("bpftool btf dump: %v", err)
	}
	must(os.WriteFile(filepath.Join(inc, "vmlinux.h"), vmlinux, 0o644))

	progs := filepath.Join(dir, st, "progs")
	objs := make([]string, len(linuxPrograms))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, p := range linuxPrograms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			obj := filepath.Join(dir, p+".o")
			cmd := exec.Command("clang-19", "-g", "-O2", "--target=bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86",
				"-I", inc, "-I", filepath.Dir(progs), "-I", progs, "-idirafter", "/usr/include/x86_64-linux-gnu",
				"-c", filepath.Join(progs, p+".c"), "-o", obj)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("%s does not build here: %v\n%s", p, err, firstLines(out, 3))
				return
			}
			objs[i] = obj
		}()
	}
	wg.Wait()
	objs = slices.DeleteFunc(objs, func(s string) bool { return s == "" })
	if len(objs) == 0 {
		return nil, "no selftest builds"
	}
	return objs, ""
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
