package pktfield

import (
	"sync"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The common frames (Ethernet, VLAN tags, ARP, IPv4 or IPv6 without
// extension headers, TCP, UDP, ICMP) are dissected with layers decoded in
// place into reused structs: gopacket.NewPacket allocates every layer and,
// for a payload it cannot decode, formats an error, per frame. A trace
// dissects every frame it names a byte of, so this is per packet.
//
// The fast path takes only what it decodes exactly as NewPacket's
// decoders would (the same DecodeFromBytes, the next layer chosen by the
// same NextLayerType); anything else (a decoding error, an extension
// header, a tunnel, GUE's port, an IP version that disagrees with the
// EtherType) and the frame is dissected again from the start the general
// way. FuzzDissect checks that both give the same fields.

// fastLayers are the reused layers of one dissection.
type fastLayers struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	arp   layers.ARP
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6
}

var fastPool = sync.Pool{New: func() any { return new(fastLayers) }}

// fastLayer is what the fast path needs of a layer.
type fastLayer interface {
	gopacket.DecodingLayer
	gopacket.Layer
}

// of returns the reused layer that decodes lt, or nil.
func (fl *fastLayers) of(lt gopacket.LayerType) fastLayer {
	switch lt {
	case layers.LayerTypeEthernet:
		return &fl.eth
	case layers.LayerTypeDot1Q:
		return &fl.dot1q
	case layers.LayerTypeARP:
		return &fl.arp
	case layers.LayerTypeIPv4:
		return &fl.ip4
	case layers.LayerTypeIPv6:
		return &fl.ip6
	case layers.LayerTypeTCP:
		return &fl.tcp
	case layers.LayerTypeUDP:
		return &fl.udp
	case layers.LayerTypeICMPv4:
		return &fl.icmp4
	case layers.LayerTypeICMPv6:
		return &fl.icmp6
	}
	return nil
}

// slowLayers are the other layers the dissector names (dissector.layer):
// meeting one sends the frame down the general path.
var slowLayers = map[gopacket.LayerType]bool{
	layers.LayerTypeIPv6HopByHop:    true,
	layers.LayerTypeIPv6Destination: true,
	layers.LayerTypeIPv6Routing:     true,
	layers.LayerTypeIPv6Fragment:    true,
	layers.LayerTypeICMPv6Echo:      true,
	layers.LayerTypeVXLAN:           true,
	layers.LayerTypeGeneve:          true,
	layers.LayerTypeAGUEVar0:        true,
	layers.LayerTypeAGUEVar1:        true,
}

// dissectFast dissects frame into d's fields the fast way; false means
// it could not, and d's fields are to be dropped.
func dissectFast(frame []byte, d *dissector) bool {
	fl := fastPool.Get().(*fastLayers)
	defer fastPool.Put(fl)
	data, off := frame, 0
	var l fastLayer = &fl.eth
	for {
		if l.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
			return false
		}
		switch l := l.(type) {
		case *layers.IPv4:
			if len(data) > 0 && data[0]>>4 != 4 {
				return false
			}
		case *layers.IPv6:
			if l.HopByHop != nil || len(data) > 0 && data[0]>>4 != 6 {
				return false
			}
		case *layers.UDP:
			if l.DstPort == GUEPort || l.SrcPort == GUEPort {
				return false
			}
		}
		c := l.LayerContents()
		if off+len(c) > len(frame) {
			return true
		}
		if !d.layer(l, off, frame[off:off+len(c)]) {
			return false // cannot happen: every fast layer is named
		}
		off += len(c)
		if data = l.LayerPayload(); len(data) == 0 {
			return true // NewPacket decodes no further either
		}
		next := l.NextLayerType()
		if l = fl.of(next); l == nil {
			// A layer the dissector does not name ends it, as in the
			// general path; one it names that is not fast starts over.
			return !slowLayers[next]
		}
	}
}
