package ctx

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Raw is a context that is plain memory: r1 points to the ctx bytes. It
// serves the types whose context the kernel passes as it is (syscall,
// raw_tracepoint, kprobe, tracepoint) and any program type a user wants to
// feed arbitrary bytes.
type Raw struct {
	mem  []byte
	addr uint64
}

// RawOptions shape a Raw context.
type RawOptions struct {
	Name     string // region name, "ctx" if empty
	ReadOnly bool
	// Lo is the first readable offset (a tracepoint record's common
	// header is not readable).
	Lo       uint32
	Describe func(off uint32) string
}

// NewRaw maps ctx as plain memory; an empty ctx gives r1 = NULL.
func NewRaw(m *vm.Machine, ctx []byte, o RawOptions) *Raw {
	r := &Raw{mem: append([]byte(nil), ctx...)}
	if len(r.mem) == 0 {
		return r
	}
	name := o.Name
	if name == "" {
		name = "ctx"
	}
	desc := o.Describe
	if desc == nil {
		desc = func(off uint32) string { return fmt.Sprintf("%s+%d", name, off) }
	}
	r.addr = m.Map(&vm.Region{Name: name, Data: r.mem, ReadOnly: o.ReadOnly, Lo: o.Lo, Describe: desc, Kind: hooks.RegionCtx})
	m.SetSkb(nil)
	return r
}

// Arg is the ctx pointer.
func (r *Raw) Arg() uint64 { return r.addr }

// Bytes is the context memory as the program left it.
func (r *Raw) Bytes() []byte { return r.mem }

// Output implements Instance: the ctx bytes as ctx_out.
func (r *Raw) Output() Output {
	if len(r.mem) == 0 {
		return Output{}
	}
	return Output{Ctx: append([]byte(nil), r.mem...)}
}

// rawProvider serves a type whose ctx_in is plain memory.
type rawProvider struct {
	typ   ebpf.ProgramType
	check func(in Input) error
	opts  RawOptions
	out   bool // ctx comes back as ctx_out
}

func (p rawProvider) Type() ebpf.ProgramType { return p.typ }

func (p rawProvider) New(m *vm.Machine, in Input) (Instance, error) {
	if p.check != nil {
		if err := p.check(in); err != nil {
			return nil, err
		}
	}
	if p.typ == ebpf.RawTracepoint && m.Program() != nil {
		// bpf_prog_test_run_raw_tp: ctx_size_in must cover every
		// argument the program reads.
		if n := maxCtxOffsetOf(m.Program()); len(in.Ctx) < n {
			return nil, fmt.Errorf("raw_tracepoint: %d bytes of args, the program reads %d: %w", len(in.Ctx), n, ErrInvalidCtx)
		}
	}
	r := NewRaw(m, in.Ctx, p.opts)
	if !p.out {
		return noCtxOut{r}, nil
	}
	return r, nil
}

type noCtxOut struct{ *Raw }

func (noCtxOut) Output() Output { return Output{} }

// Limits of the raw-memory test runs (net/bpf/test_run.c).
const (
	maxRawTpArgs  = 12 // MAX_BPF_FUNC_ARGS
	maxSyscallCtx = 0xffff
	// PtRegsSize is sizeof(struct pt_regs) on x86-64.
	PtRegsSize = 168
	// PerfEventDataSize is sizeof(struct bpf_perf_event_data) on x86-64.
	PerfEventDataSize = 184
)

func noData(t string, in Input) error {
	if len(in.Data) != 0 {
		return fmt.Errorf("%s takes no data_in: %w", t, ErrInvalidData)
	}
	return nil
}

// PtRegs is struct pt_regs on x86-64, the kprobe context.
type PtRegs struct {
	R15, R14, R13, R12, BP, BX, R11, R10, R9, R8 uint64
	AX, CX, DX, SI, DI, OrigAX, IP, CS, Flags    uint64
	SP, SS                                       uint64
}

var ptRegsNames = []string{"r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8",
	"ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss"}

// Bytes encodes the registers as the kernel lays them out.
func (r *PtRegs) Bytes() []byte {
	b, _ := binary.Append(nil, binary.LittleEndian, r)
	return b
}

