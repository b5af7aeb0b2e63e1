package debug

import (
	"bytes"
	"fmt"

	"github.com/bpfscope/bpfscope/debuginfo"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
)

// ObjectTarget debugs program prog of an ELF object on one input. load
// must return a fresh collection of the object each time (with any map
// contents the run starts with); obj is the object's bytes, for its DWARF
// (nil: debug without). Each run gets helpers over a new
// helpers.DefaultEnv, so runs repeat exactly.
func ObjectTarget(label string, obj []byte, prog string, in testrun.Options, load func() (*loader.Collection, error)) (Target, error) {
	info := &debuginfo.Info{}
	if obj != nil {
		if i, err := debuginfo.Load(bytes.NewReader(obj)); err == nil {
			info = i
		}
	}
	t := Target{Name: label, Info: info}
	t.New = func() (*Instance, error) {
		c, err := load()
		if err != nil {
			return nil, err
		}
		name := prog
		if name == "" && len(c.Programs) == 1 {
			for n := range c.Programs {
				name = n
			}
		}
		p, err := c.Program(name)
		if err != nil {
			return nil, err
		}
		hs := helpers.New(helpers.NewDefaultEnv())
		m, err := c.Machine(p.Name, vm.Config{Helpers: hs})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		opts := in
		if opts.KernelTypes == nil {
			opts.KernelTypes = c.KernelTypes()
		}
		return &Instance{Machine: m, Coll: c, Helpers: hs, Type: p.Type, Input: opts}, nil
	}
	// Fail now, not at the first command, if the program cannot be built.
	if _, err := t.New(); err != nil {
		return Target{}, err
	}
	return t, nil
}
