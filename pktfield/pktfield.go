// Package pktfield names the bytes of a network frame by the protocol
// header field they belong to: "eth.type", "ipv4.src", "udp.dst_port",
// "tcp.opt.mss.value", "inner.ipv4.dst". Traces use it to say which field
// a packet access read or wrote.
//
// A frame is dissected once, with github.com/gopacket/gopacket/layers,
// starting from Ethernet: 802.1Q and QinQ tags, ARP, IPv4 (options), IPv6
// and its extension headers (hop-by-hop, routing, fragment, destination
// options), TCP (each option), UDP, ICMP, ICMPv6, and the inner headers of
// VXLAN, Geneve, GUE (UDP port 6080 or 666) and IP-in-IP tunnels, which get the
// prefix "inner.". A protocol that occurs twice at one level (QinQ) numbers
// the second: "vlan2.tci". Bytes outside every known header (payload,
// trailers, what gopacket could not decode) have no name.
package pktfield

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Fields is a dissected frame: its named byte ranges, in order.
type Fields struct {
	fields []field
	end    int // the end of the last field: the frame's header bytes

	// By offset in the headers: the index of the byte's field, or -1,
	// so that naming an access inside one field is a table lookup.
	byOff []int32
}

type field struct {
	off, len int
	name     string
}

// GUEPort is the UDP port of Generic UDP Encapsulation that the
// dissection recognises besides gopacket's own (666); Linux's fou and
// Katran use 6080.
const GUEPort = 6080

// Dissect names the header fields of an Ethernet frame.
func Dissect(frame []byte) *Fields {
	f := new(Fields)
	f.dissect(frame)
	f.index()
	return f
}

// index makes the table of fields by offset (Fields.byOff).
func (f *Fields) index() {
	f.byOff = slices.Grow(f.byOff[:0], f.end)[:f.end]
	for i := range f.byOff {
		f.byOff[i] = -1
	}
	for i, x := range f.fields {
		for k := range x.len {
			f.byOff[x.off+k] = int32(i)
		}
	}
}

// plusNames holds the names of bytes inside fields, "ipv4.src+2", made
// once for the whole process: they come from a small set, up to
// maxPlusNames (hostile frames nest tunnels to make names without end).
var (
	plusNames sync.Map // plusKey -> string
	nPlus     atomic.Int32
)

const maxPlusNames = 4096

type plusKey struct {
	name string
	k    int
}

// plus returns name+"+k".
func plus(name string, k int) string {
	key := plusKey{name, k}
	if s, ok := plusNames.Load(key); ok {
		return s.(string)
	}
	s := name + "+" + strconv.Itoa(k)
	if nPlus.Add(1) > maxPlusNames {
		return s
	}
	v, _ := plusNames.LoadOrStore(key, s)
	return v.(string)
}

func (f *Fields) dissect(frame []byte) {
	f.fields, f.end = f.fields[:0], 0
	d := dissector{f: f}
	if !dissectFast(frame, &d) {
		f.fields = f.fields[:0]
		d = dissector{f: f}
		d.general(frame)
	}
	if n := len(f.fields); n > 0 {
		f.end = f.fields[n-1].off + f.fields[n-1].len
	}
}

// general dissects frame with gopacket.NewPacket: every layer gopacket
// decodes, in the order it found them.
func (d *dissector) general(frame []byte) {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	off := 0
	for _, l := range pkt.Layers() {
		c := l.LayerContents()
		if off+len(c) > len(frame) {
			break
		}
		if !d.layer(l, off, frame[off:off+len(c)]) {
			break
		}
		off += len(c)
		// Two headers gopacket does not decode past: GUE on its Linux port,
		// and what follows the first fragment of an IPv6 packet.
		if u, ok := l.(*layers.UDP); ok && (u.DstPort == GUEPort || u.SrcPort == GUEPort) && len(u.Payload) > 0 {
			d.decodeFrom(u.Payload, off, layers.LayerTypeAGUEVar0)
			break
		}
		if fr, ok := l.(*layers.IPv6Fragment); ok && fr.FragmentOffset == 0 && len(fr.Payload) > 0 {
			d.decodeFrom(fr.Payload, off, fr.NextHeader.LayerType())
			break
		}
	}
}

// decodeFrom dissects payload, at off in the frame, as a header of type lt
// and what follows it.
func (d *dissector) decodeFrom(payload []byte, off int, lt gopacket.LayerType) {
	pkt := gopacket.NewPacket(payload, lt, gopacket.DecodeOptions{NoCopy: true})
	end := off + len(payload)
	for _, l := range pkt.Layers() {
		c := l.LayerContents()
		if off+len(c) > end || !d.layer(l, off, c) {
			return
		}
		off += len(c)
	}
}

// dissector walks the layers of one frame, choosing their prefixes.
type dissector struct {
	f      *Fields
	level  string         // "" or "inner." or "inner.inner."...
	seen   map[string]int // protocols met at this level
	net    bool           // a network header was met at this level
	tunnel bool           // the next link or network header is inner
}

