package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// coverage counts executions per pc and, for conditional jumps, how often
// each way was taken. It sees every program a run reaches (tail calls).
type coverage struct {
	progs map[string]*progCover
	cur   *progCover
	// prev is the conditional jump just executed, -1 if none.
	prev int
}

type progCover struct {
	prog          *vm.Program
	count         []uint64
	taken, fallen []uint64 // per conditional jump pc
}

func newCoverage() *coverage { return &coverage{progs: map[string]*progCover{}, prev: -1} }

// add makes the programs of inst known (all of a collection's, so tail
// call targets are covered too).
func (c *coverage) add(inst *instance) {
	add := func(p *vm.Program) {
		if _, ok := c.progs[p.Name]; !ok {
			n := p.Len()
			c.progs[p.Name] = &progCover{prog: p, count: make([]uint64, n), taken: make([]uint64, n), fallen: make([]uint64, n)}
		}
	}
	add(inst.prog)
	if inst.coll != nil {
		for _, lp := range inst.coll.Programs {
			add(lp.Prog)
		}
	}
}

// PCs counts a batch of executed pcs. Coverage needs nothing but the
// order of pcs, so it listens as a PC hook, the cheapest per-instruction
// hook: a branch was taken when the next pc is not the jump's successor.
func (c *coverage) PCs(b *hooks.PCBatch) {
	if c.cur == nil || c.cur.prog.Name != b.Prog {
		c.cur, c.prev = c.progs[b.Prog], -1
	}
	pc := c.cur
	if pc == nil {
		return
	}
	for _, at := range b.PC {
		at := int(at)
		if at >= len(pc.count) {
			continue
		}
		if c.prev >= 0 {
			if at == c.prev+1 {
				pc.fallen[c.prev]++
			} else {
				pc.taken[c.prev]++
			}
			c.prev = -1
		}
		pc.count[at]++
		if isCondJump(pc.prog.Insns[at]) {
			c.prev = at
		}
	}
}

func (c *coverage) Enter(*hooks.Run) { c.cur, c.prev = nil, -1 }
func (c *coverage) Exit(*hooks.Run)  {}

// isCondJump reports a JMP or JMP32 instruction with a condition.
func isCondJump(in isa.Insn) bool {
	class := in.Op & 7
	if class != 5 && class != 6 { // BPF_JMP, BPF_JMP32
		return false
	}
	switch in.Op >> 4 {
	case 0x0, 0x8, 0x9, 0xe: // ja, call, exit, (0xe is unused)
		return false
	}
	return true
}

const coverUsage = `usage: bpfscope cover [flags] [PROG.o]

Runs a program over packets like 'bpfscope run' and measures which lines
and branches of the C source ran, from the BTF line info (no recompile, no
kernel). Writes an lcov tracefile (genhtml makes an HTML report of it) and
prints a summary per function. A line counts as run as often as its most
run instruction; a branch is a conditional jump, taken or not.

`

func cmdCover(e *env, args []string) error {
	if wantsClassic(args) {
		return classicCover(e, args)
	}
	fs := flag.NewFlagSet("cover", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), coverUsage); fs.PrintDefaults() }
	var in inputFlags
	in.register(fs)
	out := fs.String("o", "bpfscope.lcov", "write the lcov tracefile to `FILE` (- for stdout)")
	var src sourceDir
	src.register(fs)
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	p, err := in.load(pos)
	if err != nil {
		return err
	}
	cov := newCoverage()
	runs, err := runAll(p, &in, cov, func(inst *instance) { cov.add(inst) })
	if err != nil {
		return err
	}
	src.defaultFor(p)
	report := cov.report(&src)
	if *out == "-" {
		return report.writeLcov(e.stdout, p.name)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = report.writeLcov(bw, p.name)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	report.summary(e.stdout, runs)
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return nil
}

// runAll runs every input packet through one instance with hook attached,
// in order, and returns how many runs there were. setup sees the instance
// before the first run. A damaged capture is reported after the packets
// before the damage have run.
func runAll(p *program, in *inputFlags, hook any, setup func(*instance)) (int, error) {
	ctxIn, src, err := in.inputs(p)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	coll, err := p.collection()
	if err != nil {
		return 0, err
	}
	inst, err := p.instantiate(coll, helpers.NewDefaultEnv())
	if err != nil {
		return 0, err
	}
	if setup != nil {
		setup(inst)
	}
	n := 0
	for {
		pk, err := src.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		inst.execute(context.Background(), p.typ, pk, ctxIn, 0, hook)
		n++
	}
}

// lineKey is a source line.
type lineKey struct {
	file string
	line int
}

type branch struct {
	line, block  int
	taken, other uint64
	reached      bool
}

type funcCover struct {
	name, file      string
	line            int
	calls           uint64
	lines, linesHit int
	branches, brHit int
	insns, insnsRun int
}

type coverReport struct {
	files    map[string]map[int]uint64 // file -> line -> count
	branches map[string][]branch
	funcs    []*funcCover
	paths    map[string]string // file -> SF path
}

