package testrun_test

import (
	"fmt"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
)

// Test-run a program as BPF_PROG_TEST_RUN does: the bundled firewall on
// an ICMP echo request, which it answers in place (XDP_TX).
func ExampleRunProgram() {
	c, err := loader.Load("../examples/progs/xdp_firewall.o", loader.Options{})
	if err != nil {
		panic(err)
	}
	frame := make([]byte, 60)
	copy(frame, []byte{
		2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 2, // IPv4, ICMP
		8, 0, 0xf7, 0xff, // echo request
	})
	res, err := testrun.RunProgram(c, "xdp_firewall", vm.Config{Helpers: helpers.New(helpers.NewDefaultEnv())},
		testrun.Options{Data: frame})
	if err != nil {
		panic(err)
	}
	fmt.Println("retval", res.Retval, "data_out", len(res.DataOut), "bytes, ICMP type", res.DataOut[34])
	// Output:
	// retval 3 data_out 60 bytes, ICMP type 0
}