// prefix returns the name prefix of the next header of protocol p: the
// level, p, and a number when p occurs again at this level.
func (d *dissector) prefix(p string) string {
	if d.seen == nil {
		d.seen = map[string]int{}
	}
	d.seen[p]++
	if n := d.seen[p]; n > 1 {
		return d.level + p + strconv.Itoa(n) + "."
	}
	return d.level + p + "."
}

// descend starts a new level for an encapsulated header.
func (d *dissector) descend() {
	d.level += "inner."
	d.seen, d.net, d.tunnel = nil, false, false
}

func (d *dissector) add(off, n int, name string) {
	if n > 0 {
		d.f.fields = append(d.f.fields, field{off, n, name})
	}
}

// fixed adds consecutive fields of the given sizes.
func (d *dissector) fixed(off int, pre string, c []byte, fs ...any) {
	at := 0
	for i := 0; i+1 < len(fs); i += 2 {
		n := fs[i+1].(int)
		if at+n > len(c) {
			return
		}
		d.add(off+at, n, pre+fs[i].(string))
		at += n
	}
}

// layer names the fields of one decoded layer whose contents c start at
// off; false stops the walk.
func (d *dissector) layer(l gopacket.Layer, off int, c []byte) bool {
	switch l := l.(type) {
	case *layers.Ethernet:
		if d.tunnel || d.net {
			d.descend()
		}
		d.fixed(off, d.prefix("eth"), c, "dst", 6, "src", 6, "type", 2)
	case *layers.Dot1Q:
		d.fixed(off, d.prefix("vlan"), c, "tci", 2, "type", 2)
	case *layers.ARP:
		p := d.prefix("arp")
		d.fixed(off, p, c, "htype", 2, "ptype", 2, "hlen", 1, "plen", 1, "op", 2,
			"sha", int(l.HwAddressSize), "spa", int(l.ProtAddressSize),
			"tha", int(l.HwAddressSize), "tpa", int(l.ProtAddressSize))
	case *layers.IPv4:
		if d.tunnel || d.net {
			d.descend()
		}
		d.net = true
		p := d.prefix("ipv4")
		d.fixed(off, p, c, "version_ihl", 1, "tos", 1, "tot_len", 2, "id", 2, "frag_off", 2,
			"ttl", 1, "protocol", 1, "check", 2, "src", 4, "dst", 4)
		d.add(off+20, len(c)-20, p+"options")
	case *layers.IPv6:
		if d.tunnel || d.net {
			d.descend()
		}
		d.net = true
		d.fixed(off, d.prefix("ipv6"), c, "version_tc_flow", 4, "payload_len", 2, "nexthdr", 1,
			"hop_limit", 1, "src", 16, "dst", 16)
	case *layers.IPv6HopByHop:
		d.extension(off, c, "hopopts")
	case *layers.IPv6Destination:
		d.extension(off, c, "dstopts")
	case *layers.IPv6Routing:
		p := d.prefix("ipv6.routing")
		d.fixed(off, p, c, "nexthdr", 1, "hdrlen", 1, "type", 1, "segments_left", 1)
		d.add(off+4, len(c)-4, p+"data")
	case *layers.IPv6Fragment:
		d.fixed(off, d.prefix("ipv6.frag"), c, "nexthdr", 1, "reserved", 1, "frag_off", 2, "id", 4)
	case *layers.TCP:
		p := d.prefix("tcp")
		d.fixed(off, p, c, "src_port", 2, "dst_port", 2, "seq", 4, "ack_seq", 4,
			"data_offset", 1, "flags", 1, "window", 2, "check", 2, "urg_ptr", 2)
		d.tcpOptions(off+20, c[min(20, len(c)):], p+"opt.")
	case *layers.UDP:
		d.fixed(off, d.prefix("udp"), c, "src_port", 2, "dst_port", 2, "len", 2, "check", 2)
	case *layers.ICMPv4:
		p := d.prefix("icmp")
		d.fixed(off, p, c, "type", 1, "code", 1, "checksum", 2)
		switch l.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply, layers.ICMPv4TypeTimestampRequest,
			layers.ICMPv4TypeTimestampReply, layers.ICMPv4TypeInfoRequest, layers.ICMPv4TypeInfoReply:
			d.fixed(off+4, p, c[min(4, len(c)):], "id", 2, "seq", 2)
		default:
			d.add(off+4, len(c)-4, p+"rest")
		}
	case *layers.ICMPv6:
		d.fixed(off, d.prefix("icmpv6"), c, "type", 1, "code", 1, "checksum", 2)
	case *layers.ICMPv6Echo:
		d.fixed(off, d.level+"icmpv6.", c, "id", 2, "seq", 2)
	case *layers.VXLAN:
		d.fixed(off, d.prefix("vxlan"), c, "flags", 1, "reserved", 3, "vni", 3, "reserved2", 1)
		d.tunnel = true
	case *layers.Geneve:
		p := d.prefix("geneve")
		d.fixed(off, p, c, "ver_optlen", 1, "flags", 1, "protocol", 2, "vni", 3, "reserved", 1)
		d.add(off+8, len(c)-8, p+"options")
		d.tunnel = true
	case layers.AGUEVar0:
		p := d.prefix("gue")
		d.fixed(off, p, c, "ver_c_hlen", 1, "proto", 1, "flags", 2)
		d.add(off+4, len(c)-4, p+"extensions")
		d.tunnel = true
	case layers.AGUEVar1:
		d.tunnel = true // variant 1 has no header: the IP header follows
	default:
		return false
	}
	return true
}