func describeRegs(prefix string) func(off uint32) string {
	return func(off uint32) string {
		if i := int(off / 8); i < len(ptRegsNames) {
			if off%8 != 0 {
				return fmt.Sprintf("ctx %s%s+%d", prefix, ptRegsNames[i], off%8)
			}
			return "ctx " + prefix + ptRegsNames[i]
		}
		switch off &^ 7 {
		case PtRegsSize:
			return "ctx sample_period"
		case PtRegsSize + 8:
			return "ctx addr"
		}
		return fmt.Sprintf("ctx+%d", off)
	}
}

func fixedSize(name string, size int) func(Input) error {
	return func(in Input) error {
		if err := noData(name, in); err != nil {
			return err
		}
		if len(in.Ctx) != size {
			return fmt.Errorf("%s: ctx of %d bytes, want %d: %w", name, len(in.Ctx), size, ErrInvalidCtx)
		}
		return nil
	}
}

func init() {
	Register(rawProvider{typ: ebpf.RawTracepoint, check: func(in Input) error {
		if err := noData("raw_tracepoint", in); err != nil {
			return err
		}
		if len(in.Ctx) > maxRawTpArgs*8 {
			return fmt.Errorf("raw_tracepoint: %d bytes of args exceed %d: %w", len(in.Ctx), maxRawTpArgs*8, ErrInvalidCtx)
		}
		return nil
	}, opts: RawOptions{Name: "args", ReadOnly: true, Describe: func(off uint32) string {
		if off%8 != 0 {
			return fmt.Sprintf("ctx args[%d]+%d", off/8, off%8)
		}
		return fmt.Sprintf("ctx args[%d]", off/8)
	}}})
	Register(rawProvider{typ: ebpf.Syscall, out: true, check: func(in Input) error {
		if err := noData("syscall", in); err != nil {
			return err
		}
		if len(in.Ctx) > maxSyscallCtx {
			return fmt.Errorf("syscall: ctx of %d bytes exceeds %d: %w", len(in.Ctx), maxSyscallCtx, ErrInvalidCtx)
		}
		return nil
	}})
	Register(rawProvider{typ: ebpf.Kprobe, check: fixedSize("kprobe", PtRegsSize),
		opts: RawOptions{Name: "pt_regs", ReadOnly: true, Describe: describeRegs("pt_regs.")}})
	Register(rawProvider{typ: ebpf.TracePoint, check: func(in Input) error { return noData("tracepoint", in) },
		opts: RawOptions{Name: "record", ReadOnly: true, Lo: 8}})
	Register(perfEventProvider{})
	Register(rawProvider{typ: ebpf.UnspecifiedProgram, out: true})
	Register(skLookupProvider{})
	Register(nfProvider{})
}

// perfEventProvider builds struct bpf_perf_event_data (regs, then
// sample_period and addr): registers only by whole 8-byte loads.
type perfEventProvider struct{}

func (perfEventProvider) Type() ebpf.ProgramType { return ebpf.PerfEvent }

func (perfEventProvider) New(m *vm.Machine, in Input) (Instance, error) {
	if err := fixedSize("perf_event", PerfEventDataSize)(in); err != nil {
		return nil, err
	}
	v := &perfView{mem: append([]byte(nil), in.Ctx...)}
	v.addr = m.Map(&vm.Region{Name: "bpf_perf_event_data", Data: v.mem, View: v, Describe: describeRegs("regs."), Kind: hooks.RegionCtx})
	m.SetSkb(nil)
	return v, nil
}

type perfView struct {
	mem  []byte
	addr uint64
}

func (v *perfView) Arg() uint64    { return v.addr }
func (v *perfView) Output() Output { return Output{} }

