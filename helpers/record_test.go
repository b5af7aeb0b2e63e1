package helpers

import (
	"strings"
	"testing"
)

func TestRecordReplay(t *testing.T) {
	src := NewDefaultEnv()
	src.CPUID = 3
	rec := Record(src)
	want := []uint64{rec.KtimeNs(), uint64(rec.Random()), uint64(rec.CPU()), rec.BootNs(), uint64(rec.Random())}
	// DefaultEnv's clock starts at 1s and advances 1µs per reading; BootNs
	// reads the same clock.
	if want[0] != 1_000_000_000 || want[2] != 3 || want[3] != 1_000_001_000 {
		t.Fatalf("recorded %v", want)
	}
	log := rec.Log()
	if len(log) != 5 || log[1].Kind != EnvRandom || log[2].Kind != EnvCPU {
		t.Fatalf("log %v", log)
	}

	rep := Replay(log)
	got := []uint64{rep.KtimeNs(), uint64(rep.Random()), uint64(rep.CPU()), rep.BootNs(), uint64(rep.Random())}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d: replayed %d, recorded %d", i, got[i], want[i])
		}
	}
	if err := rep.Err(); err != nil || rep.Remaining() != 0 {
		t.Fatalf("err %v, remaining %d", err, rep.Remaining())
	}

	// Exhaustion is an error, and 0 is answered.
	if v := rep.CPU(); v != 0 {
		t.Errorf("exhausted CPU() = %d", v)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "used up") {
		t.Errorf("exhaustion error %v", err)
	}
}

func TestReplayMismatch(t *testing.T) {
	rep := Replay([]EnvValue{{Kind: EnvKtime, Value: 5}, {Kind: EnvCPU, Value: 1}})
	if rep.Random() != 0 {
		t.Error("mismatched question answered")
	}
	err := rep.Err()
	if err == nil || !strings.Contains(err.Error(), "value 0 is ktime_ns, but random was asked") {
		t.Fatalf("err %v", err)
	}
	// The first error sticks; later questions get 0.
	if rep.KtimeNs() != 0 || rep.Remaining() != 2 {
		t.Error("replay went on after a divergence")
	}
}

// The optional environments are recorded with the helpers' defaults when
// the wrapped Env lacks them.
func TestRecordOptional(t *testing.T) {
	rec := Record(NewDefaultEnv())
	comm, pid, jif := rec.Comm(), rec.PidTgid(), rec.Jiffies()
	if comm != DefaultTask.Name || pid != DefaultTask.PidTgid() || jif != 1_000_000_000/jiffyNs {
		t.Fatalf("comm %q pid %#x jiffies %d", comm, pid, jif)
	}
	rep := Replay(rec.Log())
	if rep.Comm() != comm || rep.PidTgid() != pid || rep.Jiffies() != jif || rep.Err() != nil {
		t.Fatalf("replayed differently: %v", rep.Err())
	}
}
