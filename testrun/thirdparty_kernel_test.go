package testrun

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/cilium/ebpf"
)

// thirdPartyObjects are BPF objects that other projects build and Debian
// ships, which nobody here wrote: xdp-tools' xdp-filter (ten variants),
// xdpdump, the libxdp dispatcher and AF_XDP default program (package
// libxdp1), and xdp-tools' test programs (xdp-tests). .ci/run installs the
// packages; where they are missing the test skips.
var thirdPartyObjects = []string{
	"/usr/lib/x86_64-linux-gnu/bpf/*.o",
	"/usr/libexec/xdp-tools/*.o",
}

// TestKernelDifferentialThirdParty runs every test-runnable program of the
// third-party objects in bpfscope and in the kernel on the same inputs, as
// TestKernelDifferential does for the examples: the canonical packet, then
// random packets with random map contents (keys taken from the packet, so
// filters match), comparing retval, data_out, ctx_out and every map.
func TestKernelDifferentialThirdParty(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	var objs []string
	for _, g := range thirdPartyObjects {
		m, _ := filepath.Glob(g)
		objs = append(objs, m...)
	}
	if len(objs) == 0 {
		t.Skip("no third-party BPF objects installed (apt-get install libxdp1 xdp-tests)")
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, obj := range objs {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Errorf("%s: %v", obj, err)
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(spec.Programs)) {
			id := filepath.Base(obj) + "/" + name
			t.Run(id, func(t *testing.T) {
				// 12 random inputs: the 64 Ki-entry port tables make runs slow.
				if why := differential(t, obj, name, spec, cpus, min(*diffN, 12)); why != "" {
					t.Skip(why)
				}
				ran++
			})
		}
	}
	if ran == 0 {
		t.Errorf("none of the %d third-party objects could run", len(objs))
	}
}
