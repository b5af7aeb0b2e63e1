package helpers

import (
	"bytes"
	"encoding/binary"
	"syscall"
)

// Optional environments. An Env may implement any of these interfaces to
// inject more host state; helpers fall back to the documented defaults
// when it does not. Each is small so that a recording wrapper (which must
// forward and log every method) stays simple. The defaults are constants or
// derive from the Env's clock, so a run stays a function of its Env.

// ClockEnv supplies the clocks other than CLOCK_MONOTONIC and BOOTTIME.
// Default: all three are derived from KtimeNs (jiffies at HZ=250).
type ClockEnv interface {
	CoarseNs() uint64 // bpf_ktime_get_coarse_ns
	TaiNs() uint64    // bpf_ktime_get_tai_ns
	Jiffies() uint64  // bpf_jiffies64
}

// NUMAEnv supplies bpf_get_numa_node_id. Default: node 0.
type NUMAEnv interface {
	NUMANode() uint32
}

// TaskEnv describes the current task (bpf_get_current_*). Default: the
// DefaultTask values.
type TaskEnv interface {
	// PidTgid is tgid<<32 | pid, as bpf_get_current_pid_tgid returns it.
	PidTgid() uint64
	// UidGid is gid<<32 | uid, as bpf_get_current_uid_gid returns it.
	UidGid() uint64
	// Comm is the task's command name (at most 15 bytes are used).
	Comm() string
	// Task is the opaque task_struct address bpf_get_current_task returns.
	Task() uint64
}

// KernelMemory supplies the memory bpf_probe_read_* reads: host addresses
// that are not in the program's address space. ReadMemory fills dst from
// addr in the user (user is true) or kernel address space and returns nil,
// or the errno the kernel would give (EFAULT for an unmapped address).
// Default: nothing is mapped.
type KernelMemory interface {
	ReadMemory(addr uint64, dst []byte, user bool) error
}

// FibEnv answers bpf_fib_lookup. FibLookup receives the params struct as
// the program filled it, fills the output fields as the kernel would, and
// returns a BPF_FIB_LKUP_RET_* code or a negative errno. Default:
// BPF_FIB_LKUP_RET_NOT_FWDED with params unchanged.
type FibEnv interface {
	FibLookup(params *FibParams, flags uint32) int64
}

// StackEnv supplies call chains for bpf_get_stack and bpf_get_stackid.
// Default: no call chain, so both fail with -EFAULT as the kernel does
// without one.
type StackEnv interface {
	Stack(user bool) []uint64
}

// ProbeEnv describes the attach point of a tracing program. Default: 0 for
// both, what the kernel returns where no attach point applies.
type ProbeEnv interface {
	FuncIP() uint64       // bpf_get_func_ip
	AttachCookie() uint64 // bpf_get_attach_cookie
}

// TaskInfo is a TaskEnv with fixed values. Embed it in an Env to inject
// the current task.
type TaskInfo struct {
	Pid, Tgid uint32
	Uid, Gid  uint32
	Name      string // comm
	Addr      uint64 // task_struct address
}

// DefaultTask is the current task when the Env does not describe one.
var DefaultTask = TaskInfo{Pid: 1000, Tgid: 1000, Name: "bpfscope", Addr: 0xffff888000100000}

func (t TaskInfo) PidTgid() uint64 { return uint64(t.Tgid)<<32 | uint64(t.Pid) }
func (t TaskInfo) UidGid() uint64  { return uint64(t.Gid)<<32 | uint64(t.Uid) }
func (t TaskInfo) Comm() string    { return t.Name }
func (t TaskInfo) Task() uint64    { return t.Addr }

// Mapping is host memory at Addr for bpf_probe_read_*.
type Mapping struct {
	Addr uint64
	Data []byte
	User bool // user rather than kernel address space
}

// Memory is a KernelMemory made of mappings; a read must lie within one.
type Memory []Mapping

// ReadMemory implements KernelMemory.
func (mem Memory) ReadMemory(addr uint64, dst []byte, user bool) error {
	for _, mp := range mem {
		if mp.User != user || addr < mp.Addr {
			continue
		}
		off := addr - mp.Addr
		if off <= uint64(len(mp.Data)) && uint64(len(dst)) <= uint64(len(mp.Data))-off {
			copy(dst, mp.Data[off:])
			return nil
		}
	}
	return syscall.EFAULT
}

// FibParams is struct bpf_fib_lookup (64 bytes), in host byte order except
// where the kernel keeps network order (ports, addresses, h_vlan_proto,
// h_vlan_TCI, which the layout below leaves as raw bytes).
type FibParams struct {
	Family  uint8
	L4Proto uint8
	Sport   [2]byte // __be16
	Dport   [2]byte // __be16
	TotLen  uint16  // union with mtu_result
	Ifindex uint32
	TOS     uint32 // union with flowinfo, rt_metric
	Src     [16]byte
	Dst     [16]byte
	// h_vlan_proto and h_vlan_TCI, or tbid on input (BPF_FIB_LOOKUP_TBID).
	VlanProto [2]byte
	VlanTCI   [2]byte
	Smac      [6]byte
	Dmac      [6]byte
}

// FibParamsSize is sizeof(struct bpf_fib_lookup).
const FibParamsSize = 64

// UnmarshalBinary decodes the params struct from program memory.
func (p *FibParams) UnmarshalBinary(b []byte) error {
	if len(b) < FibParamsSize {
		return syscall.EINVAL
	}
	return binary.Read(bytes.NewReader(b[:FibParamsSize]), binary.LittleEndian, p)
}

// MarshalBinary encodes the params struct as the kernel lays it out.
func (p *FibParams) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// The host-state accessors below apply the defaults.

func (s *Set) task() TaskEnv {
	if t, ok := s.env.(TaskEnv); ok {
		return t
	}
	return DefaultTask
}

func (s *Set) memory() KernelMemory {
	if km, ok := s.env.(KernelMemory); ok {
		return km
	}
	return Memory(nil)
}

// jiffyNs is the length of a jiffy at HZ=250, the default-clock tick.
const jiffyNs = 4_000_000
