package helpers

// Env is the host state helpers report. Implementations must be
// deterministic for a given configuration, so a recorded run replays.
type Env interface {
	// KtimeNs is bpf_ktime_get_ns (CLOCK_MONOTONIC).
	KtimeNs() uint64
	// BootNs is bpf_ktime_get_boot_ns (CLOCK_BOOTTIME).
	BootNs() uint64
	// Random is bpf_get_prandom_u32.
	Random() uint32
	// CPU is bpf_get_smp_processor_id; per-CPU maps use it too.
	CPU() uint32
}

// DefaultEnv is a deterministic environment: a clock that starts at Start and
// advances Step nanoseconds per reading, a seeded xorshift random source,
// and a fixed CPU.
type DefaultEnv struct {
	Start, Step uint64
	Seed        uint64
	CPUID       uint32

	now   uint64
	state uint64
}

// NewDefaultEnv returns a DefaultEnv with a clock at 1s advancing 1µs per
// reading, seed 1 and CPU 0.
func NewDefaultEnv() *DefaultEnv {
	return &DefaultEnv{Start: 1_000_000_000, Step: 1000, Seed: 1}
}

func (e *DefaultEnv) KtimeNs() uint64 {
	if e.now == 0 {
		e.now = e.Start
	}
	t := e.now
	e.now += e.Step
	return t
}

func (e *DefaultEnv) BootNs() uint64 { return e.KtimeNs() }

func (e *DefaultEnv) Random() uint32 {
	if e.state == 0 {
		e.state = e.Seed | 1
	}
	// xorshift64*: small, fast and fully determined by the seed.
	e.state ^= e.state >> 12
	e.state ^= e.state << 25
	e.state ^= e.state >> 27
	return uint32((e.state * 0x2545F4914F6CDD1D) >> 32)
}

func (e *DefaultEnv) CPU() uint32 { return e.CPUID }
