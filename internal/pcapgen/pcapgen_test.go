package pcapgen

import (
	"bytes"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestCapture: both formats read back to the same frames, the same seed
// gives the same capture, and the mix has what it promises.
func TestCapture(t *testing.T) {
	const n = 3000
	var a, b, ng bytes.Buffer
	if err := WritePcap(&a, n, 7); err != nil {
		t.Fatal(err)
	}
	WritePcap(&b, n, 7)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same seed gave two captures")
	}
	if err := WritePcapng(&ng, n, 7); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	rng, err := pcapgo.NewNgReader(&ng, pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var small, medium, large, jumbo, runt, v6, arp int
	for i := range n {
		f, _, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("pcap frame %d: %v", i+1, err)
		}
		g, _, err := rng.ReadPacketData()
		if err != nil || !bytes.Equal(f, g) {
			t.Fatalf("pcapng frame %d differs (%v)", i+1, err)
		}
		typ := layers.EthernetType(uint16(f[12])<<8 | uint16(f[13]))
		switch {
		case len(f) < 60:
			runt++
			continue
		case typ == layers.EthernetTypeARP:
			arp++
		case typ == layers.EthernetTypeIPv6:
			v6++
		}
		switch {
		case len(f) > 1514:
			jumbo++
		case len(f) >= 1128:
			large++
		case len(f) >= 128:
			medium++
		default:
			small++
		}
		if typ != layers.EthernetTypeARP {
			if err := kernel.VerifyChecksums(f); err != nil {
				t.Fatalf("frame %d: %v", i+1, err)
			}
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Error("more than n frames")
	}
	// Loose bounds on the mix's proportions (n = 3000): each kind is there.
	for name, c := range map[string][2]int{"small": {small, 900}, "medium": {medium, 500}, "large": {large, 100},
		"jumbo": {jumbo, 20}, "runt": {runt, 20}, "ipv6": {v6, 300}, "arp": {arp, 30}} {
		if c[0] < c[1] {
			t.Errorf("%d %s frames, want at least %d", c[0], name, c[1])
		}
	}
}
