package tracefile

import (
	"fmt"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// Capture is everything one run depends on: the program, its type, the
// maps it uses, the test-run input and the environment. A Writer stores
// it ahead of the event stream; a Reader gives it back.
type Capture struct {
	Prog *vm.Program
	// Type selects the context provider (package ctx). The unspecified
	// type runs the program as the conformance suite does: r1 points to a
	// copy of Input.Data ("mem") and r2 holds its length.
	Type  ebpf.ProgramType
	Maps  []maps.Map // in the order of vm.Config.Maps
	Input ctx.Input
	// Env records the host state helpers read (may be nil when the
	// helpers read none); its log is stored when the run ends.
	Env *helpers.RecordingEnv
	// CPUs is the number of possible CPUs per-CPU maps were created with
	// (0 means 1).
	CPUs int

	// the context Start built last, for a Writer attached as a hook to
	// read the run's data_out and ctx_out
	inst    ctx.Instance
	mem     []byte
	started bool
}

// output returns the outputs of the run Start set up last.
func (c *Capture) output() (ctx.Output, bool) {
	switch {
	case !c.started:
		return ctx.Output{}, false
	case c.inst != nil:
		return c.inst.Output(), true
	}
	return ctx.Output{Data: c.mem}, true
}

// Machine builds a machine for the capture with the given helpers and maps
// the run's context, returning the arguments to pass to Run.
func (c *Capture) Machine(hs vm.HelperSet) (*vm.Machine, []uint64, error) {
	vmaps := make([]vm.Map, len(c.Maps))
	for i, mp := range c.Maps {
		vmaps[i] = mp
	}
	m, err := vm.New(c.Prog, vm.Config{Helpers: hs, Maps: vmaps})
	if err != nil {
		return nil, nil, err
	}
	args, err := c.Start(m)
	if err != nil {
		return nil, nil, err
	}
	return m, args, nil
}

// Start resets m and maps the run's context into it, returning the
// arguments to pass to Run.
func (c *Capture) Start(m *vm.Machine) ([]uint64, error) {
	m.Reset()
	c.inst, c.mem, c.started = nil, nil, false
	if c.Type == ebpf.UnspecifiedProgram {
		c.started = true
		if len(c.Input.Data) == 0 {
			return []uint64{0, 0}, nil
		}
		c.mem = append([]byte(nil), c.Input.Data...)
		addr := m.Map(&vm.Region{Name: "mem", Data: c.mem})
		return []uint64{addr, uint64(len(c.Input.Data))}, nil
	}
	p, err := ctx.Lookup(c.Type)
	if err != nil {
		return nil, err
	}
	inst, err := p.New(m, c.Input)
	if err != nil {
		return nil, fmt.Errorf("%s context: %w", c.Type, err)
	}
	c.inst, c.started = inst, true
	return []uint64{inst.Arg()}, nil
}
