package ctx

import (
	"encoding/binary"
	"syscall"
)

// ErrNotSupp is the kernel-internal ENOTSUPP (524) several skb helpers
// return to programs.
const ErrNotSupp = syscall.Errno(524)

// Flags of bpf_skb_adjust_room (include/uapi/linux/bpf.h).
const (
	AdjRoomFixedGSO    = 1 << 0
	AdjRoomEncapL3IPv4 = 1 << 1
	AdjRoomEncapL3IPv6 = 1 << 2
	AdjRoomEncapL4GRE  = 1 << 3
	AdjRoomEncapL4UDP  = 1 << 4
	AdjRoomNoCsumReset = 1 << 5
	AdjRoomEncapL2Eth  = 1 << 6
	AdjRoomDecapL3IPv4 = 1 << 7
	AdjRoomDecapL3IPv6 = 1 << 8
	adjRoomEncapL2Mask = 0xff << 56

	adjRoomEncapL3Mask = AdjRoomEncapL3IPv4 | AdjRoomEncapL3IPv6
	adjRoomDecapL3Mask = AdjRoomDecapL3IPv4 | AdjRoomDecapL3IPv6
	adjRoomMask        = AdjRoomFixedGSO | adjRoomEncapL3Mask | AdjRoomEncapL4GRE | AdjRoomEncapL4UDP |
		AdjRoomEncapL2Eth | adjRoomEncapL2Mask | adjRoomDecapL3Mask

	AdjRoomNet = 0 // BPF_ADJ_ROOM_NET
	AdjRoomMac = 1 // BPF_ADJ_ROOM_MAC
)

// minLen is __bpf_skb_min_len: the packet may not shrink below the
// network header (the transport header is never set in a test run).
func (s *SKB) minLen() uint32 {
	if s.network > s.data {
		return s.network - s.data
	}
	return 0
}

// ChangeTail is bpf_skb_change_tail: the packet becomes newLen bytes long;
// new bytes are zero.
func (s *SKB) ChangeTail(newLen uint32, flags uint64) error {
	if flags != 0 || newLen > SkbMaxLen || newLen < s.minLen() {
		return syscall.EINVAL
	}
	if l := s.Len(); newLen > l {
		s.reserve(0, newLen-l)
		clear(s.buf[s.tail : s.data+newLen])
	}
	s.tail = s.data + newLen
	if s.GSOSize != 0 { // skb_gso_reset; ctx_out shows it in gso_segs only
		s.GSOSegs, s.GSOSize = 0, 0
	}
	s.sync()
	return nil
}

// udpGSO reports an skb that bpf_skb_net_grow and bpf_skb_net_shrink
// refuse to resize (ENOTSUPP): a GSO skb that is not TCP GSO. A test run
// sets gso_size from ctx_in but never gso_type, so any gso_size is one.
func (s *SKB) udpGSO() bool { return s.GSOSize != 0 }

// ChangeHead is bpf_skb_change_head: room zero bytes are pushed in front
// and become the new MAC header.
func (s *SKB) ChangeHead(room uint32, flags uint64) error {
	newLen := s.Len() + room
	if flags != 0 || int32(room) < 0 || newLen > SkbMaxLen || newLen < s.Len() {
		return syscall.EINVAL
	}
	s.push(room)
	clear(s.buf[s.data : s.data+room])
	s.mac = s.data
	s.resetMacLen()
	s.sync()
	return nil
}

// PullData is bpf_skb_pull_data: the linear part is the whole packet, so
// only lengths beyond it fail (-ENOMEM).
func (s *SKB) PullData(n uint32) error {
	if n > s.Len() {
		return syscall.ENOMEM
	}
	return nil
}

// ChangeType is bpf_skb_change_type: both types must be at most
// PACKET_OTHERHOST.
func (s *SKB) ChangeType(t uint32) error {
	if s.PktType > PacketOtherhost || t > PacketOtherhost {
		return syscall.EINVAL
	}
	s.PktType = uint8(t)
	return nil
}

