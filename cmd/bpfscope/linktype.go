package main

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Link types of raw IP captures: LINKTYPE_RAW, and the DLT_RAW values some
// systems write instead.
const (
	linkTypeRawDLT12 layers.LinkType = 12
	linkTypeRawDLT14 layers.LinkType = 14
)

// toEthernet returns how frames of a capture's link type become the
// Ethernet frames the programs run on (nil: they already are), or an
// error for link types that cannot be converted. Raw IP gets a synthetic
// Ethernet header; Linux cooked captures (SLL and SLL2, what 'tcpdump -i
// any' writes) get an Ethernet header with the recorded protocol and
// link-layer source address.
func toEthernet(link layers.LinkType) (func([]byte) ([]byte, error), error) {
	switch link {
	case layers.LinkTypeEthernet:
		return nil, nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkTypeRawDLT12, linkTypeRawDLT14:
		return rawToEthernet, nil
	case layers.LinkTypeLinuxSLL:
		return sllToEthernet, nil
	case layers.LinkTypeLinuxSLL2:
		return sll2ToEthernet, nil
	}
	return nil, fmt.Errorf("link type %s (%d) is not supported: bpfscope runs Ethernet frames, and converts raw IP and Linux cooked (SLL, SLL2) captures; convert it first (editcap -T ether)", link, int(link))
}

// ethernet builds a frame: a zero destination (the loopback device's
// address, so the kernel's eth_type_trans sees a packet for this host).
func ethernet(src []byte, proto layers.EthernetType, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	if len(src) == 6 {
		copy(b[6:12], src)
	}
	binary.BigEndian.PutUint16(b[12:], uint16(proto))
	return append(b, payload...)
}

func rawToEthernet(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("raw IP capture: empty packet")
	}
	switch data[0] >> 4 {
	case 4:
		return ethernet(nil, layers.EthernetTypeIPv4, data), nil
	case 6:
		return ethernet(nil, layers.EthernetTypeIPv6, data), nil
	}
	return nil, fmt.Errorf("raw IP capture: IP version %d is neither 4 nor 6", data[0]>>4)
}

func sllToEthernet(data []byte) ([]byte, error) {
	var sll layers.LinuxSLL
	if err := sll.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return nil, fmt.Errorf("linux cooked (SLL) header: %v", err)
	}
	return cookedToEthernet("SLL", sll.Addr, sll.EthernetType, sll.Payload)
}

func sll2ToEthernet(data []byte) ([]byte, error) {
	var sll layers.LinuxSLL2
	if err := sll.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		return nil, fmt.Errorf("linux cooked (SLL2) header: %v", err)
	}
	return cookedToEthernet("SLL2", sll.Addr, sll.ProtocolType, sll.Payload)
}

func cookedToEthernet(what string, addr []byte, proto layers.EthernetType, payload []byte) ([]byte, error) {
	if proto < 0x0600 { // not an EtherType: 802.2 LLC, CAN, ... frames
		return nil, fmt.Errorf("linux cooked (%s) packet of protocol %#04x has no Ethernet form", what, uint16(proto))
	}
	return ethernet(addr, proto, payload), nil
}
