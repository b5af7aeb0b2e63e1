package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// XDPMd is struct xdp_md (24 bytes). In ctx_out, Data and DataEnd are
// offsets relative to data_meta.
type XDPMd struct {
	Data           uint32
	DataEnd        uint32
	DataMeta       uint32
	IngressIfindex uint32
	RxQueueIndex   uint32
	EgressIfindex  uint32
}

// SkBuff is struct __sk_buff (192 bytes, Linux 6.18). Fields the uapi
// declares in network byte order (Protocol, VlanProto, RemoteIP4,
// LocalIP4, RemoteIP6, LocalIP6, RemotePort) hold the raw memory, so on a
// little-endian host Protocol reads 0x0008 for IPv4.
type SkBuff struct {
	Len            uint32
	PktType        uint32
	Mark           uint32
	QueueMapping   uint32
	Protocol       uint32
	VlanPresent    uint32
	VlanTCI        uint32
	VlanProto      uint32
	Priority       uint32
	IngressIfindex uint32
	Ifindex        uint32
	TCIndex        uint32
	CB             [5]uint32
	Hash           uint32
	TCClassid      uint32
	Data           uint32
	DataEnd        uint32
	NapiID         uint32
	Family         uint32
	RemoteIP4      [4]byte
	LocalIP4       [4]byte
	RemoteIP6      [16]byte
	LocalIP6       [16]byte
	RemotePort     uint32
	LocalPort      uint32
	DataMeta       uint32
	FlowKeys       uint64
	Tstamp         uint64
	WireLen        uint32
	GSOSegs        uint32
	Sk             uint64
	GSOSize        uint32
	TstampType     uint8
	_              [3]byte
	Hwtstamp       uint64
}

// FlowKeys is struct bpf_flow_keys (56 bytes). NProto, Sport and Dport are
// in network byte order (use [Ntohs]). Addrs is the address union: IPv4
// source at [0:4] and destination at [4:8], or IPv6 source at [0:16] and
// destination at [16:32].
type FlowKeys struct {
	Nhoff       uint16
	Thoff       uint16
	AddrProto   uint16
	IsFrag      uint8
	IsFirstFrag uint8
	IsEncap     uint8
	IPProto     uint8
	NProto      uint16
	Sport       uint16
	Dport       uint16
	Addrs       [32]byte
	Flags       uint32
	FlowLabel   uint32
}

// SkLookup is struct bpf_sk_lookup (72 bytes). LocalPort is in host byte
// order, RemotePort in network byte order (low 16 bits). Cookie must be 0
// in ctx_in; in ctx_out it is the selected socket's cookie.
type SkLookup struct {
	Cookie         uint64
	Family         uint32
	Protocol       uint32
	RemoteIP4      [4]byte
	RemoteIP6      [16]byte
	RemotePort     uint32
	LocalIP4       [4]byte
	LocalIP6       [16]byte
	LocalPort      uint32
	IngressIfindex uint32
	_              uint32
}

// Marshal encodes a context struct (or any fixed-size value) in the
// kernel's little-endian layout. It panics if v has no fixed size.
func Marshal(v any) []byte {
	b, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		panic(fmt.Sprintf("kernel.Marshal(%T): %v", v, err))
	}
	return b
}

// Unmarshal decodes b into the struct pointed to by v; b must have exactly
// the struct's size.
func Unmarshal(b []byte, v any) error {
	if n := binary.Size(v); n != len(b) {
		return fmt.Errorf("kernel.Unmarshal(%T): have %d bytes, want %d", v, len(b), n)
	}
	return binary.Read(bytes.NewReader(b), binary.LittleEndian, v)
}

// Ntohs converts a 16-bit value read from network-order memory on a
// little-endian host.
func Ntohs(v uint16) uint16 { return v>>8 | v<<8 }
