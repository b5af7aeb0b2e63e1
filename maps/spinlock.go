package maps

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// A bpf_spin_lock is a 4-byte word in a map value: 0 when free, 1 when
// held. Machines on different goroutines sharing a map take it with an
// atomic compare-and-swap, as CPUs do in the kernel; BPF_F_LOCK updates
// take it around their copy, as copy_map_value_locked does.

// SpinLockTimeout is how long SpinLock waits for a lock another run holds.
// The kernel's verifier guarantees a holder releases it quickly; without a
// verifier a holder may be paused or looping, so waiting ends with an error.
const SpinLockTimeout = 5 * time.Second

// ErrSpinLockTimeout is returned when a lock stays held past SpinLockTimeout.
var ErrSpinLockTimeout = errors.New("bpf_spin_lock held by another run for too long")

func lockWord(w []byte) (*uint32, error) {
	if len(w) < spinLockSize || uintptr(unsafe.Pointer(&w[0]))%spinLockSize != 0 {
		return nil, fmt.Errorf("bpf_spin_lock word of %d bytes or unaligned", len(w))
	}
	return (*uint32)(unsafe.Pointer(&w[0])), nil
}

// SpinLock takes the bpf_spin_lock whose word starts w, waiting while
// another run holds it, until ctx is done or SpinLockTimeout passes.
func SpinLock(ctx context.Context, w []byte) error {
	p, err := lockWord(w)
	if err != nil {
		return err
	}
	var deadline time.Time
	for i := 0; !atomic.CompareAndSwapUint32(p, 0, 1); i++ {
		runtime.Gosched()
		if i%1024 != 1023 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(SpinLockTimeout)
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%w (%v)", ErrSpinLockTimeout, SpinLockTimeout)
		}
	}
	return nil
}

// SpinUnlock releases the bpf_spin_lock whose word starts w.
func SpinUnlock(w []byte) {
	if p, err := lockWord(w); err == nil {
		atomic.StoreUint32(p, 0)
	}
}
