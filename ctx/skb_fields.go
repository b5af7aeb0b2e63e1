package ctx

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
)

// Offsets of struct __sk_buff fields (include/uapi/linux/bpf.h).
const (
	skbLen            = 0
	skbPktType        = 4
	skbMark           = 8
	skbQueueMapping   = 12
	skbProtocol       = 16
	skbVlanPresent    = 20
	skbVlanTCI        = 24
	skbVlanProto      = 28
	skbPriority       = 32
	skbIngressIfindex = 36
	skbIfindex        = 40
	skbTCIndex        = 44
	skbCB             = 48 // cb[5]
	skbHash           = 68
	skbTCClassid      = 72
	skbData           = 76
	skbDataEnd        = 80
	skbNapiID         = 84
	skbFamily         = 88
	skbRemoteIP4      = 92
	skbLocalIP4       = 96
	skbRemoteIP6      = 100 // [4]
	skbLocalIP6       = 116 // [4]
	skbRemotePort     = 132
	skbLocalPort      = 136
	skbDataMeta       = 140
	skbFlowKeys       = 144 // u64 pointer
	skbTstamp         = 152 // u64
	skbWireLen        = 160
	skbGSOSegs        = 164
	skbSk             = 168 // u64 pointer
	skbGSOSize        = 176
	skbTstampType     = 180 // u8
	skbHwtstamp       = 184 // u64
)

var skbFieldNames = map[uint32]string{
	skbLen: "len", skbPktType: "pkt_type", skbMark: "mark", skbQueueMapping: "queue_mapping",
	skbProtocol: "protocol", skbVlanPresent: "vlan_present", skbVlanTCI: "vlan_tci",
	skbVlanProto: "vlan_proto", skbPriority: "priority", skbIngressIfindex: "ingress_ifindex",
	skbIfindex: "ifindex", skbTCIndex: "tc_index", skbHash: "hash", skbTCClassid: "tc_classid",
	skbData: "data", skbDataEnd: "data_end", skbNapiID: "napi_id", skbFamily: "family",
	skbRemoteIP4: "remote_ip4", skbLocalIP4: "local_ip4", skbRemotePort: "remote_port",
	skbLocalPort: "local_port", skbDataMeta: "data_meta", skbFlowKeys: "flow_keys",
	skbTstamp: "tstamp", skbWireLen: "wire_len", skbGSOSegs: "gso_segs", skbSk: "sk",
	skbGSOSize: "gso_size", skbTstampType: "tstamp_type", skbHwtstamp: "hwtstamp",
}

// skbFieldName names the __sk_buff field at off: "mark", "cb[2]",
// "remote_ip6[1]", "tstamp+4".
func skbFieldName(off uint32) string {
	switch {
	case off >= skbCB && off < skbCB+20:
		return arrayName("cb", off-skbCB)
	case off >= skbRemoteIP6 && off < skbRemoteIP6+16:
		return arrayName("remote_ip6", off-skbRemoteIP6)
	case off >= skbLocalIP6 && off < skbLocalIP6+16:
		return arrayName("local_ip6", off-skbLocalIP6)
	}
	start, _ := skbField(off)
	name, ok := skbFieldNames[start]
	if !ok {
		return fmt.Sprintf("+%d", off)
	}
	if off != start {
		return fmt.Sprintf("%s+%d", name, off-start)
	}
	return name
}

func arrayName(name string, rel uint32) string {
	if rel%4 == 0 {
		return fmt.Sprintf("%s[%d]", name, rel/4)
	}
	return fmt.Sprintf("%s[%d]+%d", name, rel/4, rel%4)
}

// skbField returns the start and size of the field containing off.
func skbField(off uint32) (start, size uint32) {
	switch {
	case off >= skbFlowKeys && off < skbFlowKeys+8,
		off >= skbTstamp && off < skbTstamp+8,
		off >= skbSk && off < skbSk+8,
		off >= skbHwtstamp && off < skbHwtstamp+8:
		return off &^ 7, 8
	case off == skbTstampType:
		return off, 1
	case off > skbTstampType && off < skbHwtstamp:
		return skbTstampType + 1, 3 // padding
	}
	return off &^ 3, 4
}

