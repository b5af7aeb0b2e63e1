package pipeline

import (
	"errors"
	"sync/atomic"
	"testing"
)

// numbers is a batch of consecutive numbers and their squares.
type numbers struct {
	first, n int
	squares  []int
	worker   int
}

// count fills batches of up to size numbers from 0 to total-1.
func count(total, size int, next *int) func(b *numbers) bool {
	return func(b *numbers) bool {
		b.first, b.n = *next, min(size, total-*next)
		*next += b.n
		return *next == total
	}
}

func square(w int, b *numbers) {
	b.worker = w
	b.squares = b.squares[:0]
	for i := range b.n {
		x := b.first + i
		b.squares = append(b.squares, x*x)
	}
}

// TestOrder: every batch is worked on once and emitted in input order,
// whatever the number of workers, and more than one worker works.
func TestOrder(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 3, 8} {
		next, emitted := 0, 0
		busy := map[int]bool{}
		err := Run(workers, Stages[numbers]{
			Fill: count(10007, 13, &next),
			Work: square,
			Emit: func(b *numbers) error {
				if b.first != emitted {
					t.Fatalf("%d workers: batch from %d emitted after %d numbers", workers, b.first, emitted)
				}
				for i, sq := range b.squares {
					if x := b.first + i; sq != x*x {
						t.Fatalf("%d workers: %d squared is %d", workers, x, sq)
					}
				}
				emitted += b.n
				busy[b.worker] = true
				return nil
			},
		})
		if err != nil || emitted != 10007 {
			t.Errorf("%d workers: %d numbers emitted, error %v", workers, emitted, err)
		}
		if workers >= 2 && len(busy) < 2 {
			t.Logf("%d workers: only worker(s) %v worked (possible on a busy machine)", workers, busy)
		}
	}
}

// TestNoEmit: without Emit every batch is worked on once.
func TestNoEmit(t *testing.T) {
	var sum atomic.Int64
	next := 0
	err := Run(3, Stages[numbers]{
		Fill: count(1000, 7, &next),
		Work: func(w int, b *numbers) {
			square(w, b)
			for _, sq := range b.squares {
				sum.Add(int64(sq))
			}
		},
	})
	if want := int64(999 * 1000 * 1999 / 6); err != nil || sum.Load() != want {
		t.Errorf("sum of squares %d, want %d (error %v)", sum.Load(), want, err)
	}
}

// TestEmitError: an error from Emit stops the filling and comes back
// from Run, after which no worker runs.
func TestEmitError(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		boom := errors.New("boom")
		next, emits := 0, 0
		var working atomic.Int32
		err := Run(workers, Stages[numbers]{
			Fill: count(1<<30, 5, &next),
			Work: func(w int, b *numbers) {
				working.Add(1)
				square(w, b)
				working.Add(-1)
			},
			Emit: func(b *numbers) error {
				if emits++; emits == 10 {
					return boom
				}
				return nil
			},
		})
		if err != boom {
			t.Errorf("%d workers: error %v, want %v", workers, err, boom)
		}
		if filled := next / 5; filled > 10+2*workers+1 {
			t.Errorf("%d workers: %d batches filled for an error at the 10th", workers, filled)
		}
		if working.Load() != 0 {
			t.Errorf("%d workers: a worker still runs after Run returned", workers)
		}
	}
}

// TestEmpty: an input that ends at once is one (empty) batch.
func TestEmpty(t *testing.T) {
	emits := 0
	err := Run(2, Stages[numbers]{
		Fill: func(b *numbers) bool { return true },
		Work: square,
		Emit: func(b *numbers) error { emits++; return nil },
	})
	if err != nil || emits != 1 {
		t.Errorf("%d batches emitted, error %v", emits, err)
	}
}