func (d *dissector) extension(off int, c []byte, name string) {
	p := d.prefix("ipv6." + name)
	d.fixed(off, p, c, "nexthdr", 1, "hdrlen", 1)
	d.add(off+2, len(c)-2, p+"options")
}

// tcpOptionNames names TCP option kinds (IANA registry).
var tcpOptionNames = map[byte]string{
	0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sack_perm", 5: "sack",
	8: "ts", 28: "user_timeout", 29: "ao", 30: "mptcp", 34: "fastopen",
}

// tcpOptions walks the options area as the kernel's tcp_parse_options does.
func (d *dissector) tcpOptions(off int, c []byte, p string) {
	for i := 0; i < len(c); {
		kind := c[i]
		name, ok := tcpOptionNames[kind]
		if !ok {
			name = "kind" + strconv.Itoa(int(kind))
		}
		switch kind {
		case 0:
			d.add(off+i, 1, p+"eol")
			d.add(off+i+1, len(c)-i-1, p+"pad")
			return
		case 1:
			d.add(off+i, 1, p+"nop")
			i++
			continue
		}
		if i+1 >= len(c) || c[i+1] < 2 || i+int(c[i+1]) > len(c) {
			d.add(off+i, len(c)-i, p+"malformed")
			return
		}
		n := int(c[i+1])
		d.add(off+i, 1, p+name+".kind")
		d.add(off+i+1, 1, p+name+".len")
		d.add(off+i+2, n-2, p+name+".value")
		i += n
	}
}

// Name names the size bytes at off: the field they lie in ("ipv4.src"),
// with "+k" when they start k bytes into it, or the first and last fields
// they span ("ipv4.src..ipv4.dst"); "" when off is in no known header.
func (f *Fields) Name(off, size int) string {
	if off >= 0 && off < len(f.byOff) {
		if i := f.byOff[off]; i >= 0 { // inside one field: a table lookup
			if x := &f.fields[i]; off+max(size, 1) <= x.off+x.len {
				if off == x.off {
					return x.name
				}
				return plus(x.name, off-x.off)
			}
		}
	}
	i := f.find(off)
	if i < 0 {
		return ""
	}
	first := f.fields[i]
	name := first.name
	if off > first.off {
		name = plus(name, off-first.off)
	}
	end := off + max(size, 1)
	if end <= first.off+first.len {
		return name
	}
	last := i
	for last+1 < len(f.fields) && f.fields[last+1].off < end {
		last++
	}
	if last == i {
		return name
	}
	return name + ".." + f.fields[last].name
}

// find returns the index of the field holding byte off, or -1.
func (f *Fields) find(off int) int {
	if off < 0 || off >= f.end {
		return -1 // payload: most of the bytes a program reads one by one
	}
	lo, hi := 0, len(f.fields)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f.fields[m].off+f.fields[m].len > off {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo < len(f.fields) && f.fields[lo].off <= off {
		return lo
	}
	return -1
}

// Each calls fn with every named field, in order.
func (f *Fields) Each(fn func(off, n int, name string)) {
	for _, x := range f.fields {
		fn(x.off, x.len, x.name)
	}
}

// Cache names the bytes of a frame that a program may rewrite or move
// (bpf_xdp_adjust_head): it dissects again when the frame's length or its
// header bytes differ from those it last dissected.
type Cache struct {
	hdr    []byte // the header bytes last dissected
	length int
	valid  bool
	f      Fields
}

// Name names the size bytes at off of frame, as Fields.Name does.
func (c *Cache) Name(frame []byte, off, size int) string {
	if !c.valid || len(frame) != c.length || string(frame[:len(c.hdr)]) != string(c.hdr) {
		c.f.dissect(frame)
		c.f.index()
		// The bytes watched: the headers found, and at least the first
		// 64, so that headers written into an unrecognised frame are seen.
		n := min(max(c.f.end, minWatched), len(frame))
		c.hdr = append(c.hdr[:0], frame[:n]...)
		c.length, c.valid = len(frame), true
	}
	return c.f.Name(off, size)
}

const minWatched = 64

// NameSpan is Name, with the offsets [lo, hi) around off at which Name
// gives the same answer for the same size while the frame does not
// change: the payload after the headers, where nothing is named, or off
// alone. A trace that names many accesses at once, memory standing
// still, asks once per span.
func (c *Cache) NameSpan(frame []byte, off, size int) (name string, lo, hi int) {
	name = c.Name(frame, off, size)
	if off >= c.f.end && off < len(frame) {
		return name, c.f.end, len(frame)
	}
	return name, off, off + 1
}