// Load implements pe_prog_is_valid_access: sample_period and addr allow
// narrow loads, the registers only 8-byte ones.
func (v *perfView) Load(off uint32, size int) (uint64, error) {
	ok := off < PerfEventDataSize && off%uint32(size) == 0
	if ok && off < PtRegsSize {
		ok = size == 8
	}
	if !ok {
		return 0, fmt.Errorf("invalid bpf_perf_event_data access off=%d size=%d", off, size)
	}
	var b [8]byte
	copy(b[:], v.mem[off:off+uint32(size)])
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (v *perfView) Store(off uint32, size int, _ uint64) error {
	return fmt.Errorf("bpf_perf_event_data is read-only (off=%d size=%d)", off, size)
}

// SkLookupSize is sizeof(struct bpf_sk_lookup).
const SkLookupSize = 72

// Offsets of struct bpf_sk_lookup fields.
const (
	slSk             = 0
	slFamily         = 8
	slProtocol       = 12
	slRemoteIP4      = 16
	slRemoteIP6      = 20
	slRemotePort     = 36
	slLocalIP4       = 40
	slLocalIP6       = 44
	slLocalPort      = 60
	slIngressIfindex = 64
)

var skLookupNames = map[uint32]string{slSk: "sk", slFamily: "family", slProtocol: "protocol",
	slRemoteIP4: "remote_ip4", slRemotePort: "remote_port", slLocalIP4: "local_ip4",
	slLocalPort: "local_port", slIngressIfindex: "ingress_ifindex"}

// SkLookup is the context of a BPF_PROG_TYPE_SK_LOOKUP test run: struct
// bpf_sk_lookup from ctx_in. No socket is ever selected, so sk reads NULL
// and the cookie in ctx_out is 0.
type SkLookup struct {
	in   [SkLookupSize]byte
	v6   bool
	addr uint64
}

// NewSkLookup maps an sk_lookup context: ctx_in is required, sk must be 0,
// family AF_INET or AF_INET6 (EAFNOSUPPORT), local_port at most 65535
// (ERANGE) and nothing after local_port may be set.
func NewSkLookup(m *vm.Machine, ctxIn []byte) (*SkLookup, error) {
	if ctxIn == nil {
		return nil, fmt.Errorf("sk_lookup: ctx_in is required: %w", ErrInvalidCtx)
	}
	if err := checkTailZero(ctxIn, SkLookupSize); err != nil {
		return nil, fmt.Errorf("bpf_sk_lookup ctx_in: %w", err)
	}
	s := &SkLookup{}
	copy(s.in[:], ctxIn)
	if binary.LittleEndian.Uint64(s.in[slSk:]) != 0 || !isZero(s.in[slLocalPort+4:]) {
		return nil, fmt.Errorf("bpf_sk_lookup ctx_in: sk and the fields after local_port must be 0: %w", ErrInvalidCtx)
	}
	if le32(s.in[:], slLocalPort) > 0xffff {
		return nil, fmt.Errorf("bpf_sk_lookup ctx_in: local_port %d (%w): %w", le32(s.in[:], slLocalPort), syscall.ERANGE, ErrInvalidCtx)
	}
	switch uint16(le32(s.in[:], slFamily)) {
	case afInet:
	case afInet6:
		s.v6 = true
	default:
		return nil, fmt.Errorf("bpf_sk_lookup ctx_in: family %d (%w): %w", le32(s.in[:], slFamily), syscall.EAFNOSUPPORT, ErrInvalidCtx)
	}
	s.addr = m.Map(&vm.Region{Name: "bpf_sk_lookup", Data: make([]byte, SkLookupSize), View: s, Describe: describeSkLookup, Kind: hooks.RegionCtx})
	m.SetSkb(nil)
	return s, nil
}

func describeSkLookup(off uint32) string {
	switch {
	case off >= slRemoteIP6 && off < slRemoteIP6+16:
		return "ctx bpf_sk_lookup." + arrayName("remote_ip6", off-slRemoteIP6)
	case off >= slLocalIP6 && off < slLocalIP6+16:
		return "ctx bpf_sk_lookup." + arrayName("local_ip6", off-slLocalIP6)
	}
	if n, ok := skLookupNames[off]; ok {
		return "ctx bpf_sk_lookup." + n
	}
	return fmt.Sprintf("ctx bpf_sk_lookup+%d", off)
}

// Arg is the ctx pointer.
func (s *SkLookup) Arg() uint64 { return s.addr }

// Output implements Instance: ctx_out is ctx_in with cookie 0.
func (s *SkLookup) Output() Output { return Output{Ctx: append([]byte(nil), s.in[:]...)} }

// Load implements vm.View (sk_lookup_is_valid_access and
// sk_lookup_convert_ctx_access).
func (s *SkLookup) Load(off uint32, size int) (uint64, error) {
	bad := fmt.Errorf("invalid bpf_sk_lookup access off=%d size=%d", off, size)
	if off >= SkLookupSize || off%uint32(size) != 0 {
		return 0, bad
	}
	in := func(start, n uint32) bool { return off >= start && off < start+n }
	field, target := off&^3, uint32(4)
	switch {
	case off == slSk:
		if size != 8 {
			return 0, bad
		}
		return 0, nil
	case in(slFamily, 8), in(slRemoteIP4, 4), in(slLocalIP4, 4), in(slRemoteIP6, 16), in(slLocalIP6, 16),
		in(slLocalPort, 4), in(slIngressIfindex, 4):
		if !narrowOK(off, size, 4) {
			return 0, bad
		}
		if in(slFamily, 8) || in(slLocalPort, 4) {
			target = 2
		}
	case in(slRemotePort, 4):
		if size != 4 && !narrowOK(off, size, 2) {
			return 0, bad
		}
		field, target = off&^1, 2
		if size == 4 {
			target = 4
		}
	default:
		return 0, bad
	}
	v := s.value(field)
	if uint32(size) < target {
		v = v >> (8 * (off - field)) & (1<<(8*size) - 1)
	}
	return v, nil
}

func (s *SkLookup) value(field uint32) uint64 {
	u := func(off uint32) uint64 { return uint64(le32(s.in[:], int(off))) }
	switch {
	case field == slFamily, field == slProtocol, field == slLocalPort:
		return u(field) & 0xffff
	case field == slRemotePort:
		return u(field) & 0xffff
	case field == slRemotePort+2, field == slIngressIfindex:
		return 0
	case field == slRemoteIP4 || field == slLocalIP4:
		if s.v6 {
			return 0
		}
		return u(field)
	case field >= slRemoteIP6 && field < slRemoteIP6+16, field >= slLocalIP6 && field < slLocalIP6+16:
		if !s.v6 {
			return 0
		}
		return u(field)
	}
	return 0
}

// Store implements vm.View: bpf_sk_lookup is read-only.
func (s *SkLookup) Store(off uint32, size int, _ uint64) error {
	return fmt.Errorf("bpf_sk_lookup is read-only (off=%d size=%d)", off, size)
}

type skLookupProvider struct{}

func (skLookupProvider) Type() ebpf.ProgramType { return ebpf.SkLookup }

func (skLookupProvider) New(m *vm.Machine, in Input) (Instance, error) {
	if err := noData("sk_lookup", in); err != nil {
		return nil, err
	}
	return NewSkLookup(m, in.Ctx)
}

// Netfilter hook state (struct nf_hook_state, 48 bytes on x86-64).
const (
	NfHookStateSize = 48
	nfprotoIPv4     = 2
	nfprotoIPv6     = 10
	nfInetLocalOut  = 3
)

// Netfilter is the context of a BPF_PROG_TYPE_NETFILTER test run: struct
// bpf_nf_ctx {state, skb}. state points to the nf_hook_state: hook, pf and
// the NULL pointers read as the kernel sets them, but with a ctx_in the
// kernel sets out to the loopback device (verify_and_copy_hook_state
// switches on the default hook), which is not modelled. skb points to the
// struct sk_buff, laid out by the kernel's BTF (see nfSkbImage for the
// fields modelled).
type Netfilter struct {
	SKB      *SKB
	State    [NfHookStateSize]byte
	ctxImage [16]byte
	addr     uint64
	data     []byte    // data_in
	types    *btf.Spec // the kernel BTF sk_buff is laid out by; nil: the running kernel's
}

// NewNetfilter maps a netfilter context. data must hold at least an IP
// header; ctxIn, if not nil, is an nf_hook_state with pf NFPROTO_IPV4 or
// NFPROTO_IPV6 and no pointers. Hooks other than LOCAL_OUT parse data as
// an Ethernet frame whose ethertype must match pf. types is the kernel
// BTF the program was relocated against (nil: the running kernel's).
func NewNetfilter(m *vm.Machine, data, ctxIn []byte, types *btf.Spec) (*Netfilter, error) {
	n := &Netfilter{data: append([]byte(nil), data...), types: types}
	n.State[0], n.State[1] = nfInetLocalOut, nfprotoIPv4
	if len(data) < 20 || len(data) > SkbMaxData {
		return nil, fmt.Errorf("netfilter: data_in of %d bytes is outside [20, %d]: %w", len(data), SkbMaxData, ErrInvalidData)
	}
	if ctxIn != nil {
		if err := checkTailZero(ctxIn, NfHookStateSize); err != nil {
			return nil, fmt.Errorf("nf_hook_state ctx_in: %w", err)
		}
		var in [NfHookStateSize]byte
		copy(in[:], ctxIn)
		if !isZero(in[8:]) {
			return nil, fmt.Errorf("nf_hook_state ctx_in: pointers must be 0: %w", ErrInvalidCtx)
		}
		if in[1] != nfprotoIPv4 && in[1] != nfprotoIPv6 {
			return nil, fmt.Errorf("nf_hook_state ctx_in: pf %d: %w", in[1], ErrInvalidCtx)
		}
		n.State[0], n.State[1] = in[0], in[1]
	}
	if n.State[0] != nfInetLocalOut {
		if len(data) < ethHeaderLen+20 {
			return nil, fmt.Errorf("netfilter: frame of %d bytes: %w", len(data), ErrInvalidData)
		}
		switch binary.BigEndian.Uint16(data[12:]) {
		case ethPIP:
			if n.State[1] != nfprotoIPv4 {
				return nil, fmt.Errorf("netfilter: IPv4 frame for pf %d: %w", n.State[1], ErrInvalidData)
			}
		case ethPIPv6:
			if len(data) < ethHeaderLen+40 || n.State[1] != nfprotoIPv6 {
				return nil, fmt.Errorf("netfilter: IPv6 frame of %d bytes for pf %d: %w", len(data), n.State[1], ErrInvalidData)
			}
		default:
			return nil, fmt.Errorf("netfilter: ethertype %#04x (%w): %w", binary.BigEndian.Uint16(data[12:]), syscall.EPROTO, ErrInvalidData)
		}
	}
	// The socket buffer is kept for helpers and kfuncs; its __sk_buff view
	// is not the program's to read.
	frame := data
	if n.State[0] == nfInetLocalOut {
		frame = append(make([]byte, ethHeaderLen), data...)
		proto := uint16(ethPIP)
		if n.State[1] == nfprotoIPv6 {
			proto = ethPIPv6
		}
		binary.BigEndian.PutUint16(frame[12:], proto)
	}
	skb, err := newSKBNoCheck(m, frame)
	if err != nil {
		return nil, err
	}
	n.SKB = skb
	st := newKmem("nf_hook_state", NfHookStateSize, describeHookState)
	st.setBytes(0, n.State[:2])
	st.setBytes(8, make([]byte, 8)) // in
	if ctxIn == nil {
		st.setBytes(16, make([]byte, 8)) // out
	}
	st.setBytes(24, make([]byte, 24)) // sk, net, okfn
	state := m.Map(&vm.Region{Name: "nf_hook_state", Data: st.img, View: st, Describe: describeHookState, Kind: hooks.RegionCtx})
	skbView := &nfSkbView{n: n}
	skbAddr := m.Map(&vm.Region{Name: "sk_buff", Data: make([]byte, 8), View: skbView, Describe: skbView.describe, Kind: hooks.RegionCtx})
	binary.LittleEndian.PutUint64(n.ctxImage[0:], state)
	binary.LittleEndian.PutUint64(n.ctxImage[8:], skbAddr)
	n.addr = m.Map(&vm.Region{Name: "bpf_nf_ctx", Data: n.ctxImage[:], ReadOnly: true, Stride: 8, Kind: hooks.RegionCtx, Describe: func(off uint32) string {
		if off < 8 {
			return "ctx bpf_nf_ctx.state"
		}
		return "ctx bpf_nf_ctx.skb"
	}})
	m.SetSkb(nil)
	return n, nil
}

func describeHookState(off uint32) string {
	switch {
	case off == 0:
		return "nf_hook_state.hook"
	case off == 1:
		return "nf_hook_state.pf"
	case off >= 8 && off < NfHookStateSize:
		name := [...]string{"in", "out", "sk", "net", "okfn"}[off/8-1]
		if off%8 != 0 {
			return fmt.Sprintf("nf_hook_state.%s+%d", name, off%8)
		}
		return "nf_hook_state." + name
	}
	return fmt.Sprintf("nf_hook_state+%d", off)
}

// Arg is the ctx pointer.
func (n *Netfilter) Arg() uint64 { return n.addr }

// Output implements Instance: the netfilter test run returns neither data
// nor ctx.
func (n *Netfilter) Output() Output { return Output{} }

// newSKBNoCheck builds a socket buffer for a frame without the skb test
// runner's ctx rules (netfilter's runner has its own).
func newSKBNoCheck(m *vm.Machine, frame []byte) (*SKB, error) {
	return NewSKB(m, ebpf.SocketFilter, frame, nil)
}

type nfProvider struct{}

func (nfProvider) Type() ebpf.ProgramType { return ebpf.Netfilter }

func (nfProvider) New(m *vm.Machine, in Input) (Instance, error) {
	return NewNetfilter(m, in.Data, in.Ctx, in.KernelTypes)
}
