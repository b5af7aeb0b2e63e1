package ctx

import (
	"encoding/binary"
	"syscall"
)

// LwtMaxHeadroom is LWT_BPF_MAX_HEADROOM: the longest header
// bpf_lwt_push_encap pushes.
const LwtMaxHeadroom = 256

// CheckIPEncap is the validation of bpf_lwt_push_ip_encap: hdr must be an
// IPv4 header (its ihl within hdr) or an IPv6 header, at most
// LwtMaxHeadroom bytes with what follows it; else EINVAL.
func CheckIPEncap(hdr []byte) error {
	if len(hdr) < 20 || len(hdr) > LwtMaxHeadroom {
		return syscall.EINVAL
	}
	switch hdr[0] >> 4 {
	case 4:
		if len(hdr) < int(hdr[0]&0xf)*4 {
			return syscall.EINVAL
		}
	case 6:
		if len(hdr) < 40 {
			return syscall.EINVAL
		}
	default:
		return syscall.EINVAL
	}
	return nil
}

// PushIPEncap is bpf_lwt_push_ip_encap at ingress (lwt_in with
// BPF_LWT_ENCAP_IP): hdr goes in front of the packet and becomes the
// network header, the protocol follows its version, the hash is cleared
// and an IPv4 header with a zero checksum gets one. A GSO packet (a test
// run's gso_size, with no gso_type) is pushed and then refused with
// ENOTSUPP, as handle_gso_encap lets only TCP GSO through.
func (s *SKB) PushIPEncap(hdr []byte) error {
	if err := CheckIPEncap(hdr); err != nil {
		return err
	}
	n := uint32(len(hdr))
	s.kernStale = true // inner headers, encapsulation
	s.push(n)
	copy(s.buf[s.data:], hdr)
	s.network = s.data
	s.ClearHash()
	if hdr[0]>>4 == 4 {
		s.Protocol = ethPIP
		iph := s.buf[s.data:]
		if iph[10] == 0 && iph[11] == 0 {
			binary.LittleEndian.PutUint16(iph[10:], ipFastCsum(iph, int(iph[0]&0xf)))
		}
	} else {
		s.Protocol = ethPIPv6
	}
	s.sync()
	if s.GSOSize != 0 {
		return ErrNotSupp
	}
	return nil
}

// ipFastCsum is x86-64's ip_fast_csum(iph, ihl) as the value it stores
// (in memory order): the folded one's complement of ihl 32-bit words, or,
// for ihl of 4 and less, where its loop is skipped, the low half of the
// first word as it is.
func ipFastCsum(iph []byte, ihl int) uint16 {
	if ihl <= 4 {
		return binary.LittleEndian.Uint16(iph)
	}
	var sum uint64
	for i := 0; i < ihl*4; i += 2 {
		sum += uint64(binary.LittleEndian.Uint16(iph[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
