package helpers

import (
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf/asm"
)

// TestPrintkReuseState: ResetState leaves the lines a caller kept alone;
// ReuseState writes the next run's lines over them, and a loop of runs
// printing lines it printed before allocates nothing.
func TestPrintkReuseState(t *testing.T) {
	b := newBench(t, nil)
	copy(b.buf, "v=%x\x00")
	printk := func(v uint64) { b.ret(asm.FnTracePrintk, b.at, 5, v) }
	printk(0x1234)
	kept := b.s.State(b.m).Printk
	b.s.ResetState(b.m)
	printk(0xabcd)
	printk(0x1234)
	if got := b.s.State(b.m).Printk; !reflect.DeepEqual(got, []string{"v=abcd", "v=1234"}) {
		t.Errorf("after ResetState: %q", got)
	}
	if !reflect.DeepEqual(kept, []string{"v=1234"}) {
		t.Errorf("ResetState wrote over a kept result: %q", kept)
	}
	b.s.ReuseState(b.m)
	printk(0x5678)
	if got := b.s.State(b.m).Printk; !reflect.DeepEqual(got, []string{"v=5678"}) {
		t.Errorf("after ReuseState: %q", got)
	}
	run := func() {
		b.s.ReuseState(b.m)
		printk(0x1234)
		printk(0xabcd)
	}
	run()
	b.s.ReuseState(b.m) // a run that prints nothing between
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per run printing the lines of the last", n)
	}
	if got := b.s.State(b.m).Printk; !reflect.DeepEqual(got, []string{"v=1234", "v=abcd"}) {
		t.Errorf("reused lines: %q", got)
	}
}

// TestPrintkStateReleasesMachine: the state a printing run leaves (the
// scratch kept for the next run) does not keep its machine alive.
func TestPrintkStateReleasesMachine(t *testing.T) {
	count := func() int {
		states.Lock()
		defer states.Unlock()
		return len(states.m)
	}
	before := count()
	func() {
		b := newBench(t, nil)
		copy(b.buf, "v=%x\x00")
		b.ret(asm.FnTracePrintk, b.at, 5, 0x1234)
		b.s.ReuseState(b.m)
		b.ret(asm.FnTracePrintk, b.at, 5, 0x1234)
	}()
	for range 20 {
		runtime.GC()
		if count() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("the machine's helper state is still held: %d states, %d before", count(), before)
}
