package helpers

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// Helpers never trust memory the program can write, a failed run releases
// what it held, and a run's output is bounded (issue 12).

func assemble(t *testing.T, src string) *vm.Program {
	t.Helper()
	insns, err := isa.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vm.NewProgram("test", insns)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newMap(t *testing.T, s maps.Spec) maps.Map {
	t.Helper()
	m, err := maps.New(&s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// cancelHelper is helper 1000: it cancels the run's context.
const cancelHelper = 1000

func safetyMachine(t *testing.T, p *vm.Program, cfg vm.Config, cancel func()) *vm.Machine {
	t.Helper()
	hs := New(nil)
	hs.Add(cancelHelper, vm.Helper{Name: "cancel", Fn: func(*vm.Machine, vm.Args) (uint64, error) {
		cancel()
		return 0, nil
	}})
	cfg.Helpers = hs
	m, err := vm.New(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// failures are the ways a run can end halfway, selected by r1: 1 faults,
// 2 runs out of budget, 3 is canceled; 0 ends normally.
const failures = `
	if r6 == 1 goto fault
	if r6 == 2 goto spin
	if r6 == 3 goto cancel
	goto ok
fault:	r1 = 0
	r0 = *(u64 *)(r1 +0)
	exit
spin:	goto spin
cancel:	call 1000
	goto spin
`

var failureNames = []string{1: "fault", 2: "budget", 3: "cancel"}

// runWith runs m with r1 = how, under a context the program can cancel.
func runWith(t *testing.T, p *vm.Program, ms []vm.Map, how uint64) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := safetyMachine(t, p, vm.Config{Maps: ms, MaxInsns: 1 << 20}, cancel)
	_, err := m.Run(ctx, how)
	return err
}

// TestFailedRunReleasesRingbufRecords: a run that ends halfway with a
// record reserved must not keep later runs' records from readers.
func TestFailedRunReleasesRingbufRecords(t *testing.T) {
	p := assemble(t, `
	r6 = r1
	r1 = map[id:0]
	r2 = 8
	r3 = 0
	call bpf_ringbuf_reserve
	if r0 == 0 goto out
	*(u64 *)(r0 +0) = 42
	r7 = r0
`+failures+`
ok:	r1 = r7
	r2 = 0
	call bpf_ringbuf_submit
out:	r0 = 0
	exit`)
	for how := uint64(1); how <= 3; how++ {
		t.Run(failureNames[how], func(t *testing.T) {
			rb := newMap(t, maps.Spec{Name: "rb", Type: maps.RingBuf, MaxEntries: 4096})
			if err := runWith(t, p, []vm.Map{rb}, how); err == nil {
				t.Fatal("the failing run succeeded")
			}
			if err := runWith(t, p, []vm.Map{rb}, 0); err != nil {
				t.Fatal(err)
			}
			recs := rb.(*maps.RingBufMap).Drain()
			if len(recs) != 1 || binary.LittleEndian.Uint64(recs[0].Data) != 42 {
				t.Fatalf("drained %v, want the second run's record", recs)
			}
		})
	}
}

// TestFailedRunReleasesSpinLock: a run that ends holding a spin lock
// leaves it unlocked, and the next run can take it.
func TestFailedRunReleasesSpinLock(t *testing.T) {
	p := assemble(t, `
	r6 = r1
	*(u32 *)(r10 -4) = 0
	r1 = map[id:0]
	r2 = r10
	r2 += -4
	call bpf_map_lookup_elem
	if r0 == 0 goto out
	r7 = r0
	r1 = r0
	call bpf_spin_lock
`+failures+`
ok:	r1 = r7
	call bpf_spin_unlock
out:	r0 = 0
	exit`)
	for how := uint64(1); how <= 3; how++ {
		t.Run(failureNames[how], func(t *testing.T) {
			arr := newMap(t, maps.Spec{Name: "locks", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
			if err := runWith(t, p, []vm.Map{arr}, how); err == nil {
				t.Fatal("the failing run succeeded")
			}
			if w := binary.LittleEndian.Uint32(arr.Memory()); w != 0 {
				t.Fatalf("lock word %d after the failed run, want 0 (unlocked)", w)
			}
			// The same machine's next run (a new machine would not see
			// the old one's state).
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m := safetyMachine(t, p, vm.Config{Maps: []vm.Map{arr}, MaxInsns: 1 << 20}, cancel)
			if _, err := m.Run(ctx, how); err == nil {
				t.Fatal("the failing run succeeded")
			}
			// The next run needs more instructions before its lock than
			// the failed one took in all, so no count can mistake it for
			// the same run.
			if _, err := m.Run(context.Background(), 0); err != nil {
				t.Fatalf("next run: %v", err)
			}
		})
	}
}

// TestRingbufRecordIsItsPayload: a reserved record's pointer reaches its
// payload only, as the verifier allows, never the header bpfscope keeps
// its bookkeeping in, nor the ring itself; and it dies with the submit.
func TestRingbufRecordIsItsPayload(t *testing.T) {
	reserve := `
	r1 = map[id:0]
	r2 = 8
	r3 = 0
	call bpf_ringbuf_reserve
	if r0 == 0 goto out
	r6 = r0
`
	submit := `
	r1 = r6
	r2 = 0
	call bpf_ringbuf_submit
out:	r0 = 0
	exit`
	for _, tc := range []struct {
		name, src string
		want      error
	}{
		{"payload", reserve + "*(u64 *)(r6 +0) = 1" + submit, nil},
		// A length with the busy bit cleared and far past the ring: the
		// commit and the reader would trust it.
		{"header length", reserve + "*(u32 *)(r6 -8) = 2147483647" + submit, vm.ErrOutOfBounds},
		// Busy and as long as it gets: committing it copied past the ring
		// (a panic before records were mapped on their own).
		{"header length busy", reserve + "*(u32 *)(r6 -8) = -16" + submit, vm.ErrOutOfBounds},
		{"header page offset", reserve + "*(u32 *)(r6 -4) = 7" + submit, vm.ErrOutOfBounds},
		{"past the payload", reserve + "*(u64 *)(r6 +8) = 1" + submit, vm.ErrOutOfBounds},
		{"after submit", reserve + submit[:len(submit)-len("out:\tr0 = 0\n\texit")] + "*(u64 *)(r6 +0) = 1\nout:\tr0 = 0\n\texit", vm.ErrUnmapped},
		{"ring by address", "r1 = map[id:0][0]+0\n*(u32 *)(r1 +0) = 0\nr0 = 0\nexit", vm.ErrOutOfBounds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := newMap(t, maps.Spec{Name: "rb", Type: maps.RingBuf, MaxEntries: 4096})
			err := func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				return runWith(t, assemble(t, tc.src), []vm.Map{rb}, 0)
			}()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// Whatever the program did, the ring stays readable.
			recs := rb.(*maps.RingBufMap).Drain()
			if tc.want == nil && len(recs) != 1 {
				t.Fatalf("drained %d records, want 1", len(recs))
			}
		})
	}
}

// TestOutputLimit: a run's output past vm.Config.MaxOutput ends it with
// ErrOutputLimit naming the helper and how to raise the limit, for each
// kind of output.
func TestOutputLimit(t *testing.T) {
	loop := func(body string) string {
		return `
	r1 = 100000
	r2 = subprog[cb]
	r3 = 0
	r4 = 0
	call bpf_loop
	r0 = 0
	exit
cb:	*(u64 *)(r10 -8) = 0
	*(u32 *)(r10 -8) = 6908265 ; "hi\n"
` + body + `
	r0 = 0
	exit`
	}
	for _, tc := range []struct {
		helper, body string
		spec         maps.Spec
	}{
		{"bpf_trace_printk", `
	r1 = r10
	r1 += -8
	r2 = 4
	call bpf_trace_printk`, maps.Spec{}},
		{"bpf_ringbuf_output", `
	r1 = map[id:0]
	r2 = r10
	r2 += -8
	r3 = 8
	r4 = 0
	call bpf_ringbuf_output
	r1 = map[id:0] ; keep the ring from filling up: drain it as a reader would
	call 1001`, maps.Spec{Name: "rb", Type: maps.RingBuf, MaxEntries: 4096}},
		{"bpf_ringbuf_submit", `
	r1 = map[id:0]
	r2 = 8
	r3 = 0
	call bpf_ringbuf_reserve
	if r0 == 0 goto skip
	r1 = r0
	r2 = 0
	call bpf_ringbuf_submit
skip:	r1 = map[id:0]
	call 1001`, maps.Spec{Name: "rb", Type: maps.RingBuf, MaxEntries: 4096}},
		{"bpf_perf_event_output", `
	r1 = 0
	r2 = map[id:0]
	r3 = 4294967295 ll ; BPF_F_CURRENT_CPU
	r4 = r10
	r4 += -8
	r5 = 8
	call bpf_perf_event_output`, maps.Spec{Name: "perf", Type: maps.PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: 1}},
	} {
		t.Run(tc.helper, func(t *testing.T) {
			var ms []vm.Map
			if tc.spec.Type != 0 {
				mp := newMap(t, tc.spec)
				if pm, ok := mp.(*maps.PerfEventArrayMap); ok {
					pm.OpenAll()
				}
				ms = append(ms, mp)
			}
			hs := New(nil)
			hs.Add(1001, vm.Helper{Name: "drain", Fn: func(m *vm.Machine, a vm.Args) (uint64, error) {
				mp, _ := m.MapAt(a[0])
				mp.(*maps.RingBufMap).Drain()
				return 0, nil
			}})
			m, err := vm.New(assemble(t, loop(tc.body)), vm.Config{Helpers: hs, Maps: ms, MaxOutput: 4096})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := m.Run(context.Background()); done <- err }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("run still going after 30s")
			}
			if !errors.Is(err, vm.ErrOutputLimit) || !strings.Contains(err.Error(), tc.helper) || !strings.Contains(err.Error(), "MaxOutput") {
				t.Fatalf("err = %v, want ErrOutputLimit naming %s and MaxOutput", err, tc.helper)
			}
			if st := hs.State(m); len(strings.Join(st.Printk, "")) > 4096 {
				t.Fatalf("%d bytes of printk kept past the 4096-byte limit", len(strings.Join(st.Printk, "")))
			}
		})
	}
}
