// Package exptest provides the programs the exporters' tests and
// benchmarks trace: conformance-suite programs, a small XDP program
// that parses a packet, updates a map and calls a subprogram, and a loop
// over every byte of a packet.
package exptest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/conformance"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// Update rewrites golden files instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite golden files")

// Case is a program with its inputs, ready to run.
type Case struct {
	Name    string
	Capture *tracefile.Capture
	// Helpers builds the helper set over an environment.
	Helpers func(helpers.Env) vm.HelperSet
}

// Run executes the case once on a fresh machine with h attached and a
// recording environment, returning r0, the error and the capture filled in.
func (c *Case) Run(tb testing.TB, h any) (uint64, error) {
	tb.Helper()
	m, args := c.Machine(tb)
	m.Attach(h)
	return m.Run(context.Background(), args...)
}

// Machine builds the case's machine with a recording environment.
func (c *Case) Machine(tb testing.TB) (*vm.Machine, []uint64) {
	tb.Helper()
	c.Capture.Env = helpers.Record(helpers.NewDefaultEnv())
	m, args, err := c.Capture.Machine(c.Helpers(c.Capture.Env))
	if err != nil {
		tb.Fatal(err)
	}
	return m, args
}

// ConformanceHelpers is the suite's helper set: helper 5 unwinds.
func ConformanceHelpers(helpers.Env) vm.HelperSet {
	return vm.Helpers{5: {Name: "unwind", Fn: func(_ *vm.Machine, a vm.Args) (uint64, error) {
		if a[0] == 0 {
			return 0, vm.ErrUnwind
		}
		return a[0], nil
	}}}
}

// KernelHelpers is package helpers' set.
func KernelHelpers(env helpers.Env) vm.HelperSet { return helpers.New(env) }

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Conformance loads a test of the vendored conformance suite ("ldxb.data").
func Conformance(tb testing.TB, name string) *Case {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(Root(), "testdata", "conformance", "tests", name))
	if err != nil {
		tb.Fatal(err)
	}
	t, err := conformance.Parse(name, data)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := vm.NewProgram(name, t.Program)
	if err != nil {
		tb.Fatal(err)
	}
	return &Case{Name: name, Capture: &tracefile.Capture{Prog: p, Input: ctx.Input{Data: t.Mem}}, Helpers: ConformanceHelpers}
}

// XDPSource parses an Ethernet frame and, for an IPv4 packet, counts it in
// counters[ethertype & 3] with an atomic add, lets a subprogram decrement
// the IPv4 TTL in place and returns XDP_TX; shorter frames are dropped.
const XDPSource = `
	r6 = r1
	r2 = *(u32 *)(r6 +0)
	r3 = *(u32 *)(r6 +4)
	r4 = r2
	r4 += 34
	if r4 > r3 goto drop
	r5 = *(u16 *)(r2 +12)
	r5 = be16 r5
	r5 &= 3
	*(u32 *)(r10 -4) = r5
	r2 = r10
	r2 += -4
	r1 = map[id:0]
	call bpf_map_lookup_elem#1
	if r0 == 0x0 goto drop
	r1 = 1
	lock *(u64 *)(r0 +0) += r1
	r1 = *(u32 *)(r6 +0)
	call ttl
	exit
drop:
	r0 = 1
	exit
ttl:
	r2 = *(u8 *)(r1 +22)
	r2 += -1
	*(u8 *)(r1 +22) = r2
	r0 = 3
	exit
`

// Packet is an Ethernet + IPv4 + UDP frame with TTL 64.
var Packet = []byte{
	0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // eth: IPv4
	0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // ip
	0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0, // udp 12345 -> 53
}

// XDP returns the XDP case over Packet, with counters[0] preset to 41.
func XDP(tb testing.TB) *Case {
	tb.Helper()
	insns, err := isa.Assemble(XDPSource)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := vm.NewProgram("xdp_count", insns)
	if err != nil {
		tb.Fatal(err)
	}
	p.Maps = []string{"counters"}
	counters, err := maps.New(&maps.Spec{Name: "counters", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		tb.Fatal(err)
	}
	if err := counters.Put([]byte{0, 0, 0, 0}, []byte{41, 0, 0, 0, 0, 0, 0, 0}, 0); err != nil {
		tb.Fatal(err)
	}
	return &Case{
		Name:    "xdp_count",
		Capture: &tracefile.Capture{Prog: p, Type: ebpf.XDP, Maps: []maps.Map{counters}, Input: ctx.Input{Data: append([]byte(nil), Packet...)}},
		Helpers: KernelHelpers,
	}
}

// Golden compares got with testdata/name, or writes it with -update.
func Golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *Update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		tb.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

// byteSum is a loop-heavy XDP program: it adds up every byte of the
// packet with a bounds check per byte and returns the sum's low two bits.
// Over an n-byte packet it executes 7n+6 instructions and n+2 loads.
const byteSum = `
	r2 = *(u32 *)(r1 +0)
	r3 = *(u32 *)(r1 +4)
	r0 = 0
loop:
	r4 = r2
	r4 += 1
	if r4 > r3 goto done
	r5 = *(u8 *)(r2 +0)
	r0 += r5
	r2 = r4
	goto loop
done:
	r0 &= 3
	exit
`

// ByteSum is the byte_sum program over pkt: a long trace of packet loads,
// registers that are pointers and counts of several digits.
func ByteSum(tb testing.TB, pkt []byte) *Case {
	tb.Helper()
	insns, err := isa.Assemble(byteSum)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := vm.NewProgram("byte_sum", insns)
	if err != nil {
		tb.Fatal(err)
	}
	return &Case{Name: "byte_sum", Capture: &tracefile.Capture{Prog: p, Type: ebpf.XDP, Input: ctx.Input{Data: pkt}}, Helpers: KernelHelpers}
}
