package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/bpfscope/bpfscope/isa"
)

func cmdDisasm(e *env, args []string) error {
	fs := flag.NewFlagSet("disasm", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfscope disasm [--prog NAME] [--type TYPE] [--source-dir DIR] [PROG.o|PROG.bin]\n\nPrints a program in kernel (verifier log) syntax, with function names and\nthe C source line each instruction came from.")
		fs.PrintDefaults()
	}
	var in inputFlags
	in.registerProgram(fs)
	var srcDir sourceDir
	srcDir.register(fs)
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	p, err := in.load(pos)
	if err != nil {
		return err
	}
	srcDir.defaultFor(p)
	inst, err := p.instantiate(nil, nil)
	if err != nil {
		return err
	}
	prog := inst.prog
	fmt.Fprintf(e.stdout, "%s: %s (%s), %d instructions\n", p.label, p.name, p.typ, prog.Len())
	lines := strings.Split(strings.TrimRight(isa.Disassemble(prog.Insns), "\n"), "\n")
	fn, last := "", (*isa.Line)(nil)
	for _, l := range lines {
		var pc int
		if _, err := fmt.Sscanf(l, "%d:", &pc); err != nil {
			continue
		}
		if f := prog.FuncAt(pc); f != fn && f != "" {
			fn = f
			fmt.Fprintf(e.stdout, "\n%s:\n", f)
		}
		if src := prog.Line(pc); src != nil && (last == nil || *src != *last) {
			fmt.Fprintf(e.stdout, "; %s:%d: %s\n", srcDir.resolve(src.File), src.Line, src.Text)
			last = src
		}
		fmt.Fprintln(e.stdout, l)
	}
	return nil
}
