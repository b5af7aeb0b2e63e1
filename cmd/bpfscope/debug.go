package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bpfscope/bpfscope/debug"
	"github.com/bpfscope/bpfscope/debug/term"
	"github.com/bpfscope/bpfscope/exporters/tracefile"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
)

// cmdDebug is the terminal debugger: gdb's commands over a debug.Session.
func cmdDebug(e *env, args []string) error {
	fs := flag.NewFlagSet("debug", flag.ContinueOnError)
	var in inputFlags
	in.register(fs)
	n := fs.Int("packet", 1, "debug the `N`th frame of the capture (1-based)")
	var cmds listFlag
	fs.Var(&cmds, "ex", "run `COMMAND` before the first prompt (repeatable)")
	history := fs.String("history", defaultHistory(), "keep command history in `FILE` (\"\" for none)")
	rest, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	s, dirs, err := debugSession(&in, rest, *n)
	if err != nil {
		return err
	}
	defer s.Close()
	o := term.Options{Out: e.stdout, HistoryFile: *history, SourceDirs: dirs, Commands: cmds}
	if e.stdin != os.Stdin {
		o.In = io.NopCloser(e.stdin)
	}
	return term.Run(s, o)
}

type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func defaultHistory() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "bpfscope", "debug_history")
	}
	return ""
}

// debugSession builds a session on the program and input the flags name
// (the nth frame of a capture), or on a trace file's recorded run. It also
// returns where to look for C sources.
func debugSession(in *inputFlags, args []string, n int) (*debug.Session, []string, error) {
	if len(args) == 1 {
		if raw, err := os.ReadFile(args[0]); err == nil && !bytes.HasPrefix(raw, []byte("\x7fELF")) {
			if tr, err := tracefile.ReadAll(bytes.NewReader(raw)); err == nil {
				s, err := traceSession(args[0], raw, tr)
				return s, nil, err
			}
		}
	}
	p, err := in.load(args)
	if err != nil {
		return nil, nil, err
	}
	ctxIn, src, err := in.inputs(p)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	if n < 1 {
		return nil, nil, fmt.Errorf("--packet %d: frames count from 1", n)
	}
	var pk packet
	for i := 0; i < n; i++ {
		if pk, err = src.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("--packet %d: the input has %d frame(s)", n, i)
			}
			return nil, nil, err
		}
	}
	opts := testrun.Options{Data: pk.Data, Ctx: ctxIn}
	label := p.label + ": " + p.name
	var t debug.Target
	if p.raw != nil {
		t = debug.Target{Name: label, New: func() (*debug.Instance, error) {
			inst, err := p.instantiate(nil, helpers.NewDefaultEnv())
			if err != nil {
				return nil, err
			}
			return &debug.Instance{Machine: inst.m, Helpers: inst.hs, Type: p.typ, Input: opts}, nil
		}}
	} else if t, err = debug.ObjectTarget(label, p.elf, p.name, opts, p.collection); err != nil {
		return nil, nil, err
	}
	var dirs []string
	if p.objPath != "" {
		dirs = append(dirs, filepath.Dir(p.objPath))
	}
	dirs = append(dirs, "examples/progs")
	s, err := debug.New(t)
	return s, dirs, err
}

// traceSession debugs the run a trace file recorded: its program, maps,
// input and environment, replayed as often as going backwards needs.
func traceSession(name string, raw []byte, tr *tracefile.Trace) (*debug.Session, error) {
	t := debug.Target{Name: filepath.Base(name) + ": " + tr.Capture.Prog.Name + " (recorded)"}
	t.New = func() (*debug.Instance, error) {
		r, err := tracefile.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		c, err := r.Capture()
		if err != nil {
			return nil, err
		}
		m, args, err := c.Machine(helpers.New(helpers.Replay(tr.Env)))
		if err != nil {
			return nil, err
		}
		return &debug.Instance{Machine: m, Type: c.Type, Run: func(m *vm.Machine) (uint64, error) {
			return m.Run(context.Background(), args...)
		}}, nil
	}
	return debug.New(t)
}
