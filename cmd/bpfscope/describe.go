package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// verdict names a program's return value for its type, as the kernel's
// uapi headers do; other types' values are plain numbers.
func verdict(t ebpf.ProgramType, r uint32) string {
	switch t {
	case ebpf.XDP:
		names := []string{"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"}
		if int(r) < len(names) {
			return names[r]
		}
	case ebpf.SchedCLS, ebpf.SchedACT:
		names := []string{"TC_ACT_OK", "TC_ACT_RECLASSIFY", "TC_ACT_SHOT", "TC_ACT_PIPE",
			"TC_ACT_STOLEN", "TC_ACT_QUEUED", "TC_ACT_REPEAT", "TC_ACT_REDIRECT", "TC_ACT_TRAP"}
		if int32(r) == -1 {
			return "TC_ACT_UNSPEC"
		}
		if int(r) < len(names) {
			return names[r]
		}
	case ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit:
		names := []string{"BPF_OK", "BPF_DROP", "BPF_REDIRECT", "BPF_LWT_REROUTE"}
		if int(r) < len(names) {
			return names[r]
		}
	case ebpf.CGroupSKB:
		switch r {
		case 0:
			return "drop"
		case 1:
			return "allow"
		}
	case ebpf.SkLookup:
		switch r {
		case 0:
			return "SK_DROP"
		case 1:
			return "SK_PASS"
		}
	case ebpf.Netfilter:
		switch r {
		case 0:
			return "NF_DROP"
		case 1:
			return "NF_ACCEPT"
		}
	}
	return fmt.Sprintf("%d", int32(r))
}

// parseVerdict is the inverse of verdict, for --flight-on.
func parseVerdict(t ebpf.ProgramType, s string) (uint32, bool) {
	for r := range uint32(16) {
		if strings.EqualFold(verdict(t, r), s) {
			return r, true
		}
	}
	var r int32
	if _, err := fmt.Sscanf(s, "%d", &r); err == nil {
		return uint32(r), true
	}
	return 0, false
}

// dropped reports whether a verdict discards the packet.
func dropped(t ebpf.ProgramType, r uint32) bool {
	switch t {
	case ebpf.XDP:
		return r <= 1
	case ebpf.SchedCLS, ebpf.SchedACT:
		return r == 2 || r == 4 // TC_ACT_SHOT, TC_ACT_STOLEN
	case ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit:
		return r == 1
	case ebpf.CGroupSKB, ebpf.SocketFilter, ebpf.SkLookup, ebpf.Netfilter:
		return r == 0
	}
	return false
}

// summarize describes a frame in one line, tcpdump style: addresses,
// ports and protocol, or what could not be parsed.
func summarize(data []byte, link layers.LinkType) string {
	if len(data) == 0 {
		return "empty"
	}
	var first gopacket.Decoder = layers.LayerTypeEthernet
	if link != layers.LinkTypeEthernet {
		first = link
	}
	pkt := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst, proto, extra string
	if a, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		if a.Operation == layers.ARPRequest {
			return fmt.Sprintf("ARP who-has %s tell %s", ipString(a.DstProtAddress), ipString(a.SourceProtAddress))
		}
		return fmt.Sprintf("ARP reply %s is-at %x", ipString(a.SourceProtAddress), a.SourceHwAddress)
	}
	// Layer by layer: what decoded is kept when a later layer does not
	// (a UDP payload on port 53 that is not DNS).
	if n := pkt.NetworkLayer(); n != nil && len(n.NetworkFlow().Src().Raw()) > 0 {
		f := n.NetworkFlow()
		src, dst = f.Src().String(), f.Dst().String()
		proto = n.LayerType().String()
	}
	hostPort := func(h string, port int) string {
		if strings.Contains(h, ":") {
			return fmt.Sprintf("[%s]:%d", h, port)
		}
		return fmt.Sprintf("%s:%d", h, port)
	}
	switch l := pkt.TransportLayer().(type) {
	case *layers.UDP:
		src, dst, proto = hostPort(src, int(l.SrcPort)), hostPort(dst, int(l.DstPort)), "UDP"
	case *layers.TCP:
		src, dst, proto = hostPort(src, int(l.SrcPort)), hostPort(dst, int(l.DstPort)), "TCP"
		extra = tcpFlags(l)
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		proto, extra = "ICMP", l.TypeCode.String()
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		proto, extra = "ICMPv6", l.TypeCode.String()
	}
	if src == "" {
		if e, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
			s := fmt.Sprintf("%s > %s ethertype %s", e.SrcMAC, e.DstMAC, e.EthernetType)
			if pkt.ErrorLayer() != nil {
				s += ", truncated"
			}
			return s
		}
		return fmt.Sprintf("%d bytes, not parsed", len(data))
	}
	s := fmt.Sprintf("%s > %s %s", src, dst, proto)
	if extra != "" {
		s += " " + extra
	}
	return s
}

func ipString(b []byte) string {
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	return hex.EncodeToString(b)
}

func tcpFlags(t *layers.TCP) string {
	var f []byte
	for _, x := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.ACK, '.'}} {
		if x.on {
			f = append(f, x.c)
		}
	}
	return "[" + string(f) + "]"
}

// hexdump writes b as tcpdump -xx does: offset, 16 bytes per line.
func hexdump(w io.Writer, b []byte, indent string) {
	for off := 0; off < len(b); off += 16 {
		end := min(off+16, len(b))
		fmt.Fprintf(w, "%s0x%04x: ", indent, off)
		for i := off; i < end; i += 2 {
			if i+1 < end {
				fmt.Fprintf(w, " %02x%02x", b[i], b[i+1])
			} else {
				fmt.Fprintf(w, " %02x", b[i])
			}
		}
		fmt.Fprintln(w)
	}
}
