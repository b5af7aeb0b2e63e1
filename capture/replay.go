package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// Loader makes a fresh copy of the object's maps and programs, with
// per-CPU maps for cpus CPUs.
type Loader func(cpus int) (*loader.Collection, error)

// Replayer runs a capture's runs in bpfscope, each from the map state the
// file gives for it, and compares with what the kernel did.
//
// Map state: the first snapshot is applied before run 1; the program's
// own writes carry from run to run as in the kernel; a later snapshot
// replaces the maps it holds before the run it precedes. Runs the capture
// did not record (filtered, sampled out) changed the kernel's maps too,
// and snapshots are read while runs go on: when a run differs, it is run
// again from the first snapshot taken after it, which holds any change
// made between the two snapshots (by user space or unrecorded runs).
type Replayer struct {
	File *File
	Prog string // program name in the object
	load Loader

	coll  *loader.Collection
	inst  *replayInstance
	snap  int // index of the snapshot the state last came from
	typ   ebpf.ProgramType
	cpus  int
	Warns []string
}

type replayInstance struct {
	m   *vm.Machine
	hs  *helpers.Set
	env *helpers.DefaultEnv
	run *testrun.Runner
}

// Outcome is one run replayed.
type Outcome struct {
	Run     *Run
	Retval  uint32
	DataOut []byte
	Err     error    // bpfscope could not run it
	Diffs   []string // how it differs from the kernel; empty: the same
	// Skipped says why the run was not compared (frame cut by snaplen).
	Skipped string
	// Explained is set when the run differed from the carried state but
	// equals the kernel from the snapshot taken after it: its index in
	// File.Snapshots.
	Explained int
}

// Same reports whether bpfscope did what the kernel did.
func (o *Outcome) Same() bool { return o.Skipped == "" && len(o.Diffs) == 0 }

// NewReplayer prepares the replay of f against the program prog that load
// provides.
func NewReplayer(f *File, prog string, load Loader) (*Replayer, error) {
	if len(f.Snapshots) == 0 {
		return nil, fmt.Errorf("the capture holds no map snapshot")
	}
	cpus := max(f.Program.CPUs, 1)
	r := &Replayer{File: f, Prog: prog, load: load, cpus: cpus, snap: -1}
	return r, nil
}

// fresh builds a machine on a new copy of the maps, set from snapshot i.
func (r *Replayer) fresh(i int) (*loader.Collection, *replayInstance, error) {
	coll, err := r.load(r.cpus)
	if err != nil {
		return nil, nil, err
	}
	lp, err := coll.Program(r.Prog)
	if err != nil {
		return nil, nil, err
	}
	r.typ = lp.Type
	r.Warns = append(r.Warns, ApplySnapshot(coll, r.File.Snapshots[i])...)
	env := helpers.NewDefaultEnv()
	hs := helpers.New(env)
	m, err := coll.Machine(r.Prog, vm.Config{Helpers: hs})
	if err != nil {
		return nil, nil, err
	}
	return coll, &replayInstance{m: m, hs: hs, env: env, run: testrun.NewRunner(m, lp.Type)}, nil
}

// snapshotBefore is the index of the last snapshot taken before run n
// (1-based) was written.
func (r *Replayer) snapshotBefore(n int) int {
	i := 0
	for j, s := range r.File.Snapshots {
		if s.AfterRun < n {
			i = j
		}
	}
	return i
}

// snapshotAfter is the index of the first snapshot taken after run n was
// written, or -1.
func (r *Replayer) snapshotAfter(n int) int {
	for j, s := range r.File.Snapshots {
		if s.AfterRun >= n {
			return j
		}
	}
	return -1
}

// Next replays run i (0-based, in order); hook, if not nil, is attached
// for this run.
func (r *Replayer) Next(cx context.Context, i int, hook any) (*Outcome, error) {
	run := r.File.Runs[i]
	if s := r.snapshotBefore(run.N); s != r.snap || r.inst == nil {
		coll, inst, err := r.fresh(s)
		if err != nil {
			return nil, err
		}
		r.coll, r.inst, r.snap = coll, inst, s
	}
	o := r.exec(cx, r.inst, run, hook)
	if len(o.Diffs) > 0 && o.Err == nil {
		if j := r.snapshotAfter(run.N); j >= 0 && j != r.snap {
			_, inst, err := r.fresh(j)
			if err == nil {
				if o2 := r.exec(cx, inst, run, nil); o2.Same() {
					o.Explained = j
				}
			}
		}
	}
	return o, nil
}

