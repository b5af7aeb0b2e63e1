// Command xdp-firewall-trace traces the bundled XDP firewall over the
// bundled capture with the text exporter, after putting one address in the
// firewall's blocklist, and prints the trace of the packets it drops.
package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/netip"
	"os"

	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/gopacket/gopacket/pcapgo"
)

func run(out io.Writer) error {
	obj, err := fs.ReadFile(examples.Progs, "xdp_firewall.o")
	if err != nil {
		return err
	}
	coll, err := loader.LoadReader(bytes.NewReader(obj), loader.Options{})
	if err != nil {
		return err
	}
	// Block one source: the key is the IPv4 address in network order.
	addr := netip.MustParseAddr(examples.BlockedAddr).As4()
	if err := coll.Maps["blocked_v4"].Put(addr[:], make([]byte, 8), 0); err != nil {
		return err
	}
	m, err := coll.Machine("xdp_firewall", vm.Config{})
	if err != nil {
		return err
	}
	capture, err := examples.Progs.Open(examples.SamplePcap)
	if err != nil {
		return err
	}
	defer capture.Close()
	r, err := pcapgo.NewReader(capture)
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return nil
		}
		// Trace into a buffer; keep it only for dropped packets.
		var buf bytes.Buffer
		tw := text.New(&buf)
		m.Attach(tw)
		res, err := testrun.Run(m, coll.Programs["xdp_firewall"].Type, testrun.Options{Data: data})
		if err != nil {
			return err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if res.Retval == 1 { // XDP_DROP
			fmt.Fprintf(out, "packet %d dropped:\n%s\n", n, buf.Bytes())
		}
	}
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
