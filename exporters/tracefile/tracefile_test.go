package tracefile_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/exporters/internal/exptest"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// live keeps every event of a run with the region names of accesses
// resolved while the run is on (a stack name depends on the frame).
type live struct {
	hooks.Recorder
	wheres map[int]string
}

func (l *live) Access(ev *hooks.Access) hooks.Action {
	if l.wheres == nil {
		l.wheres = map[int]string{}
	}
	l.wheres[len(l.Records)] = ev.Where()
	return l.Recorder.Access(ev)
}

// record runs c with a Writer and a live recorder attached.
func record(t testing.TB, c *exptest.Case) ([]byte, *live) {
	t.Helper()
	m, args := c.Machine(t)
	var buf bytes.Buffer
	w, err := tracefile.NewWriter(&buf, c.Capture)
	if err != nil {
		t.Fatal(err)
	}
	l := &live{}
	m.Attach(hooks.Multi(w, l))
	m.Run(context.Background(), args...)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), l
}

func cases(t testing.TB) []*exptest.Case {
	cs := []*exptest.Case{exptest.XDP(t), envCase(t)}
	for _, n := range []string{"call_local.data", "call_unwind_fail.data", "lock_cmpxchg.data", "subnet.data", "prime.data", "div64-by-zero-reg.data"} {
		cs = append(cs, exptest.Conformance(t, n))
	}
	return cs
}

// envCase calls the helpers that read the environment and returns the sum
// of their results.
func envCase(t testing.TB) *exptest.Case {
	insns, err := isa.Assemble(`
	call bpf_ktime_get_ns#5
	r6 = r0
	call bpf_get_prandom_u32#7
	r6 += r0
	call bpf_get_smp_processor_id#8
	r6 += r0
	call bpf_get_prandom_u32#7
	r0 += r6
	exit`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vm.NewProgram("env", insns)
	if err != nil {
		t.Fatal(err)
	}
	return &exptest.Case{Name: "env", Capture: &tracefile.Capture{Prog: p}, Helpers: exptest.KernelHelpers}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			file, l := record(t, c)
			tr, err := tracefile.ReadAllOptions(bytes.NewReader(file), tracefile.DefaultMaxEventMemory, &tracefile.Options{Helpers: c.Helpers})
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Events) != len(l.Records) {
				t.Fatalf("read %d events, recorded %d", len(tr.Events), len(l.Records))
			}
			for i, want := range l.Records {
				if d := tracefile.Diff(tr.Events[i], want, l.wheres[i]); d != "" {
					t.Fatalf("event %d (%s): %s", i, want.Kind, d)
				}
			}
			if got, want := len(tr.Env), len(c.Capture.Env.Log()); got != want {
				t.Errorf("env: read %d values, recorded %d", got, want)
			}
			if string(tr.Capture.Input.Data) != string(c.Capture.Input.Data) || tr.Capture.Type != c.Capture.Type {
				t.Error("input or program type differ")
			}
			if !equalInsns(tr.Capture.Prog.Insns, c.Capture.Prog.Insns) {
				t.Error("program differs")
			}
			t.Logf("%d events in %d bytes", len(tr.Events), len(file))
		})
	}
}

func equalInsns(a, b []isa.Insn) bool {
	return string(isa.Encode(a)) == string(isa.Encode(b))
}

func TestReplay(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			file, l := record(t, c)
			opts := &tracefile.Options{Helpers: c.Helpers}
			res, err := tracefile.Replay(bytes.NewReader(file), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Runs != 1 || res.Insns != l.Records[len(l.Records)-1].Run.Insns {
				t.Errorf("replayed %d runs, %d instructions; recorded 1 run, %d instructions", res.Runs, res.Insns, l.Records[len(l.Records)-1].Run.Insns)
			}
			// Events derived from the file, then compared with a second run.
			tr, err := tracefile.ReadAllOptions(bytes.NewReader(file), tracefile.DefaultMaxEventMemory, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res, err = tr.Replay(opts); err != nil || res.Events != len(l.Records) {
				t.Errorf("compared %d events of %d: %v", res.Events, len(l.Records), err)
			}
		})
	}
}

