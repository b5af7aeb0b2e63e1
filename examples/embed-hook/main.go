// Command embed-hook embeds the bpfscope VM in a Go program and attaches a
// custom hook: it counts, per source line, the packet bytes the bundled
// XDP firewall reads, and prints the helper calls it makes.
package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"sort"

	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/gopacket/gopacket/pcapgo"
)

// packetReads is a hook: AccessHook and HelperHook are all it implements,
// so the machine reports nothing else to it.
type packetReads struct {
	m       *vm.Machine
	perLine map[string]int
	out     io.Writer
}

func (h *packetReads) Access(ev *hooks.Access) hooks.Action {
	if ev.Kind == hooks.Load && len(ev.Where()) > 3 && ev.Where()[:3] == "pkt" {
		where := "?"
		if l := h.m.Line(ev.PC); l != nil {
			where = fmt.Sprintf("line %d: %s", l.Line, l.Text)
		}
		h.perLine[where] += ev.Size
	}
	return hooks.Continue
}

func (h *packetReads) Helper(ev *hooks.HelperCall) hooks.Action {
	fmt.Fprintf(h.out, "  pc %d: %s = %#x\n", ev.PC, ev.Name, ev.Ret)
	return hooks.Continue
}

func run(out io.Writer) error {
	obj, err := fs.ReadFile(examples.Progs, "xdp_firewall.o")
	if err != nil {
		return err
	}
	coll, err := loader.LoadReader(bytes.NewReader(obj), loader.Options{})
	if err != nil {
		return err
	}
	m, err := coll.Machine("xdp_firewall", vm.Config{})
	if err != nil {
		return err
	}
	h := &packetReads{m: m, perLine: map[string]int{}, out: out}
	m.Attach(h)

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
			break
		}
		fmt.Fprintf(out, "packet %d:\n", n)
		res, err := testrun.Run(m, coll.Programs["xdp_firewall"].Type, testrun.Options{Data: data})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  verdict %d\n", res.Retval)
	}
	lines := make([]string, 0, len(h.perLine))
	for l := range h.perLine {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	fmt.Fprintln(out, "packet bytes read, by source line:")
	for _, l := range lines {
		fmt.Fprintf(out, "%5d  %s\n", h.perLine[l], l)
	}
	return nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