// Rerun runs run i again, with hook, from the state Next would start it
// from (the snapshot before it plus the recorded runs since), to trace it.
func (r *Replayer) Rerun(cx context.Context, i int, hook any) (*Outcome, error) {
	run := r.File.Runs[i]
	s := r.snapshotBefore(run.N)
	_, inst, err := r.fresh(s)
	if err != nil {
		return nil, err
	}
	for k := range i {
		if r.snapshotBefore(r.File.Runs[k].N) == s {
			r.exec(cx, inst, r.File.Runs[k], nil)
		}
	}
	return r.exec(cx, inst, run, hook), nil
}

func (r *Replayer) exec(cx context.Context, in *replayInstance, run *Run, hook any) *Outcome {
	o := &Outcome{Run: run, Explained: -1}
	if len(run.In) < run.InLen {
		o.Skipped = fmt.Sprintf("frame of %d bytes cut to %d by the snaplen", run.InLen, len(run.In))
		return o
	}
	in.env.CPUID = run.CPU
	in.hs.ResetState(in.m)
	in.m.Attach(hook)
	defer in.m.Attach(nil)
	res, err := in.run.Run(testrun.Options{Data: run.In, Ctx: ContextIn(r.File.Program.Kind, run), Context: cx})
	o.Err = err
	if errors.Is(err, ctx.ErrInvalidData) || errors.Is(err, ctx.ErrInvalidCtx) || errors.Is(err, testrun.ErrInvalid) {
		// The kernel ran the program on it, but BPF_PROG_TEST_RUN (and so
		// bpfscope) cannot build this input.
		o.Skipped = fmt.Sprintf("a test run cannot take this input: %v", err)
		return o
	}
	if err != nil {
		o.Diffs = append(o.Diffs, fmt.Sprintf("bpfscope could not run it: %v", err))
		return o
	}
	o.Retval, o.DataOut = res.Retval, res.DataOut
	kind := r.File.Program.Kind
	if int32(o.Retval) != run.Verdict {
		o.Diffs = append(o.Diffs, fmt.Sprintf("verdict: bpfscope %s, kernel %s", VerdictName(kind, int32(o.Retval)), VerdictName(kind, run.Verdict)))
	}
	switch {
	case run.OutLen > len(run.Out):
		// The kernel's frame was cut; compare what there is.
		if !bytes.HasPrefix(o.DataOut, run.Out) {
			o.Diffs = append(o.Diffs, frameDiff(o.DataOut, run.Out))
		}
	case !bytes.Equal(o.DataOut, run.Out):
		o.Diffs = append(o.Diffs, frameDiff(o.DataOut, run.Out))
	}
	return o
}

// frameDiff describes how two outgoing frames differ.
func frameDiff(ours, kernel []byte) string {
	n := min(len(ours), len(kernel))
	at := n
	for i := range n {
		if ours[i] != kernel[i] {
			at = i
			break
		}
	}
	return fmt.Sprintf("output frame: bpfscope %d bytes, kernel %d bytes, first difference at byte %d", len(ours), len(kernel), at)
}

// ContextIn builds the ctx_in of a run: for XDP an xdp_md with
// ingress_ifindex and rx_queue_index; for tc an __sk_buff with the fields
// BPF_PROG_TEST_RUN accepts (mark, priority, ingress_ifindex, cb, tstamp).
// Fields test runs cannot set (hash, vlan, tc_index, queue_mapping,
// ifindex of a real device) take test_run's values in the replay.
func ContextIn(kind string, r *Run) []byte {
	le := binary.LittleEndian
	if kind == "xdp" {
		b := make([]byte, 24)
		le.PutUint32(b[4:], uint32(len(r.In))) // data_end; data and data_meta 0
		le.PutUint32(b[12:], r.IngressIfindex)
		le.PutUint32(b[16:], r.RxQueue)
		return b
	}
	if r.Skb == nil {
		return nil
	}
	b := make([]byte, 192)
	le.PutUint32(b[8:], r.Skb.Mark)
	le.PutUint32(b[32:], r.Skb.Priority)
	le.PutUint32(b[36:], r.IngressIfindex)
	for i, v := range r.Skb.CB {
		le.PutUint32(b[48+4*i:], v)
	}
	le.PutUint64(b[152:], r.Skb.Tstamp)
	return b
}