// skbAccessOK reports whether the verifier accepts an access of size bytes
// at off in __sk_buff for program type t: bpf_skb_is_valid_access with the
// per-type filters of sk_filter_, tc_cls_act_, cg_skb_ and
// lwt_is_valid_access (net/core/filter.c). ldsx loads are not told apart.
func skbAccessOK(t ebpf.ProgramType, off uint32, size int, write bool) bool {
	in := func(start, n uint32) bool { return off >= start && off < start+n }
	pkt := in(skbData, 4) || in(skbDataEnd, 4) || in(skbDataMeta, 4)
	sockFields := off >= skbFamily && off < skbLocalPort+4
	switch t {
	case ebpf.SocketFilter:
		if in(skbTCClassid, 4) || pkt || sockFields || in(skbTstamp, 8) || in(skbWireLen, 4) || in(skbHwtstamp, 8) {
			return false
		}
		if write && !in(skbCB, 20) {
			return false
		}
	case ebpf.CGroupSKB:
		if in(skbTCClassid, 4) || in(skbDataMeta, 4) || in(skbWireLen, 4) {
			return false
		}
		if write && !(in(skbMark, 4) || in(skbPriority, 4) || in(skbCB, 20) || in(skbTstamp, 8)) {
			return false
		}
	case ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit:
		if in(skbTCClassid, 4) || sockFields || in(skbDataMeta, 4) || in(skbTstamp, 8) || in(skbWireLen, 4) || in(skbHwtstamp, 8) {
			return false
		}
		if write && !(in(skbMark, 4) || in(skbPriority, 4) || in(skbCB, 20)) {
			return false
		}
	case ebpf.SchedCLS, ebpf.SchedACT:
		if write && !(in(skbMark, 4) || in(skbTCIndex, 4) || in(skbPriority, 4) || in(skbTCClassid, 4) ||
			in(skbCB, 20) || in(skbTstamp, 8) || in(skbQueueMapping, 4)) {
			return false
		}
		if sockFields {
			return false
		}
		if off == skbTstampType {
			return size == 1
		}
	default:
		return false
	}
	return skbBaseAccessOK(off, size, write)
}

// skbBaseAccessOK is bpf_skb_is_valid_access.
func skbBaseAccessOK(off uint32, size int, write bool) bool {
	if off >= SkbSize || size <= 0 || off%uint32(size) != 0 {
		return false
	}
	in := func(start, n uint32) bool { return off >= start && off < start+n }
	switch {
	case in(skbCB, 20):
		return off+uint32(size) <= skbCB+20
	case in(skbData, 4), in(skbDataEnd, 4), in(skbDataMeta, 4):
		return size == 4
	case in(skbRemoteIP6, 16), in(skbLocalIP6, 16), in(skbRemoteIP4, 4), in(skbLocalIP4, 4):
		return size == 4
	case in(skbFlowKeys, 8):
		return false
	case in(skbHwtstamp, 8):
		return !write && size == 8
	case in(skbTstamp, 8):
		return size == 8
	case in(skbSk, 8):
		return off == skbSk && !write && size == 8
	case off >= skbTstampType && off < skbHwtstamp:
		return false
	}
	if write {
		return size == 4
	}
	return narrowOK(off, size, 4)
}

// narrowOK is bpf_ctx_narrow_access_ok: a load of at most the field's
// size that stays within one field-sized slot.
func narrowOK(off uint32, size int, field uint32) bool {
	return uint32(size) <= field && off&(field-1)+uint32(size) <= field
}

