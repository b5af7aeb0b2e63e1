package helpers

import (
	"fmt"
	"sync"
)

// EnvKind names the Env method a recorded value came from.
type EnvKind uint8

const (
	EnvKtime        EnvKind = iota + 1 // KtimeNs
	EnvBoot                            // BootNs
	EnvRandom                          // Random
	EnvCPU                             // CPU
	EnvCoarse                          // ClockEnv.CoarseNs
	EnvTai                             // ClockEnv.TaiNs
	EnvJiffies                         // ClockEnv.Jiffies
	EnvNUMANode                        // NUMAEnv.NUMANode
	EnvPidTgid                         // TaskEnv.PidTgid
	EnvUidGid                          // TaskEnv.UidGid
	EnvComm                            // TaskEnv.Comm, in Data
	EnvTask                            // TaskEnv.Task
	EnvFuncIP                          // ProbeEnv.FuncIP
	EnvCookie                          // ProbeEnv.AttachCookie
	EnvMemory                          // KernelMemory.ReadMemory: address; Data: user, errno, bytes
	EnvFib                             // FibEnv.FibLookup: result; Data: params in and out
	EnvStack                           // StackEnv.Stack: user; Data: the addresses
	EnvSkbHash                         // SkbEnv.SkbHash
	EnvSocketCookie                    // SkbEnv.SocketCookie
	EnvClassid                         // SkbEnv.CgroupClassid
	EnvCgroupID                        // SkbEnv.SkbCgroupID
)

var envKindNames = []string{"", "ktime_ns", "boot_ns", "random", "cpu", "coarse_ns", "tai_ns", "jiffies",
	"numa_node", "pid_tgid", "uid_gid", "comm", "task", "func_ip", "attach_cookie",
	"memory", "fib", "stack", "skb_hash", "socket_cookie", "cgroup_classid", "skb_cgroup_id"}

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
	Data  []byte // EnvComm: the name
}

// RecordingEnv is an Env that passes every question to another Env and
// logs the answers in order, so a run can be replayed with Replay.
//
// It also implements every optional interface (ClockEnv, NUMAEnv,
// TaskEnv, ProbeEnv, KernelMemory, FibEnv, StackEnv, SkbEnv, and those of
// record_net.go), answering
// with the wrapped Env's values when it implements them and with the
// helpers' documented defaults otherwise, so those answers are recorded
// too: kernel memory a probe read, FIB results, call chains, skb hashes.
//
// It implements each method explicitly rather than embedding Env: a method
// added to Env must be recorded too, and the compiler says so.
type RecordingEnv struct {
	env Env
	mu  sync.Mutex
	log []EnvValue
	conntrackHolder
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
	r.log = append(r.log, EnvValue{Kind: k, Value: v})
	r.mu.Unlock()
	return v
}

func (r *RecordingEnv) KtimeNs() uint64 { return r.add(EnvKtime, r.env.KtimeNs()) }
func (r *RecordingEnv) BootNs() uint64  { return r.add(EnvBoot, r.env.BootNs()) }
func (r *RecordingEnv) Random() uint32  { return uint32(r.add(EnvRandom, uint64(r.env.Random()))) }
func (r *RecordingEnv) CPU() uint32     { return uint32(r.add(EnvCPU, uint64(r.env.CPU()))) }

func (r *RecordingEnv) CoarseNs() uint64 {
	if c, ok := r.env.(ClockEnv); ok {
		return r.add(EnvCoarse, c.CoarseNs())
	}
	return r.add(EnvCoarse, r.env.KtimeNs())
}

func (r *RecordingEnv) TaiNs() uint64 {
	if c, ok := r.env.(ClockEnv); ok {
		return r.add(EnvTai, c.TaiNs())
	}
	return r.add(EnvTai, r.env.KtimeNs())
}

func (r *RecordingEnv) Jiffies() uint64 {
	if c, ok := r.env.(ClockEnv); ok {
		return r.add(EnvJiffies, c.Jiffies())
	}
	return r.add(EnvJiffies, r.env.KtimeNs()/jiffyNs)
}

func (r *RecordingEnv) NUMANode() uint32 {
	var v uint32
	if n, ok := r.env.(NUMAEnv); ok {
		v = n.NUMANode()
	}
	return uint32(r.add(EnvNUMANode, uint64(v)))
}

func (r *RecordingEnv) task() TaskEnv {
	if t, ok := r.env.(TaskEnv); ok {
		return t
	}
	return DefaultTask
}