// StoreBytes is bpf_skb_store_bytes without the checksum work (the test
// run's packet carries no checksum state): from is copied to off.
func (s *SKB) StoreBytes(off uint32, from []byte, flags uint64) error {
	const recomputeCsum, invalidateHash = 1, 2
	if flags&^(recomputeCsum|invalidateHash) != 0 {
		return syscall.EINVAL
	}
	if off > 0x7fffffff {
		return syscall.EFAULT
	}
	dst, ok := s.Bytes(off, uint32(len(from)))
	if !ok {
		return syscall.EFAULT
	}
	copy(dst, from)
	if flags&invalidateHash != 0 {
		s.ClearHash()
	}
	return nil
}

// netBaseLen is bpf_skb_net_base_len.
func (s *SKB) netBaseLen() uint32 {
	switch s.Protocol {
	case ethPIP:
		return 20
	case ethPIPv6:
		return 40
	}
	return 0
}

// hdrPush inserts n zero bytes at off (relative to data), moving the
// first off bytes to the front: bpf_skb_net_hdr_push.
func (s *SKB) hdrPush(off, n uint32) {
	s.push(n)
	copy(s.buf[s.data:], s.buf[s.data+n:s.data+n+off])
	clear(s.buf[s.data+off : s.data+off+n])
	s.mac -= n
	s.network -= n
}

// hdrPop removes n bytes at off: bpf_skb_net_hdr_pop.
func (s *SKB) hdrPop(off, n uint32) error {
	if off+n > s.Len() {
		return syscall.ENOMEM
	}
	copy(s.buf[s.data+n:], s.buf[s.data:s.data+off])
	s.data += n
	s.mac += n
	s.network += n
	return nil
}

// AdjustRoom is bpf_skb_adjust_room for the modes BPF_ADJ_ROOM_NET and
// BPF_ADJ_ROOM_MAC, with the kernel's checks of flags and lengths. Encap
// flags are validated and change the protocol as the kernel does; the
// inner-header bookkeeping they imply is not modelled.
func (s *SKB) AdjustRoom(diff int32, mode uint32, flags uint64) error {
	abs := uint32(diff)
	shrink := diff < 0
	if shrink {
		abs = uint32(-int64(diff))
	}
	lenMin := s.netBaseLen()
	if flags&^uint64(adjRoomMask|AdjRoomNoCsumReset) != 0 {
		return syscall.EINVAL
	}
	if abs > 0xfff {
		return syscall.EFAULT
	}
	if s.Protocol != ethPIP && s.Protocol != ethPIPv6 {
		return ErrNotSupp
	}
	off := s.network - s.mac
	switch mode {
	case AdjRoomNet:
		off += s.netBaseLen()
	case AdjRoomMac:
	default:
		return ErrNotSupp
	}
	if flags&adjRoomDecapL3Mask != 0 {
		if !shrink {
			return syscall.EINVAL
		}
		switch flags & adjRoomDecapL3Mask {
		case AdjRoomDecapL3IPv4:
			lenMin = 20
		case AdjRoomDecapL3IPv6:
			lenMin = 40
		default:
			return syscall.EINVAL
		}
	}
	cur := s.Len() - uint32(s.NetworkOffset())
	if shrink && (abs >= cur || cur-abs < lenMin) || !shrink && s.Len()+abs > SkbMaxLen {
		return ErrNotSupp
	}
	if shrink {
		if flags&^uint64(AdjRoomFixedGSO|adjRoomDecapL3Mask|AdjRoomNoCsumReset) != 0 {
			return syscall.EINVAL
		}
		if s.udpGSO() {
			return ErrNotSupp
		}
		if err := s.hdrPop(off, abs); err != nil {
			return err
		}
		switch {
		case s.Protocol == ethPIP && flags&AdjRoomDecapL3IPv6 != 0:
			s.Protocol = ethPIPv6
		case s.Protocol == ethPIPv6 && flags&AdjRoomDecapL3IPv4 != 0:
			s.Protocol = ethPIP
		}
		s.sync()
		return nil
	}
	encap := flags&adjRoomEncapL3Mask != 0
	if encap {
		innerMac := uint32(flags >> 56)
		switch {
		case flags&AdjRoomEncapL3IPv4 != 0 && flags&AdjRoomEncapL3IPv6 != 0,
			flags&AdjRoomEncapL4GRE != 0 && flags&AdjRoomEncapL4UDP != 0,
			flags&AdjRoomEncapL2Eth != 0 && innerMac < ethHeaderLen,
			innerMac > abs:
			return syscall.EINVAL
		}
	}
	if s.udpGSO() {
		return ErrNotSupp
	}
	macLen := s.network - s.mac
	s.hdrPush(off, abs)
	if encap {
		s.kernStale = true // inner headers, encapsulation
		s.network = s.mac + macLen
		switch {
		case s.Protocol == ethPIP && flags&AdjRoomEncapL3IPv6 != 0:
			s.Protocol = ethPIPv6
		case s.Protocol == ethPIPv6 && flags&AdjRoomEncapL3IPv4 != 0:
			s.Protocol = ethPIP
		}
	}
	s.sync()
	return nil
}

