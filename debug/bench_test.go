package debug

import (
	"bytes"
	"os"
	"runtime"
	"testing"

	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
)

// longSession debugs testdata/long_loop.o's program prog (about ten
// million instructions) on a 100-byte frame.
func longSession(tb testing.TB, prog string) (*Session, *Stop) {
	tb.Helper()
	raw, err := os.ReadFile("testdata/long_loop.o")
	if err != nil {
		tb.Fatal(err)
	}
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i * 7)
	}
	load := func() (*loader.Collection, error) { return loader.LoadReader(bytes.NewReader(raw), loader.Options{}) }
	tg, err := ObjectTarget("long_loop.o", raw, prog, testrun.Options{Data: data}, load)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(tg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	if _, err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	end, err := s.Continue()
	if err != nil || end.Reason != ReasonExited || end.Exit.Err != nil {
		tb.Fatalf("run: %+v %v", end, err)
	}
	return s, end
}

// The long programs are what the benchmarks claim: about ten million
// instructions, and a stop near the end is reached and left exactly.
func TestLongRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ten million instructions a few times")
	}
	for _, prog := range []string{"long_loop", "long_callback"} {
		s, end := longSession(t, prog)
		if end.Count < 9_000_000 {
			t.Fatalf("%s: %d instructions", prog, end.Count)
		}
		mid := end.Count / 2
		st, err := s.RunTo(mid)
		if err != nil || st.Count != mid {
			t.Fatalf("%s: RunTo: %+v %v", prog, st, err)
		}
		regs, _ := s.Registers()
		st, err = s.ReverseStepInstruction()
		if err != nil || st.Count != mid-1 {
			t.Fatalf("%s: reverse-stepi: %+v %v", prog, st, err)
		}
		st, err = s.StepInstruction()
		if r2, _ := s.Registers(); err != nil || r2 != regs {
			t.Fatalf("%s: back and forth: %v %v", prog, r2, regs)
		}
		if prog == "long_callback" {
			if bt := s.Backtrace(); len(bt) < 2 || bt[0].Kind != FrameCallback {
				t.Errorf("inside the callback: %+v", bt)
			}
		}
		if _, err := s.ReverseStep(); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkLoad is what every re-execution pays before it runs: a fresh
// collection (ELF and BTF parsed, maps created) and machine.
func BenchmarkLoad(b *testing.B) {
	s, _ := longSession(b, "long_loop")
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.t.New(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUntraced is the reference: one run of the plain loop, on a
// fresh instance, with no hook.
func BenchmarkUntraced(b *testing.B) { benchUntraced(b, "long_loop") }

// BenchmarkUntracedCallback is the same for the bpf_loop program.
func BenchmarkUntracedCallback(b *testing.B) { benchUntraced(b, "long_callback") }

func benchUntraced(b *testing.B, prog string) {
	s, end := longSession(b, prog)
	b.ReportMetric(float64(end.Count), "insns/run")
	b.ResetTimer()
	for b.Loop() {
		inst, err := s.t.New()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := testrun.Run(inst.Machine, inst.Type, inst.Input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionNoBreakpoints is a session's run with nothing set: start
// (stopped before the first instruction), then continue to the end.
func BenchmarkSessionNoBreakpoints(b *testing.B) {
	s, _ := longSession(b, "long_loop")
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Start(); err != nil {
			b.Fatal(err)
		}
		if st, err := s.Continue(); err != nil || st.Reason != ReasonExited {
			b.Fatal(st, err)
		}
	}
}

// benchReverse measures one backwards movement from the middle of a
// ten-million-instruction run, and the memory it leaves held.
func benchReverse(b *testing.B, prog string, back func(*Session) (*Stop, error)) {
	s, end := longSession(b, prog)
	at := end.Count / 2
	if _, err := s.RunTo(at); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if st, err := s.RunTo(at); err != nil || st.Count != at {
			b.Fatal(st, err)
		}
		b.StartTimer()
		if _, err := back(s); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "MiB-held")
	b.ReportMetric(float64(end.Count), "insns/run")
}

func BenchmarkReverseStepInstruction(b *testing.B) {
	benchReverse(b, "long_loop", (*Session).ReverseStepInstruction)
}

func BenchmarkReverseStep(b *testing.B) {
	benchReverse(b, "long_loop", (*Session).ReverseStep)
}

func BenchmarkReverseStepInstructionCallback(b *testing.B) {
	benchReverse(b, "long_callback", (*Session).ReverseStepInstruction)
}