func (r *RecordingEnv) PidTgid() uint64 { return r.add(EnvPidTgid, r.task().PidTgid()) }
func (r *RecordingEnv) UidGid() uint64  { return r.add(EnvUidGid, r.task().UidGid()) }
func (r *RecordingEnv) Task() uint64    { return r.add(EnvTask, r.task().Task()) }

func (r *RecordingEnv) Comm() string {
	c := r.task().Comm()
	r.mu.Lock()
	r.log = append(r.log, EnvValue{Kind: EnvComm, Data: []byte(c)})
	r.mu.Unlock()
	return c
}

func (r *RecordingEnv) FuncIP() uint64 {
	var v uint64
	if p, ok := r.env.(ProbeEnv); ok {
		v = p.FuncIP()
	}
	return r.add(EnvFuncIP, v)
}

func (r *RecordingEnv) AttachCookie() uint64 {
	var v uint64
	if p, ok := r.env.(ProbeEnv); ok {
		v = p.AttachCookie()
	}
	return r.add(EnvCookie, v)
}

// Log returns a copy of the values recorded so far.
func (r *RecordingEnv) Log() []EnvValue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]EnvValue(nil), r.log...)
}

// AppendLog appends the values recorded so far to dst: Log without a new
// slice per run, for a recorder that keeps every run.
func (r *RecordingEnv) AppendLog(dst []EnvValue) []EnvValue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(dst, r.log...)
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
	mu    sync.Mutex
	log   []EnvValue
	owned bool // log is ours to reuse (Feed)
	next  int
	err   error
	ct    *Conntrack
}

// Replay returns an Env that plays log back.
func Replay(log []EnvValue) *ReplayEnv {
	return &ReplayEnv{log: log}
}

// Feed appends the values of the next run to the log, dropping those
// already used: a replay of many runs gives each run its values as it
// comes to it, and keeps the state the environment holds (conntrack).
func (r *ReplayEnv) Feed(log []EnvValue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rest := r.log[r.next:]
	if r.owned {
		r.log = r.log[:copy(r.log, rest)]
	} else { // the slice Replay was given is the caller's
		r.log, r.owned = append([]EnvValue(nil), rest...), true
	}
	r.log = append(r.log, log...)
	r.next = 0
}

func (r *ReplayEnv) take(k EnvKind) uint64 { return r.takeValue(k).Value }

func (r *ReplayEnv) takeValue(k EnvKind) EnvValue {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return EnvValue{}
	}
	if r.next >= len(r.log) {
		r.err = fmt.Errorf("env replay: %s asked after the %d recorded values were used up", k, len(r.log))
		return EnvValue{}
	}
	v := r.log[r.next]
	if v.Kind != k {
		r.err = fmt.Errorf("env replay: value %d is %s, but %s was asked", r.next, v.Kind, k)
		return EnvValue{}
	}
	r.next++
	return v
}

func (r *ReplayEnv) KtimeNs() uint64 { return r.take(EnvKtime) }
func (r *ReplayEnv) BootNs() uint64  { return r.take(EnvBoot) }
func (r *ReplayEnv) Random() uint32  { return uint32(r.take(EnvRandom)) }
func (r *ReplayEnv) CPU() uint32     { return uint32(r.take(EnvCPU)) }

func (r *ReplayEnv) CoarseNs() uint64     { return r.take(EnvCoarse) }
func (r *ReplayEnv) TaiNs() uint64        { return r.take(EnvTai) }
func (r *ReplayEnv) Jiffies() uint64      { return r.take(EnvJiffies) }
func (r *ReplayEnv) NUMANode() uint32     { return uint32(r.take(EnvNUMANode)) }
func (r *ReplayEnv) PidTgid() uint64      { return r.take(EnvPidTgid) }
func (r *ReplayEnv) UidGid() uint64       { return r.take(EnvUidGid) }
func (r *ReplayEnv) Task() uint64         { return r.take(EnvTask) }
func (r *ReplayEnv) Comm() string         { return string(r.takeValue(EnvComm).Data) }
func (r *ReplayEnv) FuncIP() uint64       { return r.take(EnvFuncIP) }
func (r *ReplayEnv) AttachCookie() uint64 { return r.take(EnvCookie) }

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

// fullEnv is every interface a recording must answer for.
type fullEnv interface {
	Env
	ClockEnv
	NUMAEnv
	TaskEnv
	ProbeEnv
	KernelMemory
	FibEnv
	StackEnv
	SkbEnv
}

var (
	_ fullEnv = (*RecordingEnv)(nil)
	_ fullEnv = (*ReplayEnv)(nil)
)
