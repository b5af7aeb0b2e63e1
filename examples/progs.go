// Package examples bundles the example eBPF objects of examples/progs and a
// small packet capture, so that the bpfscope command and the runnable
// examples work from any directory without a compiler.
//
// The bundle lives here rather than in examples/progs because that
// directory holds the C sources, and the go command refuses a package
// whose directory has .c files but does not use cgo.
package examples

import (
	"embed"
	"io/fs"
)

//go:embed progs/*.o progs/sample.pcap
var files embed.FS

// Progs holds the compiled example objects ("xdp_firewall.o", ...) and
// SamplePcap, at the root of the file system.
var Progs fs.FS = sub(files, "progs")

// SamplePcap is the bundled capture: a dozen Ethernet frames (DNS over
// UDP, HTTP and HTTPS over TCP, an ICMP echo request, IPv6, ARP, a runt
// frame, and traffic from BlockedAddr) for xdp_firewall.o.
const SamplePcap = "sample.pcap"

// BlockedAddr is the source address of the sample frames that
// xdp_firewall drops once its blocked_v4 map holds it.
const BlockedAddr = "192.0.2.66"

func sub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a constant that the embed directive guarantees
	}
	return s
}