// ChangeProto is bpf_skb_change_proto: IPv4 <-> IPv6 by growing or
// shrinking the room after the MAC header by 20 bytes (the program
// rewrites the header).
func (s *SKB) ChangeProto(proto uint16, flags uint64) error {
	if flags != 0 {
		return syscall.EINVAL
	}
	const diff = 40 - 20
	off := s.network - s.mac
	switch {
	case s.Protocol == ethPIP && proto == ethPIPv6:
		s.hdrPush(off, diff)
		s.Protocol = ethPIPv6
	case s.Protocol == ethPIPv6 && proto == ethPIP:
		if err := s.hdrPop(off, diff); err != nil {
			return err
		}
		s.Protocol = ethPIP
	default:
		return ErrNotSupp
	}
	s.ClearHash()
	s.sync()
	return nil
}

// VlanPush is bpf_skb_vlan_push: the tag goes into the skb's accelerated
// tag; a tag already there is first written into the packet.
func (s *SKB) VlanPush(proto, tci uint16) error {
	if proto != 0x8100 && proto != 0x88a8 {
		proto = 0x8100
	}
	if s.VlanPresent {
		if s.data != s.mac {
			return syscall.EINVAL
		}
		s.push(4)
		copy(s.buf[s.data:], s.buf[s.data+4:s.data+16])
		binary.BigEndian.PutUint16(s.buf[s.data+12:], s.VlanProto)
		binary.BigEndian.PutUint16(s.buf[s.data+14:], s.VlanTCI)
		s.mac = s.data
		s.Protocol = s.VlanProto
	}
	s.VlanPresent, s.VlanProto, s.VlanTCI = true, proto, tci
	s.resetMacLen()
	s.sync()
	return nil
}

// VlanPop is bpf_skb_vlan_pop: the accelerated tag is dropped, or else
// the packet's outer tag; a next tag in the packet moves into the
// accelerated tag.
func (s *SKB) VlanPop() error {
	defer s.resetMacLen() // bpf_skb_vlan_pop resets it whatever the outcome
	if s.VlanPresent {
		s.VlanPresent, s.VlanProto, s.VlanTCI = false, 0, 0
	} else {
		if !isVlan(s.Protocol) {
			return nil
		}
		if _, err := s.popTag(); err != nil {
			return err
		}
	}
	if isVlan(s.Protocol) {
		proto := s.Protocol
		tci, err := s.popTag()
		if err != nil {
			return err
		}
		s.VlanPresent, s.VlanProto, s.VlanTCI = true, proto, tci
	}
	s.sync()
	return nil
}

// resetMacLen is skb_reset_mac_len, which the helpers that move the MAC
// header (bpf_skb_vlan_push/pop, bpf_skb_change_head) end with.
func (s *SKB) resetMacLen() { s.macLen = uint16(s.network - s.mac) }

func isVlan(p uint16) bool { return p == 0x8100 || p == 0x88a8 }

// popTag is __skb_vlan_pop: the tag after the MAC addresses is removed
// and skb->protocol becomes the encapsulated type.
func (s *SKB) popTag() (uint16, error) {
	if s.data != s.mac || s.Len() < 18 {
		return 0, syscall.EINVAL
	}
	h := s.buf[s.data:]
	tci := binary.BigEndian.Uint16(h[14:])
	inner := binary.BigEndian.Uint16(h[16:])
	copy(s.buf[s.data+4:], s.buf[s.data:s.data+12])
	s.data += 4
	s.mac += 4
	if s.network < s.mac+ethHeaderLen {
		s.network = s.mac + ethHeaderLen
	}
	if inner >= 0x600 {
		s.Protocol = inner
	} else {
		s.Protocol = 0x0004
	}
	return tci, nil
}
