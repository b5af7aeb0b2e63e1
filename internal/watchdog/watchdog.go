// Package watchdog bounds one fuzz execution: a parser or a run that takes
// longer than its wall time, or allocates more than its budget, is a
// finding even if it would have finished. Run the fuzzer with -parallel 1
// so allocation is attributed to one execution at a time.
package watchdog

import (
	"runtime/metrics"
	"testing"
	"time"
)

// Limits of one execution.
type Limits struct {
	Wall  time.Duration // 0: no wall-time bound
	Alloc uint64        // bytes allocated (not just live); 0: no bound
}

var allocs = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func allocated() uint64 {
	metrics.Read(allocs)
	return allocs[0].Value.Uint64()
}

// Run runs f and fails t if it breaks l. f runs on its own goroutine so a
// hang is reported (and the goroutine abandoned) instead of stalling; f
// must not call t.Fatal (t.Error is fine).
func Run(t testing.TB, l Limits, f func()) {
	t.Helper()
	before := allocated()
	done := make(chan struct{})
	go func() { // a panic here ends the process: the fuzzer keeps the input and the stack
		defer close(done)
		f()
	}()
	var timeout <-chan time.Time
	if l.Wall > 0 {
		timer := time.NewTimer(l.Wall)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-done:
	case <-timeout:
		t.Fatalf("watchdog: still running after %v", l.Wall)
	}
	if got := allocated() - before; l.Alloc > 0 && got > l.Alloc {
		t.Fatalf("watchdog: allocated %d bytes, more than %d", got, l.Alloc)
	}
}