// The recorded map contents, not the maps' state after the run, seed the
// replay: the XDP program's counter goes from 41 to 42 again.
func TestReplayRestoresMaps(t *testing.T) {
	c := exptest.XDP(t)
	file, _ := record(t, c)
	tr, err := tracefile.ReadAll(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 8)
	if err := tr.Capture.Maps[0].Get([]byte{0, 0, 0, 0}, v); err != nil || v[0] != 41 {
		t.Fatalf("restored counters[0] = %v, %v", v, err)
	}
	if _, err := tr.Replay(nil); err != nil {
		t.Fatal(err)
	}
	if err := tr.Capture.Maps[0].Get([]byte{0, 0, 0, 0}, v); err != nil || v[0] != 42 {
		t.Fatalf("after replay counters[0] = %v, %v", v, err)
	}
}

// A change of input shows up as the first event that differs: the load of
// the TTL byte by the subprogram.
func TestReplayDivergence(t *testing.T) {
	file, _ := record(t, exptest.XDP(t))
	tr, err := tracefile.ReadAll(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	// The file's run, with another input, against the events it had.
	run := tr.Runs[0]
	run.Input = ctx.Input{Data: append([]byte(nil), run.Input.Data...)}
	run.Input.Data[22] = 7 // TTL
	_, err = tr.Replay(nil)
	var d *tracefile.Divergence
	if !errors.As(err, &d) {
		t.Fatalf("err %v", err)
	}
	if d.PC != 23 || d.Recorded.Kind != hooks.KindAccess || d.What != "value: recorded 0x40, replayed 0x7" {
		t.Errorf("divergence %v (pc %d, %v)", d, d.PC, d.Recorded.Kind)
	}
}

// A replay whose environment runs out is a divergence too.
func TestReplayEnvDivergence(t *testing.T) {
	file, _ := record(t, envCase(t))
	tr, err := tracefile.ReadAll(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Env) != 4 || tr.Env[0].Kind != helpers.EnvKtime || tr.Env[3].Kind != helpers.EnvRandom {
		t.Fatalf("env %v", tr.Env)
	}
	tr.Runs[0].Env = tr.Runs[0].Env[:3]
	_, err = tr.Replay(nil)
	var d *tracefile.Divergence
	if !errors.As(err, &d) || !strings.Contains(d.What, "used up") || d.PC != 6 {
		t.Fatalf("err %v", err)
	}
}

// Dump delivers the file's events to any hook; text output from a file
// equals the text output of the live run.
func TestDumpText(t *testing.T) {
	c := exptest.XDP(t)
	m, args := c.Machine(t)
	var file, liveText, dumped bytes.Buffer
	w, err := tracefile.NewWriter(&file, c.Capture)
	if err != nil {
		t.Fatal(err)
	}
	m.Attach(hooks.Multi(w, text.New(&liveText)))
	if _, err := m.Run(context.Background(), args...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tracefile.Dump(bytes.NewReader(file.Bytes()), text.New(&dumped)); err != nil {
		t.Fatal(err)
	}
	if liveText.String() != dumped.String() {
		t.Errorf("dump differs from the live trace:\n%s\nlive:\n%s", dumped.String(), liveText.String())
	}
}

func TestCorrupt(t *testing.T) {
	file, _ := record(t, exptest.XDP(t))
	var ferr *tracefile.FormatError
	check := func(name string, b []byte, wantSection, wantMsg string) {
		t.Helper()
		_, err := tracefile.ReadAll(bytes.NewReader(b))
		if !errors.As(err, &ferr) || !errors.Is(err, tracefile.ErrFormat) {
			t.Fatalf("%s: err %v", name, err)
		}
		if ferr.Section != wantSection || !strings.Contains(ferr.Msg, wantMsg) {
			t.Errorf("%s: %v", name, err)
		}
	}
	check("empty", nil, "header", "too short")
	check("magic", append([]byte("ELF"), file[3:]...), "header", "bad magic")
	// Flip one byte of every section in turn: the checksum names it.
	for off := 10; off < len(file); off += 97 {
		b := append([]byte(nil), file...)
		b[off] ^= 0x40
		_, err := tracefile.ReadAll(bytes.NewReader(b))
		if !errors.Is(err, tracefile.ErrFormat) {
			t.Fatalf("byte %d flipped: err %v", off, err)
		}
	}
	// The last byte is part of the end section's checksum.
	b := append([]byte(nil), file...)
	b[len(b)-1] ^= 1
	check("end checksum", b, "end", "checksum mismatch")
	for _, n := range []int{11, 40, len(file) / 2, len(file) - 1} {
		_, err := tracefile.ReadAll(bytes.NewReader(file[:n]))
		if !errors.As(err, &ferr) || !strings.Contains(ferr.Msg, "truncated") {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
}

func TestNextAfterEOF(t *testing.T) {
	file, _ := record(t, exptest.Conformance(t, "call_local.data"))
	r, err := tracefile.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = r.Next(); err != nil {
			break
		}
	}
	if err != io.EOF {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("second EOF: %v", err)
	}
}

// An empty hash map round-trips: no entries, and no value size either.
func TestEmptyMap(t *testing.T) {
	c := exptest.XDP(t)
	empty, err := maps.New(&maps.Spec{Name: "empty", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	c.Capture.Maps = append(c.Capture.Maps, empty)
	file, _ := record(t, c)
	tr, err := tracefile.ReadAll(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Capture.Maps) != 2 || tr.Capture.Maps[1].Spec().Name != "empty" {
		t.Fatalf("maps %v", tr.Capture.Maps)
	}
	if _, err := tr.Replay(nil); err != nil {
		t.Fatal(err)
	}
}

// A version 1 file (bpfscope before the programs section) still reads:
// its program, maps, input and every event up to the end section.
func TestReadVersion1(t *testing.T) {
	tr, err := tracefile.ReadAll(bytes.NewReader(testdata(t, "firewall-v1.bpft")))
	if err != nil {
		t.Fatal(err)
	}
	if p := tr.Capture.Prog; p.Name != "xdp_firewall" || len(tr.Events) < 100 || len(tr.Capture.Maps) == 0 {
		t.Fatalf("program %s, %d events, %d maps", p.Name, len(tr.Events), len(tr.Capture.Maps))
	}
	if last := tr.Events[len(tr.Events)-1]; last.Kind != hooks.KindExit {
		t.Fatalf("last event is %s, want exit", last.Kind)
	}
}

// A tail-call chain replays from the file alone: the program array and the
// programs it holds are in the file (recorded by 'bpfscope trace --prog
// xdp_dispatch --packet 1 --record' on examples/progs/xdp_tailcall.o).
func TestReplayTailCalls(t *testing.T) {
	file := testdata(t, "tailcall.bpft")
	r, err := tracefile.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Programs()) < 2 {
		t.Fatalf("%d programs besides the entry, want the chain's", len(r.Programs()))
	}
	tr, err := tracefile.ReadAll(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	tails := 0
	for _, e := range tr.Events {
		if e.Kind == hooks.KindCall && e.Call.Kind == hooks.TailCall {
			tails++
		}
	}
	res, err := tr.Replay(nil)
	if err != nil {
		t.Fatal(err)
	}
	if tails < 2 || res.Events != len(tr.Events) {
		t.Fatalf("%d tail calls, %d of %d events replayed", tails, res.Events, len(tr.Events))
	}
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replayRuns replays file run by run through a Runner, with change
// applied to each run read first, and returns the first error.
func replayRuns(t *testing.T, file []byte, change func(*tracefile.Run)) error {
	t.Helper()
	r, err := tracefile.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.NewRunner(nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		run, err := r.NextRun()
		if err == io.EOF {
			return p.Finish(r)
		}
		if err != nil {
			t.Fatal(err)
		}
		change(run)
		if _, err := p.Run(run, nil); err != nil {
			return err
		}
	}
}

// A run that does not end as recorded is a *Divergence naming the run
// and what differs: its result, its length, its outputs, its pcs, its
// maps, its environment.
func TestRunDivergence(t *testing.T) {
	plain := recordFirewall(t, nil)
	pcs := recordFirewall(t, &tracefile.WriterOptions{PCs: true, MapsEveryRun: true})
	if len(pcs) <= len(plain) {
		t.Fatalf("a file with pcs has %d bytes, without %d", len(pcs), len(plain))
	}
	for _, file := range [][]byte{plain, pcs} {
		if err := replayRuns(t, file, func(*tracefile.Run) {}); err != nil {
			t.Fatalf("faithful replay: %v", err)
		}
	}
	for _, c := range []struct {
		name   string
		file   []byte
		change func(*tracefile.Run)
		run    int
		what   string
	}{
		{"result", plain, func(r *tracefile.Run) {
			if r.N == 10 {
				r.Retval = 2
			}
		}, 10, "result: recorded 0x2, replayed 0x1"},
		{"input", plain, func(r *tracefile.Run) {
			if r.N == 3 {
				r.Input.Data = append([]byte(nil), r.Input.Data...)
				r.Input.Data[len(r.Input.Data)-1] ^= 1
			}
		}, 3, "state checksum"},
		{"length", plain, func(r *tracefile.Run) {
			if r.N == 1 {
				r.Insns = 10
			}
		}, 1, "past the"},
		{"pcs", pcs, func(r *tracefile.Run) {
			if r.N == 2 {
				r.PCs[0].PCs[5]++
			}
		}, 2, "instruction 5: recorded pc"},
		{"maps", pcs, func(r *tracefile.Run) {
			if r.N == 4 {
				r.State ^= 1
			}
		}, 4, "data_out, ctx_out or the maps"},
	} {
		err := replayRuns(t, c.file, c.change)
		var d *tracefile.Divergence
		if !errors.As(err, &d) || d.Run != c.run || !strings.Contains(err.Error(), c.what) || d.RecordedBy != tracefile.Producer() {
			t.Errorf("%s: %v, want a divergence in run %d: %s", c.name, err, c.run, c.what)
		}
	}
	// The pcs read back without running anything: those of a live run.
	r, err := tracefile.NewReader(bytes.NewReader(pcs))
	if err != nil {
		t.Fatal(err)
	}
	run, err := r.NextRun()
	if err != nil || len(run.PCs) != 1 || run.PCs[0].Prog != "xdp_firewall" || uint64(len(run.PCs[0].PCs)) != run.Insns {
		t.Fatalf("run 1's pcs: %v %v", run, err)
	}
}

// One run of a file of many stands alone: Select gives a file whose maps
// are those the runs before it left.
func TestSelect(t *testing.T) {
	file := recordFirewall(t, &tracefile.WriterOptions{PCs: true})
	all, err := tracefile.ReadAll(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Runs) != 12 {
		t.Fatalf("%d runs", len(all.Runs))
	}
	one, err := tracefile.Select(bytes.NewReader(file), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracefile.ReadAll(bytes.NewReader(one))
	if err != nil {
		t.Fatal(err)
	}
	// Run 10's events are the last of the whole file's, up to run 11.
	start := 0
	for i, e := range all.Events {
		if e.Kind == hooks.KindEnter {
			if start++; start == 10 {
				start = i
				break
			}
		}
	}
	for i, want := range tr.Events {
		where := ""
		if want.Kind == hooks.KindAccess {
			where = want.Access.Where()
		}
		if d := tracefile.Diff(all.Events[start+i], want, where); d != "" {
			t.Fatalf("event %d: %s", i, d)
		}
	}
	if res, err := tracefile.Replay(bytes.NewReader(one), nil); err != nil || res.Runs != 1 || res.R0 != 1 {
		t.Fatalf("replay of run 10 alone: %+v %v", res, err)
	}
	if _, err := tracefile.Select(bytes.NewReader(file), 13, nil); err == nil || !strings.Contains(err.Error(), "holds 12 run") {
		t.Errorf("run 13 of 12: %v", err)
	}
}

// The events of a version 3 file are derived, not read, so ReadAllLimit
// bounds what one re-executed run may hold: prime.data's 1312 events
// take about a megabyte.
func TestDerivedEventMemory(t *testing.T) {
	c := exptest.Conformance(t, "prime.data")
	file, _ := record(t, c)
	_, err := tracefile.ReadAllOptions(bytes.NewReader(file), 100_000, &tracefile.Options{Helpers: c.Helpers})
	var le *tracefile.LimitError
	if !errors.As(err, &le) || le.Max != 100_000 {
		t.Fatalf("ReadAllOptions: %v, want a *LimitError", err)
	}
	if _, err := tracefile.ReadAllOptions(bytes.NewReader(file), 10<<20, &tracefile.Options{Helpers: c.Helpers}); err != nil {
		t.Fatal(err)
	}
}
