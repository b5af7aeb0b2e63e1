package pktgen

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestCorpus: the same seed gives the same frames; every kind is there
// and decodes (gopacket) to the layers its name promises, with lengths
// that say what the frame holds.
func TestCorpus(t *testing.T) {
	a, b := Corpus(3, 400), Corpus(3, 400)
	if !slices.EqualFunc(a, b, func(x, y Frame) bool { return x.Name == y.Name && bytes.Equal(x.Data, y.Data) }) {
		t.Fatal("the same seed gave two corpora")
	}
	if len(a) != 400 {
		t.Fatalf("%d frames, want 400", len(a))
	}
	// What each kind must decode to: layer types in order (a subsequence
	// of the decoded layers).
	want := map[string][]gopacket.LayerType{
		"ipv4/tcp":      {layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeTCP},
		"ipv6/icmpv6":   {layers.LayerTypeIPv6, layers.LayerTypeICMPv6},
		"qinq":          {layers.LayerTypeDot1Q, layers.LayerTypeDot1Q},
		"vlan":          {layers.LayerTypeDot1Q},
		"mpls":          {layers.LayerTypeMPLS},
		"ipv6-exts":     {layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Fragment},
		"ipv6-hopbyhop": {layers.LayerTypeIPv6HopByHop},
		"gre-eth":       {layers.LayerTypeGRE, layers.LayerTypeEthernet},
		"vxlan":         {layers.LayerTypeUDP, layers.LayerTypeVXLAN, layers.LayerTypeEthernet},
		"ipip":          {layers.LayerTypeIPv4, layers.LayerTypeIPv4},
		"sit":           {layers.LayerTypeIPv4, layers.LayerTypeIPv6},
		"arp":           {layers.LayerTypeARP},
	}
	seen := map[string]bool{}
	for i, f := range a {
		base, _, _ := strings.Cut(f.Name, "+")
		seen[base] = true
		if i < len(Kinds) && base != Kinds[i] && !strings.HasSuffix(f.Name, "+"+Kinds[i]) {
			t.Errorf("frame %d is %q, want kind %q first", i, f.Name, Kinds[i])
		}
		switch {
		case strings.HasSuffix(f.Name, "+max"):
			if len(f.Data) != MaxXDPFrame {
				t.Errorf("%s: %d bytes, want %d", f.Name, len(f.Data), MaxXDPFrame)
			}
		case strings.HasSuffix(f.Name, "+jumbo"):
			if len(f.Data) < 4000 || len(f.Data) > 9018 {
				t.Errorf("%s: %d bytes, want 4000-9018", f.Name, len(f.Data))
			}
		case f.Name == "runt":
			if len(f.Data) >= 14 {
				t.Errorf("runt of %d bytes", len(f.Data))
			}
		}
		if strings.Contains(f.Name, "+") || f.Name == "runt" || f.Name == "garbage" {
			continue
		}
		p := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		var got []gopacket.LayerType
		transport := false
		for _, l := range p.Layers() {
			got = append(got, l.LayerType())
			switch l.LayerType() {
			case layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6, layers.LayerTypeARP:
				transport = true
			}
		}
		// gopacket goes on decoding random payloads by port (DNS, ...):
		// only the headers up to a transport header are ours.
		if el := p.ErrorLayer(); el != nil && !transport {
			t.Errorf("%s: %v\n%x", f.Name, el.Error(), f.Data)
			continue
		}
		if w := want[f.Name]; w != nil && !subsequence(w, got) {
			t.Errorf("%s decodes to %v, want %v in order", f.Name, got, w)
		}
		if ip, ok := p.NetworkLayer().(*layers.IPv4); ok && ip.FragOffset == 0 {
			// The outer IPv4 length covers the rest of the frame, bar padding.
			off := len(f.Data) - len(ip.Contents) - len(ip.Payload)
			if int(ip.Length) != len(f.Data)-off && len(f.Data) > 60 {
				t.Errorf("%s: IPv4 length %d, %d bytes follow", f.Name, ip.Length, len(f.Data)-off)
			}
		}
	}
	for _, k := range Kinds {
		if !seen[k] && k != "jumbo" && k != "max" && k != "cut" {
			t.Errorf("no %s frame", k)
		}
	}
	// QinQ's outer tag is 802.1ad.
	for _, f := range a {
		if f.Name == "qinq" && binary.BigEndian.Uint16(f.Data[12:]) != uint16(layers.EthernetTypeQinQ) {
			t.Errorf("qinq outer TPID %#x", binary.BigEndian.Uint16(f.Data[12:]))
		}
	}
}

func subsequence(w, got []gopacket.LayerType) bool {
	i := 0
	for _, g := range got {
		if i < len(w) && g == w[i] {
			i++
		}
	}
	return i == len(w)
}

// TestFields: a frame's fields are found at the offsets a parser reads
// them from.
func TestFields(t *testing.T) {
	g := New(1)
	f := g.Kind("ipv4/udp")
	fs := Fields(f.Data)
	if len(fs) < 7 {
		t.Fatalf("fields %x", fs)
	}
	if !bytes.Equal(fs[2], f.Data[26:30]) || !bytes.Equal(fs[3], f.Data[30:34]) || !bytes.Equal(fs[5], f.Data[34:36]) {
		t.Errorf("fields %x of %x", fs, f.Data)
	}
}

// TestWritePcap: a corpus, jumbo frames and the 73152-byte maximum
// included, reads back frame for frame.
func TestWritePcap(t *testing.T) {
	frames := Corpus(5, 60)
	var buf bytes.Buffer
	if err := WritePcap(&buf, frames); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		got, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, f.Data) || ci.Length != len(f.Data) {
			t.Fatalf("frame %d (%s): %d bytes back, want %d", i, f.Name, len(got), len(f.Data))
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Error("more frames than written")
	}
}