// fieldValue is the value of the __sk_buff field starting at start as the
// converted load yields it.
func (s *SKB) fieldValue(start uint32) uint64 {
	b2u := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}
	be16 := func(v uint16) uint64 { return uint64(v>>8 | v<<8) }
	switch {
	case start >= skbCB && start < skbCB+20:
		return uint64(binary.LittleEndian.Uint32(s.CB[start-skbCB:]))
	case start >= skbRemoteIP6 && start < skbRemoteIP6+16:
		return uint64(binary.LittleEndian.Uint32(s.Sock.DstIP6[start-skbRemoteIP6:]))
	case start >= skbLocalIP6 && start < skbLocalIP6+16:
		return uint64(binary.LittleEndian.Uint32(s.Sock.SrcIP6[start-skbLocalIP6:]))
	}
	switch start {
	case skbLen:
		return uint64(s.Len())
	case skbPktType:
		return uint64(s.PktType)
	case skbMark:
		return uint64(s.Mark)
	case skbQueueMapping:
		return uint64(s.QueueMapping)
	case skbProtocol:
		return be16(s.Protocol)
	case skbVlanPresent:
		return b2u(s.VlanPresent)
	case skbVlanTCI:
		return uint64(s.VlanTCI)
	case skbVlanProto:
		return be16(s.VlanProto)
	case skbPriority:
		return uint64(s.Priority)
	case skbIngressIfindex:
		return uint64(s.IngressIfindex)
	case skbIfindex:
		return uint64(s.Ifindex)
	case skbTCIndex:
		return uint64(s.TCIndex)
	case skbHash:
		return uint64(s.Hash)
	case skbTCClassid:
		return uint64(s.TCClassid)
	case skbData:
		return s.pkt + uint64(s.data)
	case skbDataEnd:
		return s.pkt + uint64(s.tail)
	case skbDataMeta:
		return s.pkt + uint64(s.data)
	case skbFamily:
		return uint64(s.Sock.Family)
	case skbRemoteIP4:
		return uint64(binary.LittleEndian.Uint32(s.Sock.DstIP4[:]))
	case skbLocalIP4:
		return uint64(binary.LittleEndian.Uint32(s.Sock.SrcIP4[:]))
	case skbRemotePort:
		return uint64(s.Sock.DstPort) << 16 // converted with a left shift on little-endian
	case skbLocalPort:
		return uint64(s.Sock.SrcPort)
	case skbTstamp:
		return s.Tstamp
	case skbWireLen:
		return uint64(s.WireLen)
	case skbGSOSegs:
		return uint64(s.GSOSegs)
	case skbSk:
		return s.sockAddr
	case skbGSOSize:
		return uint64(s.GSOSize)
	case skbHwtstamp:
		return s.Hwtstamp
	}
	return 0 // napi_id, tstamp_type
}

// Load implements vm.View.
func (s *SKB) Load(off uint32, size int) (uint64, error) {
	if !skbAccessOK(s.typ, off, size, false) {
		return 0, fmt.Errorf("%s may not read %d bytes of __sk_buff.%s", progName(s.typ), size, skbFieldName(off))
	}
	if off >= skbCB && off < skbCB+20 {
		var b [8]byte
		copy(b[:], s.CB[off-skbCB:])
		return getLE(b[:size]), nil // cb[] is plain memory
	}
	start, fsize := skbField(off)
	v := s.fieldValue(start)
	// A narrow load becomes a load of the kernel field (target_size
	// bytes); only loads narrower than that are shifted and masked, so
	// e.g. any 1-byte load of pkt_type yields pkt_type.
	if uint32(size) < fsize && uint32(size) < skbTargetSize(start) {
		v >>= 8 * (off - start)
		v &= 1<<(8*size) - 1
	}
	return v, nil
}

// skbTargetSize is the width of the kernel field behind the __sk_buff
// field at start, as bpf_convert_ctx_access reports it in target_size.
func skbTargetSize(start uint32) uint32 {
	switch start {
	case skbPktType, skbTstampType:
		return 1
	case skbQueueMapping, skbProtocol, skbVlanTCI, skbVlanProto, skbTCIndex, skbTCClassid,
		skbFamily, skbRemotePort, skbLocalPort, skbGSOSegs, skbGSOSize:
		return 2
	case skbTstamp, skbHwtstamp, skbSk, skbData, skbDataEnd, skbDataMeta:
		return 8
	}
	return 4
}