func (c *coverage) report(src *sourceDir) *coverReport {
	r := &coverReport{files: map[string]map[int]uint64{}, branches: map[string][]branch{}, paths: map[string]string{}}
	names := make([]string, 0, len(c.progs))
	for n := range c.progs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pc := c.progs[n]
		p := pc.prog
		for _, f := range p.Funcs {
			fc := &funcCover{name: f.Name}
			if f.Start < len(pc.count) {
				fc.calls = pc.count[f.Start]
			}
			if l := p.Line(f.Start); l != nil {
				fc.file, fc.line = l.File, l.Line
			}
			r.funcs = append(r.funcs, fc)
		}
		perFunc := map[string]*funcCover{}
		for _, fc := range r.funcs[len(r.funcs)-len(p.Funcs):] {
			perFunc[fc.name] = fc
		}
		funcLines := map[string]map[lineKey]bool{}
		funcHit := map[string]map[lineKey]bool{}
		for i := 0; i < p.Len(); i++ {
			l := p.Line(i)
			fc := perFunc[p.FuncAt(i)]
			if fc != nil && !(i > 0 && p.Insns[i-1].Op == 0x18) { // not an ld_imm64 tail
				fc.insns++
				if pc.count[i] > 0 {
					fc.insnsRun++
				}
			}
			if l == nil {
				continue
			}
			lines := r.files[l.File]
			if lines == nil {
				lines = map[int]uint64{}
				r.files[l.File] = lines
				r.paths[l.File] = src.resolve(l.File)
			}
			lines[l.Line] = max(lines[l.Line], pc.count[i])
			if fc != nil {
				k := lineKey{l.File, l.Line}
				if funcLines[fc.name] == nil {
					funcLines[fc.name], funcHit[fc.name] = map[lineKey]bool{}, map[lineKey]bool{}
				}
				funcLines[fc.name][k] = true
				if pc.count[i] > 0 {
					funcHit[fc.name][k] = true
				}
			}
			if isCondJump(p.Insns[i]) {
				r.branches[l.File] = append(r.branches[l.File], branch{line: l.Line, block: i,
					taken: pc.taken[i], other: pc.fallen[i], reached: pc.count[i] > 0})
				if fc != nil {
					fc.branches += 2
					fc.brHit += btoi(pc.taken[i] > 0) + btoi(pc.fallen[i] > 0)
				}
			}
		}
		for name, ls := range funcLines {
			perFunc[name].lines, perFunc[name].linesHit = len(ls), len(funcHit[name])
		}
	}
	return r
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeLcov writes the lcov tracefile format geninfo produces
// (TN, SF, FN, FNDA, FNF, FNH, BRDA, BRF, BRH, DA, LF, LH, end_of_record).
func (r *coverReport) writeLcov(w io.Writer, test string) error {
	files := make([]string, 0, len(r.files))
	for f := range r.files {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, file := range files {
		fmt.Fprintf(w, "TN:%s\nSF:%s\n", test, r.paths[file])
		fnf, fnh := 0, 0
		for _, fc := range r.funcs {
			if fc.file == file {
				fmt.Fprintf(w, "FN:%d,%s\n", fc.line, fc.name)
			}
		}
		for _, fc := range r.funcs {
			if fc.file == file {
				fmt.Fprintf(w, "FNDA:%d,%s\n", fc.calls, fc.name)
				fnf++
				fnh += btoi(fc.calls > 0)
			}
		}
		fmt.Fprintf(w, "FNF:%d\nFNH:%d\n", fnf, fnh)
		brf, brh := 0, 0
		for _, b := range r.branches[file] {
			for i, n := range []uint64{b.taken, b.other} {
				if b.reached {
					fmt.Fprintf(w, "BRDA:%d,%d,%d,%d\n", b.line, b.block, i, n)
				} else {
					fmt.Fprintf(w, "BRDA:%d,%d,%d,-\n", b.line, b.block, i)
				}
				brf++
				brh += btoi(n > 0)
			}
		}
		fmt.Fprintf(w, "BRF:%d\nBRH:%d\n", brf, brh)
		lines := make([]int, 0, len(r.files[file]))
		for l := range r.files[file] {
			lines = append(lines, l)
		}
		sort.Ints(lines)
		lh := 0
		for _, l := range lines {
			n := r.files[file][l]
			fmt.Fprintf(w, "DA:%d,%d\n", l, n)
			lh += btoi(n > 0)
		}
		if _, err := fmt.Fprintf(w, "LF:%d\nLH:%d\nend_of_record\n", len(lines), lh); err != nil {
			return err
		}
	}
	return nil
}

func (r *coverReport) summary(w io.Writer, runs int) {
	fmt.Fprintf(w, "%d runs\n%-24s %8s %14s %14s %14s\n", runs, "function", "calls", "lines", "branches", "insns")
	pct := func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%d/%d %3.0f%%", a, b, 100*float64(a)/float64(b))
	}
	for _, fc := range r.funcs {
		fmt.Fprintf(w, "%-24s %8d %14s %14s %14s\n", fc.name, fc.calls, pct(fc.linesHit, fc.lines), pct(fc.brHit, fc.branches), pct(fc.insnsRun, fc.insns))
	}
}
