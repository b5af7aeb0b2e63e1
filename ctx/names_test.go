package ctx

import (
	"testing"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// Traces name each packet access; after its first use a name must come
// from the shared table, so tracing does not allocate per access.
func TestPacketNamesDoNotAllocate(t *testing.T) {
	p, err := vm.NewProgram("exit", []isa.Insn{{Op: isa.ClassJMP | isa.JmpExit}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p, vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewXDP(m, make([]byte, 64), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := x.pkt + uint64(x.data)
	for _, tc := range []struct {
		off  uint64
		want string
	}{{0, "pkt+0"}, {14, "pkt+14"}, {63, "pkt+63"}} {
		if got := m.Describe(base + tc.off); got != tc.want {
			t.Errorf("Describe(data+%d) = %q, want %q", tc.off, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.Describe(base + 14) }); n != 0 {
		t.Errorf("naming a packet offset allocates %.0f times", n)
	}
}
