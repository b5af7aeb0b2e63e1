package loader_test

import (
	"fmt"

	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/vm"
)

// Load a clang-built object: its programs (with BTF line info) and maps,
// then a machine for one program, bound to the collection's maps.
func ExampleLoad() {
	c, err := loader.Load("../examples/progs/xdp_firewall.o", loader.Options{})
	if err != nil {
		panic(err)
	}
	p, err := c.Program("xdp_firewall")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Name, p.Type, p.Prog.Len(), "instructions")
	fmt.Println("maps:", c.MapNames())
	l := p.Prog.Line(0)
	fmt.Printf("pc 0: %s:%d %s\n", l.File, l.Line, l.Text)
	m, err := c.Machine("xdp_firewall", vm.Config{})
	fmt.Println(m != nil, err)
	// Output:
	// xdp_firewall XDP 211 instructions
	// maps: [.bss .data .rodata action_bytes action_packets blocked_v4 blocked_v6]
	// pc 0: ./xdp_firewall.c:112 void *data_end = (void *)(long)ctx->data_end;
	// true <nil>
}