// ApplySnapshot sets the collection's maps to a snapshot's contents,
// matching maps by name (the kernel keeps 15 bytes of a name; global data
// sections are named "<prefix>.bss" by libbpf and ".bss" by cilium/ebpf
// and bpfscope). It returns what could not be applied.
func ApplySnapshot(c *loader.Collection, s *Snapshot) []string {
	var warns []string
	for _, d := range s.Maps {
		if d.Skipped != "" {
			continue
		}
		name := matchMap(c, d.Name)
		if name == "" {
			warns = append(warns, fmt.Sprintf("map %q (id %d) of the capture has no counterpart in the object", d.Name, d.ID))
			continue
		}
		m := c.Maps[name]
		if int(d.KeySize) != m.KeySize() || int(d.ValueSize) != m.ValueSize() {
			warns = append(warns, fmt.Sprintf("map %s: the capture's key/value sizes %d/%d differ from the object's %d/%d", name, d.KeySize, d.ValueSize, m.KeySize(), m.ValueSize()))
			continue
		}
		if err := fill(m, d); err != nil {
			warns = append(warns, fmt.Sprintf("map %s: %v", name, err))
		}
	}
	return warns
}

func matchMap(c *loader.Collection, kname string) string {
	names := c.MapNames()
	for _, n := range names {
		if n == kname {
			return n
		}
	}
	for _, n := range names {
		if len(kname) == 15 && strings.HasPrefix(n, kname) {
			return n
		}
		if strings.HasPrefix(n, ".") && strings.HasSuffix(kname, n) {
			return n
		}
	}
	return ""
}

// fill replaces m's contents with d's entries.
func fill(m maps.Map, d MapDump) error {
	switch m.Type() {
	case maps.Array, maps.PerCPUArray:
		// Arrays cannot lose elements: every index is in the dump.
	default:
		var keys [][]byte
		for k := range m.Keys() {
			keys = append(keys, k)
		}
		for _, k := range keys {
			if err := m.Remove(k); err != nil {
				return err
			}
		}
	}
	uvs := m.UserValueSize()
	for _, e := range d.Entries {
		v := []byte(e.Value)
		if d.PerCPU {
			stride := roundUp8(m.ValueSize())
			v = make([]byte, uvs)
			for cpu := 0; (cpu+1)*stride <= uvs && cpu < len(e.PerCPU); cpu++ {
				copy(v[cpu*stride:], e.PerCPU[cpu])
			}
		}
		if len(v) != uvs {
			return fmt.Errorf("value of %d bytes for key %x, want %d", len(v), []byte(e.Key), uvs)
		}
		if err := m.Put(e.Key, v, 0); err != nil {
			return fmt.Errorf("key %x: %v", []byte(e.Key), err)
		}
	}
	return nil
}

func roundUp8(n int) int { return (n + 7) &^ 7 }

// SnapshotDiff lists the entries that differ between two snapshots, map
// by map, as "map key: old -> new".
func SnapshotDiff(a, b *Snapshot) []string {
	var out []string
	am := map[string]MapDump{}
	for _, d := range a.Maps {
		am[d.Name] = d
	}
	for _, d := range b.Maps {
		old := am[d.Name]
		ov := entryMap(old)
		nv := entryMap(d)
		keys := map[string]bool{}
		for k := range ov {
			keys[k] = true
		}
		for k := range nv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			o, ok1 := ov[k]
			n, ok2 := nv[k]
			switch {
			case !ok1:
				out = append(out, fmt.Sprintf("%s %x: added %s", d.Name, k, n))
			case !ok2:
				out = append(out, fmt.Sprintf("%s %x: removed (was %s)", d.Name, k, o))
			case o != n:
				out = append(out, fmt.Sprintf("%s %x: %s -> %s", d.Name, k, o, n))
			}
		}
	}
	return out
}

func entryMap(d MapDump) map[string]string {
	m := map[string]string{}
	for _, e := range d.Entries {
		if d.PerCPU {
			var parts []string
			for _, v := range e.PerCPU {
				parts = append(parts, fmt.Sprintf("%x", []byte(v)))
			}
			m[string(e.Key)] = strings.Join(parts, "/")
		} else {
			m[string(e.Key)] = fmt.Sprintf("%x", []byte(e.Value))
		}
	}
	return m
}
