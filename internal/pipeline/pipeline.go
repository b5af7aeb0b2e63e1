// Package pipeline runs an input in batches on several workers, and hands
// the batches on in input order when the order matters.
//
// There is no reader goroutine: a worker fills its next batch itself,
// under a lock, then works on it. The batch's bytes are then in the cache
// of the core that works on them, and on a machine with as many cores as
// workers no goroutine waits for a core. Batches are allocated once and
// used again: the pipeline allocates nothing per batch.
package pipeline

import (
	"sync"
)

// Stages is what Run does with batches of type B.
type Stages[B any] struct {
	// Fill fills b with the next part of the input. Calls are one at a
	// time, in input order. last reports the end of the input: b is
	// worked on and emitted, and Fill is not called again.
	Fill func(b *B) (last bool)
	// Work works on a filled batch on worker w (0 <= w < workers).
	// Workers run at once, each on batches of its own.
	Work func(w int, b *B)
	// Emit, if not nil, gets every batch once it is worked on, in input
	// order, on the goroutine that called Run; the batch is filled
	// again after Emit returns. An error stops the run: no batch is
	// filled after it, and Run returns it once the workers are done.
	Emit func(b *B) error
}

// slot is a batch with the signal that its work is done.
type slot[B any] struct {
	b      B
	worked chan struct{}
}

// Run runs the input through s on the given number of workers (at least
// one), and returns when every batch filled is worked on (and emitted).
func Run[B any](workers int, s Stages[B]) error {
	workers = max(workers, 1)
	slots := workers // one each: nobody waits for a batch to be emitted
	if s.Emit != nil {
		// A batch being filled or worked on, and one waiting to be
		// emitted, per worker; and the one being emitted.
		slots = 2*workers + 1
	}
	free := make(chan *slot[B], slots)
	for range slots {
		free <- &slot[B]{worked: make(chan struct{}, 1)}
	}
	order := make(chan *slot[B], slots) // never blocks: it holds every slot
	stop := make(chan struct{})
	var (
		mu   sync.Mutex // over Fill, done and the order of order
		done bool
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for {
				var sl *slot[B]
				select {
				case sl = <-free:
				case <-stop:
					return
				}
				mu.Lock()
				if done || stopped(stop) {
					mu.Unlock()
					return
				}
				done = s.Fill(&sl.b)
				if s.Emit != nil {
					order <- sl
				}
				mu.Unlock()
				s.Work(w, &sl.b)
				if s.Emit != nil {
					sl.worked <- struct{}{}
				} else {
					free <- sl
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(order)
	}()
	var err error
	for sl := range order {
		if err != nil {
			continue // let the workers finish theirs
		}
		<-sl.worked
		if err = s.Emit(&sl.b); err != nil {
			close(stop)
			continue
		}
		free <- sl
	}
	return err
}

func stopped(stop chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
