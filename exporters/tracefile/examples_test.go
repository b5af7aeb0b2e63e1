package tracefile_test

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// seen keeps every event of live runs with the region name and the name
// of each access, taken while the run is on.
type seen struct {
	hooks.Recorder
	wheres, names map[int]string
}

func (s *seen) Access(ev *hooks.Access) hooks.Action {
	i := len(s.Records)
	s.wheres[i] = ev.Where()
	if n, ok := ev.M.(hooks.Namer); ok {
		s.names[i] = n.Name(ev.Addr, ev.Size)
	}
	return s.Recorder.Access(ev)
}

// TestReplayEveryExampleIsLive runs every program of every bundled example
// object over every frame of the bundled capture, in order on one machine
// (maps carried from run to run), as 'bpfscope trace --record' does, and
// records the runs into one file, which stores no event. The events read
// back from the file (derived by running it again) must be those of the
// live runs, field by field, with the same region and field names, and
// the text trace of the file (Dump) must be the live text trace, byte for
// byte.
func TestReplayEveryExampleIsLive(t *testing.T) {
	objs, err := fs.Glob(examples.Progs, "*.o")
	if err != nil || len(objs) < 10 {
		t.Fatalf("examples: %v %v", objs, err)
	}
	f := newFirewall(t, helpers.NewDefaultEnv()) // for the frames
	total := 0
	for _, obj := range objs {
		raw, err := fs.ReadFile(examples.Progs, obj)
		if err != nil {
			t.Fatal(err)
		}
		probe, err := loader.LoadReader(bytes.NewReader(raw), loader.Options{})
		if err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		names := make([]string, 0, len(probe.Programs))
		for n := range probe.Programs {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, name := range names {
			t.Run(strings.TrimSuffix(obj, ".o")+"/"+name, func(t *testing.T) {
				total += liveAndReplayed(t, raw, name, f.frames)
			})
		}
	}
	t.Logf("%d events compared", total)
}

// liveAndReplayed records the runs of program name over frames, checks
// that the file gives the same events and text, and returns the number
// of events compared.
func liveAndReplayed(t *testing.T, obj []byte, name string, frames [][]byte) int {
	// A machine over fresh maps, as the command builds one.
	type setup struct {
		p      *loader.Program
		env    *helpers.RecordingEnv
		hs     *helpers.Set
		m      *vm.Machine
		runner *testrun.Runner
		c      *tracefile.Capture
	}
	build := func() *setup {
		coll, err := loader.LoadReader(bytes.NewReader(obj), loader.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := &setup{p: coll.Programs[name], env: helpers.Record(helpers.NewDefaultEnv())}
		s.hs = helpers.New(s.env)
		if s.m, err = coll.Machine(name, vm.Config{Helpers: s.hs}); err != nil {
			t.Skipf("no machine: %v", err)
		}
		var ms []maps.Map
		for _, n := range coll.MapNames() {
			ms = append(ms, coll.Maps[n])
		}
		s.c = &tracefile.Capture{Prog: s.p.Prog, Type: s.p.Type, Maps: ms, Env: s.env, CPUs: coll.PossibleCPUs()}
		s.runner = testrun.NewRunner(s.m, s.p.Type)
		return s
	}
	var inputs []ctx.Input
	for _, f := range frames {
		inputs = append(inputs, ctx.Input{Data: f})
	}
	probe := build()
	switch probe.p.Type {
	case ebpf.SkLookup: // lookups for three local ports
		inputs = nil
		for _, port := range []uint32{22, 80, 443} {
			inputs = append(inputs, ctx.Input{Ctx: kernel.Marshal(kernel.SkLookup{Family: 2, Protocol: 6, LocalPort: port, RemotePort: uint32(kernel.Ntohs(1000))})})
		}
	case ebpf.Kprobe, ebpf.TracePoint: // registers or tracepoint fields, zeroed and not
		regs := make([]byte, 168)
		for i := range regs {
			regs[i] = byte(i)
		}
		inputs = []ctx.Input{{Ctx: make([]byte, 168)}, {Ctx: regs}}
	default:
		if _, err := probe.runner.Run(testrun.Options{Data: frames[0]}); errors.Is(err, testrun.ErrNotSupported) {
			t.Skipf("programs of this type cannot be test-run: %v", err)
		} else if errors.Is(err, testrun.ErrInvalid) && strings.Contains(err.Error(), "takes no data_in") {
			inputs = make([]ctx.Input, 3)
		}
	}
	s := build()
	env, hs, m, runner := s.env, s.hs, s.m, s.runner
	var file, liveText bytes.Buffer
	w, err := tracefile.NewWriter(&file, s.c)
	if err != nil {
		t.Fatal(err)
	}
	live := &seen{wheres: map[int]string{}, names: map[int]string{}}
	tw := text.New(&liveText)
	m.Attach(hooks.Multi(live, tw))
	ran := 0
	for _, in := range inputs {
		env.Reset()
		hs.ResetState(m)
		res, err := runner.Run(testrun.Options{Data: in.Data, Ctx: in.Ctx})
		run := tracefile.Run{Input: in, Env: env.Log(), Err: err}
		if res != nil {
			run.Retval, run.Insns, run.DataOut, run.CtxOut = uint64(res.Retval), res.Insns, res.DataOut, res.CtxOut
			ran++
		}
		if err := w.Record(&run); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	if ran == 0 {
		t.Skip("no input ran")
	}

	tr, err := tracefile.ReadAll(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Events) != len(live.Records) {
		t.Fatalf("%d events from the file, %d live", len(tr.Events), len(live.Records))
	}
	for i, want := range live.Records {
		got := tr.Events[i]
		if d := tracefile.Diff(got, want, live.wheres[i]); d != "" {
			t.Fatalf("event %d (%s): %s", i, want.Kind, d)
		}
		if got.Kind == hooks.KindAccess {
			if n := got.Access.M.(hooks.Namer).Name(got.Access.Addr, got.Access.Size); n != live.names[i] {
				t.Fatalf("event %d: name %q, live %q", i, n, live.names[i])
			}
		}
	}
	var dumped bytes.Buffer
	dt := text.New(&dumped)
	if err := tracefile.Dump(bytes.NewReader(file.Bytes()), dt); err != nil {
		t.Fatal(err)
	}
	dt.Flush()
	if dumped.String() != liveText.String() {
		a, b := strings.Split(dumped.String(), "\n"), strings.Split(liveText.String(), "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("text line %d: dump\n%s\nlive\n%s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("text: %d lines from the dump, %d live", len(a), len(b))
	}
	perRun := float64(file.Len()) / float64(len(inputs))
	t.Logf("%d runs (%d ran), %d events, file %d bytes (%.0f per run)", len(inputs), ran, len(live.Records), file.Len(), perRun)
	return len(live.Records)
}
