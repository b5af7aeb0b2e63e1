package helpers

import (
	"fmt"
	"sync"
)

// EnvKind names the Env method a recorded value came from.
type EnvKind uint8

const (
	EnvKtime  EnvKind = iota + 1 // KtimeNs
	EnvBoot                      // BootNs
	EnvRandom                    // Random
	EnvCPU                       // CPU
)

var envKindNames = [...]string{"", "ktime_ns", "boot_ns", "random", "cpu"}

func (k EnvKind) String() string {
	if k > 0 && int(k) < len(envKindNames) {
		return envKindNames[k]
	}
	return fmt.Sprintf("EnvKind(%d)", uint8(k))
}

// EnvValue is one answer the environment gave.
type EnvValue struct {
	Kind  EnvKind
	Value uint64
}

// RecordingEnv is an Env that passes every question to another Env and
// logs the answers in order, so a run can be replayed with Replay.
//
// It implements each method explicitly rather than embedding Env: a method
// added to Env must be recorded too, and the compiler says so.
type RecordingEnv struct {
	env Env
	mu  sync.Mutex
	log []EnvValue
}

// Record returns an Env that records the answers of env (nil: a DefaultEnv).
func Record(env Env) *RecordingEnv {
	if env == nil {
		env = NewDefaultEnv()
	}
	return &RecordingEnv{env: env}
}

func (r *RecordingEnv) add(k EnvKind, v uint64) uint64 {
	r.mu.Lock()
	r.log = append(r.log, EnvValue{k, v})
	r.mu.Unlock()
	return v
}

func (r *RecordingEnv) KtimeNs() uint64 { return r.add(EnvKtime, r.env.KtimeNs()) }
func (r *RecordingEnv) BootNs() uint64  { return r.add(EnvBoot, r.env.BootNs()) }
func (r *RecordingEnv) Random() uint32  { return uint32(r.add(EnvRandom, uint64(r.env.Random()))) }
func (r *RecordingEnv) CPU() uint32     { return uint32(r.add(EnvCPU, uint64(r.env.CPU()))) }

// Log returns a copy of the values recorded so far.
func (r *RecordingEnv) Log() []EnvValue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]EnvValue(nil), r.log...)
}

// Reset forgets the values recorded so far, to record the next run.
func (r *RecordingEnv) Reset() {
	r.mu.Lock()
	r.log = r.log[:0]
	r.mu.Unlock()
}

// ReplayEnv answers from a log recorded by a RecordingEnv. Env methods
// cannot fail, so a question the log does not answer (the log is used up,
// or its next value came from another method) returns 0 and is kept as
// the error Err reports; the replay has diverged from the recording.
type ReplayEnv struct {
	mu   sync.Mutex
	log  []EnvValue
	next int
	err  error
}

// Replay returns an Env that plays log back.
func Replay(log []EnvValue) *ReplayEnv {
	return &ReplayEnv{log: log}
}

func (r *ReplayEnv) take(k EnvKind) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0
	}
	if r.next >= len(r.log) {
		r.err = fmt.Errorf("env replay: %s asked after the %d recorded values were used up", k, len(r.log))
		return 0
	}
	v := r.log[r.next]
	if v.Kind != k {
		r.err = fmt.Errorf("env replay: value %d is %s, but %s was asked", r.next, v.Kind, k)
		return 0
	}
	r.next++
	return v.Value
}

func (r *ReplayEnv) KtimeNs() uint64 { return r.take(EnvKtime) }
func (r *ReplayEnv) BootNs() uint64  { return r.take(EnvBoot) }
func (r *ReplayEnv) Random() uint32  { return uint32(r.take(EnvRandom)) }
func (r *ReplayEnv) CPU() uint32     { return uint32(r.take(EnvCPU)) }

// Err returns the first divergence from the log, or nil.
func (r *ReplayEnv) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Remaining returns how many recorded values were not asked for; a
// faithful replay uses them all.
func (r *ReplayEnv) Remaining() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log) - r.next
}

var (
	_ Env = (*RecordingEnv)(nil)
	_ Env = (*ReplayEnv)(nil)
)
