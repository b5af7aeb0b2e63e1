package ctx

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/pktfield"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// FlowKeysSize is sizeof(struct bpf_flow_keys).
const FlowKeysSize = 56

// Offsets of struct bpf_flow_keys fields.
const (
	fkNhoff  = 0
	fkThoff  = 2
	fkNProto = 10
	fkFlags  = 48
)

var flowKeyFields = []struct {
	off, size uint32
	name      string
}{
	{0, 2, "nhoff"}, {2, 2, "thoff"}, {4, 2, "addr_proto"}, {6, 1, "is_frag"},
	{7, 1, "is_first_frag"}, {8, 1, "is_encap"}, {9, 1, "ip_proto"}, {10, 2, "n_proto"},
	{12, 2, "sport"}, {14, 2, "dport"}, {16, 4, "ipv4_src"}, {20, 4, "ipv4_dst"},
	{24, 24, "ipv6"}, {48, 4, "flags"}, {52, 4, "flow_label"},
}

func describeFlowKeys(off uint32) string {
	for _, f := range flowKeyFields {
		if off >= f.off && off < f.off+f.size {
			if f.name == "ipv6" { // ipv6_src[4] @16, ipv6_dst[4] @32
				if off < 32 {
					return "flow_keys." + arrayName("ipv6_src", off-16)
				}
				return "flow_keys." + arrayName("ipv6_dst", off-32)
			}
			if off != f.off {
				return fmt.Sprintf("flow_keys.%s+%d", f.name, off-f.off)
			}
			return "flow_keys." + f.name
		}
	}
	return fmt.Sprintf("flow_keys+%d", off)
}

// flowPad keeps the frame's address off a 4 GiB boundary. __sk_buff.data
// is a 32-bit field, so clang tests it for NULL in 32 bits; a kernel
// buffer's low half is never zero, and a region's base is.
const flowPad = 64

// FlowDissector is the context of a BPF_PROG_TYPE_FLOW_DISSECTOR test run
// (bpf_prog_test_run_flow_dissector): the frame from its Ethernet header,
// read-only, and struct bpf_flow_keys preset with n_proto (the
// ethertype), nhoff = thoff = 14 and the flags of ctx_in. The program sees
// only __sk_buff.data, data_end and flow_keys.
type FlowDissector struct {
	pkt, keysAddr, ctxAddr uint64
	buf, data              []byte
	Keys                   [FlowKeysSize]byte
	ctxIn                  []byte
	fields                 pktfield.Cache
}

// NewFlowDissector maps a flow dissector context. ctxIn, if not nil, is a
// struct bpf_flow_keys in which only flags may be set.
func NewFlowDissector(m *vm.Machine, data, ctxIn []byte) (*FlowDissector, error) {
	if len(data) < ethHeaderLen || len(data) > 4096 {
		return nil, fmt.Errorf("flow_dissector: data_in of %d bytes is outside [%d, 4096]: %w", len(data), ethHeaderLen, ErrInvalidData)
	}
	f := &FlowDissector{buf: make([]byte, flowPad+len(data))}
	f.data = f.buf[flowPad:]
	copy(f.data, data)
	var flags uint32
	if ctxIn != nil {
		if err := checkTailZero(ctxIn, FlowKeysSize); err != nil {
			return nil, fmt.Errorf("bpf_flow_keys ctx_in: %w", err)
		}
		var in [FlowKeysSize]byte
		copy(in[:], ctxIn)
		if !isZero(in[:fkFlags]) || !isZero(in[fkFlags+4:]) {
			return nil, fmt.Errorf("bpf_flow_keys ctx_in: only flags may be set: %w", ErrInvalidCtx)
		}
		flags = le32(in[:], fkFlags)
		f.ctxIn = in[:]
	}
	binary.LittleEndian.PutUint16(f.Keys[fkNhoff:], ethHeaderLen)
	binary.LittleEndian.PutUint16(f.Keys[fkThoff:], ethHeaderLen)
	copy(f.Keys[fkNProto:], data[12:14])
	binary.LittleEndian.PutUint32(f.Keys[fkFlags:], flags)

	f.pkt = m.Map(&vm.Region{Name: "pkt", Data: f.buf, Lo: flowPad, ReadOnly: true, Kind: hooks.RegionPacket, Origin: flowPad, Describe: func(off uint32) string {
		return fmt.Sprintf("pkt+%d", off-flowPad)
	}}) + flowPad
	f.nameFields(m)
	f.keysAddr = m.Map(&vm.Region{Name: "flow_keys", Data: f.Keys[:], Describe: describeFlowKeys, Kind: hooks.RegionCtx})
	f.ctxAddr = m.Map(&vm.Region{Name: "__sk_buff", Data: make([]byte, SkbSize), View: f, Kind: hooks.RegionCtx, Describe: func(off uint32) string {
		return "ctx __sk_buff." + skbFieldName(off)
	}})
	m.SetSkb(nil)
	return f, nil
}

// Arg is the ctx pointer the program receives in r1.
func (f *FlowDissector) Arg() uint64 { return f.ctxAddr }

// Data is the frame the program dissects.
func (f *FlowDissector) Data() []byte { return f.data }

// Load implements vm.View (flow_dissector_is_valid_access).
func (f *FlowDissector) Load(off uint32, size int) (uint64, error) {
	switch {
	case off == skbData && size == 4:
		return f.pkt, nil
	case off == skbDataEnd && size == 4:
		return f.pkt + uint64(len(f.data)), nil
	case off == skbFlowKeys && size == 8:
		return f.keysAddr, nil
	}
	return 0, fmt.Errorf("flow_dissector may not read %d bytes of __sk_buff.%s", size, skbFieldName(off))
}

// Store implements vm.View: the context is read-only.
func (f *FlowDissector) Store(off uint32, size int, _ uint64) error {
	return fmt.Errorf("flow_dissector may not write __sk_buff.%s", skbFieldName(off))
}

// Output implements Instance: data_out is the flow keys, with nhoff
// clamped to [14, len] and thoff to [nhoff, len] as bpf_flow_dissect
// does; ctx_out is ctx_in unchanged.
func (f *FlowDissector) Output() Output {
	k := f.Keys
	hlen := uint16(len(f.data))
	nh := clamp(binary.LittleEndian.Uint16(k[fkNhoff:]), ethHeaderLen, hlen)
	th := clamp(binary.LittleEndian.Uint16(k[fkThoff:]), nh, hlen)
	binary.LittleEndian.PutUint16(k[fkNhoff:], nh)
	binary.LittleEndian.PutUint16(k[fkThoff:], th)
	out := Output{Data: k[:]}
	if f.ctxIn != nil {
		out.Ctx = append([]byte(nil), f.ctxIn...)
	}
	return out
}

func clamp(v, lo, hi uint16) uint16 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

type flowProvider struct{}

func (flowProvider) Type() ebpf.ProgramType { return ebpf.FlowDissector }

func (flowProvider) New(m *vm.Machine, in Input) (Instance, error) {
	return NewFlowDissector(m, in.Data, in.Ctx)
}

func init() { Register(flowProvider{}) }

// nameFields lets traces name packet bytes by header field.
func (f *FlowDissector) nameFields(m *vm.Machine) {
	r, _, ok := m.RegionAt(f.pkt)
	if !ok {
		return
	}
	r.Field = func(off uint32, size int) string {
		if off < flowPad || int(off-flowPad) >= len(f.data) {
			return ""
		}
		return f.fields.Name(f.data, int(off-flowPad), size)
	}
}
