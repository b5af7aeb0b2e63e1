package helpers

import (
	"errors"
	"strings"
	"syscall"
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

// hostEnv answers the data-carrying questions with fixed values.
type hostEnv struct {
	*DefaultEnv
	Memory
}

func (hostEnv) FibLookup(p *FibParams, flags uint32) int64 {
	p.Ifindex, p.Smac, p.Dmac = 7, [6]byte{2, 0, 0, 0, 0, 1}, [6]byte{2, 0, 0, 0, 0, 2}
	return 0 // BPF_FIB_LKUP_RET_SUCCESS
}
func (hostEnv) Stack(user bool) []uint64 {
	if user {
		return []uint64{0x401000}
	}
	return []uint64{0xffffffff81000010, 0xffffffff81000020}
}
func (hostEnv) SkbHash(l3 []byte) uint32 { return 0xabcd }
func (hostEnv) SocketCookie() uint64     { return 42 }
func (hostEnv) CgroupClassid() uint32    { return 3 }
func (hostEnv) SkbCgroupID() uint64      { return 9 }

// Kernel memory, FIB results, call chains and skb values are recorded with
// the questions asked, and replayed only for the same questions.
func TestRecordHostAnswers(t *testing.T) {
	env := hostEnv{NewDefaultEnv(), Memory{{Addr: 0xffff0000, Data: []byte("kernel")}}}
	rec := Record(env)
	buf := make([]byte, 3)
	errOK := rec.ReadMemory(0xffff0001, buf, false)
	errBad := rec.ReadMemory(0x10, make([]byte, 2), false)
	in := FibParams{Family: 2, Dst: [16]byte{10, 0, 0, 1}}
	p := in
	ret := rec.FibLookup(&p, 0)
	kstack, ustack := rec.Stack(false), rec.Stack(true)
	if errOK != nil || string(buf) != "ern" || !errors.Is(errBad, syscall.EFAULT) || ret != 0 || p.Ifindex != 7 || len(kstack) != 2 {
		t.Fatalf("recording changed the answers: %v %q %v %d %d %v", errOK, buf, errBad, ret, p.Ifindex, kstack)
	}
	hash, cookie := rec.SkbHash([]byte{0x45}), rec.SocketCookie()

	rep := Replay(rec.Log())
	buf2 := make([]byte, 3)
	if err := rep.ReadMemory(0xffff0001, buf2, false); err != nil || string(buf2) != "ern" {
		t.Fatalf("replayed read: %v %q", err, buf2)
	}
	if err := rep.ReadMemory(0x10, make([]byte, 2), false); !errors.Is(err, syscall.EFAULT) {
		t.Fatalf("replayed failing read: %v", err)
	}
	p2 := in
	if r := rep.FibLookup(&p2, 0); r != 0 || p2 != p {
		t.Fatalf("replayed fib: %d %+v", r, p2)
	}
	if k, u := rep.Stack(false), rep.Stack(true); len(k) != 2 || k[1] != kstack[1] || len(u) != 1 || u[0] != ustack[0] {
		t.Fatalf("replayed stacks %x %x", k, u)
	}
	if rep.SkbHash(nil) != hash || rep.SocketCookie() != cookie || rep.Err() != nil || rep.Remaining() != 0 {
		t.Fatalf("replayed skb values, err %v, %d left", rep.Err(), rep.Remaining())
	}

	// Another question than the recorded one is a divergence.
	rep = Replay(rec.Log())
	if rep.ReadMemory(0xffff0002, make([]byte, 3), false) == nil || rep.Err() == nil {
		t.Fatal("a read at another address replayed without error")
	}
	rep = Replay(rec.Log()[2:])
	other := FibParams{Family: 2, Dst: [16]byte{10, 0, 0, 9}}
	if rep.FibLookup(&other, 0); rep.Err() == nil {
		t.Fatal("a lookup of another address replayed without error")
	}

	// Without the optional interfaces the defaults are recorded.
	plain := Record(NewDefaultEnv())
	if plain.ReadMemory(0xffff0000, make([]byte, 1), false) == nil || plain.Stack(false) != nil ||
		plain.FibLookup(&FibParams{}, 0) != FibRetNotForwarded || plain.SocketCookie() != 1 {
		t.Fatal("defaults differ under a RecordingEnv")
	}
}
