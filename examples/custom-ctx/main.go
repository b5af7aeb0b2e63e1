// Command custom-ctx adds a program type to bpfscope: a context provider
// for a made-up "counter" type whose programs receive a pointer to a
// 16-byte struct { u64 value; u64 limit; } and may change value. It
// registers the provider with ctx.Register and runs a program on it
// through testrun, as for any built-in type.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// counterType borrows an id no kernel program type uses.
const counterType = ebpf.ProgramType(1000)

type counterProvider struct{}

func (counterProvider) Type() ebpf.ProgramType { return counterType }

func (counterProvider) New(m *vm.Machine, in ctx.Input) (ctx.Instance, error) {
	if len(in.Ctx) != 16 {
		return nil, fmt.Errorf("%w: want 16 bytes, got %d", ctx.ErrInvalidCtx, len(in.Ctx))
	}
	c := &counter{data: append([]byte(nil), in.Ctx...)}
	// The struct is plain memory, named for traces: "counter.value".
	c.addr = m.Map(&vm.Region{Name: "counter", Data: c.data, Kind: hooks.RegionCtx, Describe: func(off uint32) string {
		if off < 8 {
			return fmt.Sprintf("ctx counter.value+%d", off)
		}
		return fmt.Sprintf("ctx counter.limit+%d", off-8)
	}})
	return c, nil
}

type counter struct {
	data []byte
	addr uint64
}

func (c *counter) Arg() uint64 { return c.addr }

func (c *counter) Output() ctx.Output { return ctx.Output{Ctx: c.data} }

// The program: if (ctx->value < ctx->limit) ctx->value++; return ctx->value;
const program = `
r2 = *(u64 *)(r1 +0)
r3 = *(u64 *)(r1 +8)
if r2 >= r3 goto pc+2
r2 += 1
*(u64 *)(r1 +0) = r2
r0 = r2
exit
`

func run(out io.Writer) error {
	ctx.Register(counterProvider{})
	insns, err := isa.Assemble(program)
	if err != nil {
		return err
	}
	prog, err := vm.NewProgram("counter", insns)
	if err != nil {
		return err
	}
	m, err := vm.New(prog, vm.Config{})
	if err != nil {
		return err
	}
	in := make([]byte, 16)
	binary.LittleEndian.PutUint64(in[8:], 3) // limit
	for range 5 {
		res, err := testrun.Run(m, counterType, testrun.Options{Ctx: in})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "value %d -> %d\n", binary.LittleEndian.Uint64(in), res.Retval)
		in = res.CtxOut
	}
	return nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