func getLE(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// Store implements vm.View: the writable fields are stored with their
// kernel widths (tc_index and tc_classid are 16 bits wide, queue_mapping
// ignores values >= NO_QUEUE_MAPPING).
func (s *SKB) Store(off uint32, size int, v uint64) error {
	if !skbAccessOK(s.typ, off, size, true) {
		return fmt.Errorf("%s may not write %d bytes of __sk_buff.%s", progName(s.typ), size, skbFieldName(off))
	}
	switch {
	case off >= skbCB && off < skbCB+20:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		copy(s.CB[off-skbCB:], b[:size])
	case off == skbMark:
		s.Mark = uint32(v)
	case off == skbPriority:
		s.Priority = uint32(v)
	case off == skbTCIndex:
		s.TCIndex = uint16(v)
	case off == skbTCClassid:
		s.TCClassid = uint16(v)
	case off == skbTstamp:
		s.Tstamp = v
	case off == skbQueueMapping:
		if v < noQueueMapping {
			s.QueueMapping = uint16(v)
		}
	}
	return nil
}

func progName(t ebpf.ProgramType) string { return t.String() }

// Offsets of struct bpf_sock fields.
const (
	sockBoundDevIf     = 0
	sockFamily         = 4
	sockType           = 8
	sockProtocol       = 12
	sockMark           = 16
	sockPriority       = 20
	sockSrcIP4         = 24
	sockSrcIP6         = 28
	sockSrcPort        = 44
	sockDstPort        = 48
	sockDstIP4         = 52
	sockDstIP6         = 56
	sockState          = 72
	sockRxQueueMapping = 76
)

var sockFieldNames = map[uint32]string{
	sockBoundDevIf: "bound_dev_if", sockFamily: "family", sockType: "type", sockProtocol: "protocol",
	sockMark: "mark", sockPriority: "priority", sockSrcIP4: "src_ip4", sockSrcPort: "src_port",
	sockDstPort: "dst_port", sockDstIP4: "dst_ip4", sockState: "state", sockRxQueueMapping: "rx_queue_mapping",
}

func describeSock(off uint32) string {
	switch {
	case off >= sockSrcIP6 && off < sockSrcIP6+16:
		return "bpf_sock." + arrayName("src_ip6", off-sockSrcIP6)
	case off >= sockDstIP6 && off < sockDstIP6+16:
		return "bpf_sock." + arrayName("dst_ip6", off-sockDstIP6)
	}
	if n, ok := sockFieldNames[off&^3]; ok {
		if off%4 != 0 {
			return fmt.Sprintf("bpf_sock.%s+%d", n, off%4)
		}
		return "bpf_sock." + n
	}
	return fmt.Sprintf("bpf_sock+%d", off)
}

// sockView is __sk_buff.sk: a PTR_TO_SOCK_COMMON, so only the sock_common
// fields of struct bpf_sock are readable (bpf_sock_common_is_valid_access).
type sockView struct{ s *SKB }

func (v sockView) Load(off uint32, size int) (uint64, error) {
	if !sockCommonAccessOK(off, size) {
		return 0, fmt.Errorf("invalid bpf_sock access off=%d size=%d", off, size)
	}
	k := v.s.Sock
	field := off &^ 3
	var val uint32
	switch {
	case field >= sockSrcIP6 && field < sockSrcIP6+16:
		val = binary.LittleEndian.Uint32(k.SrcIP6[field-sockSrcIP6:])
	case field >= sockDstIP6 && field < sockDstIP6+16:
		val = binary.LittleEndian.Uint32(k.DstIP6[field-sockDstIP6:])
	case field == sockFamily:
		val = k.Family
	case field == sockSrcIP4:
		val = binary.LittleEndian.Uint32(k.SrcIP4[:])
	case field == sockDstIP4:
		val = binary.LittleEndian.Uint32(k.DstIP4[:])
	case field == sockSrcPort:
		val = k.SrcPort
	case field == sockDstPort:
		val = uint32(k.DstPort)
	case field == sockState:
		val = k.State
	case field == sockRxQueueMapping:
		val = uint32(k.RxQueueMapping)
	}
	r := uint64(val) >> (8 * (off - field))
	return r & (1<<(8*size) - 1), nil
}

func (sockView) Store(off uint32, size int, _ uint64) error {
	return fmt.Errorf("bpf_sock is read-only (off=%d size=%d)", off, size)
}

// sockCommonAccessOK is bpf_sock_common_is_valid_access for reads: the
// cases of bpf_sock_is_valid_access that name a single offset allow narrow
// loads only there.
func sockCommonAccessOK(off uint32, size int) bool {
	if off >= sockSize || size <= 0 || off%uint32(size) != 0 {
		return false
	}
	in := func(start, n uint32) bool { return off >= start && off < start+n }
	switch {
	case in(sockType, sockSrcIP4-sockType):
		return false // full-socket fields: type till priority
	case off == sockState, off == sockFamily, off == sockSrcPort, off == sockRxQueueMapping,
		in(sockSrcIP4, 4), in(sockSrcIP6, 16), in(sockDstIP4, 4), in(sockDstIP6, 16):
		return narrowOK(off, size, 4)
	case in(sockDstPort, 2):
		return size == 4 || narrowOK(off, size, 2)
	case in(sockDstPort+2, 2):
		return false
	}
	return size == 4
}
