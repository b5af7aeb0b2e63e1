package debuginfo

import (
	"bytes"
	"os"
	"testing"

	"github.com/bpfscope/bpfscope/vm"
)

// FuzzLoad feeds damaged objects to the DWARF reader: an error or an
// Info, never a panic, and an Info answers for any pc.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/types.o", "../examples/progs/xdp_firewall.o"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	prog, err := vm.Load("fuzz", make([]byte, 8*4)) // four zero slots, never run
	if err != nil {
		prog = nil
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, _ := Load(bytes.NewReader(b))
		for _, g := range in.Globals() {
			_ = Format(g.Type, make([]byte, 64), g.Name)
			_ = g.TypeName()
		}
		if prog != nil {
			pr := in.Program(prog)
			for pc := range 4 {
				pr.InScope(pc)
				pr.Frames(pc)
			}
		}
	})
}
