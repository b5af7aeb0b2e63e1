package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/bpfscope/bpfscope/debug"
	dapserver "github.com/bpfscope/bpfscope/debug/dap"
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
	n := fs.Int("packet", 1, "debug the `N`th frame of the capture, or run N of a trace file of several (1-based; or FILE#N)")
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
		name, run := splitRun(args[0])
		if raw, err := os.ReadFile(name); err == nil && bytes.HasPrefix(raw, []byte(tracefile.Magic)) {
			// A file of several runs: run N of FILE#N, else the --packet'th.
			if runs, err := countRuns(bytes.NewReader(raw)); err == nil && runs > 1 && run == 0 {
				run = n
			}
			if run > 0 {
				if raw, err = loadRuns(fmt.Sprintf("%s#%d", name, run)); err != nil {
					return nil, nil, err
				}
			}
			tr, err := tracefile.ReadAll(bytes.NewReader(raw))
			if err != nil {
				return nil, nil, err
			}
			s, err := traceSession(name, raw, tr)
			return s, nil, err
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
	t.SourceDirs = dirs
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
		c.Input = tr.Capture.Input // a version 3 file's comes with its run
		m, args, err := c.Machine(helpers.New(helpers.Replay(tr.Env)))
		if err != nil {
			return nil, err
		}
		return &debug.Instance{Machine: m, Type: c.Type, Run: func(m *vm.Machine) (uint64, error) {
			return m.Run(context.Background(), args...)
		}}, nil
	}
	t.SourceDirs = []string{filepath.Dir(name), "examples/progs"}
	return debug.New(t)
}

// cmdDAP serves the Debug Adapter Protocol on stdin and stdout, or on a
// TCP address (one client at a time, until the process is stopped).
func cmdDAP(e *env, args []string) error {
	fs := flag.NewFlagSet("dap", flag.ContinueOnError)
	listen := fs.String("listen", "", "serve DAP clients on `ADDR` (host:port) instead of stdin/stdout")
	if _, err := parse(e, fs, args); err != nil {
		return err
	}
	if *listen == "" {
		return dapserver.Serve(stdio{e.stdin, e.stdout}, openLaunch)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(e.stderr, "DAP server listening at: %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		if err := dapserver.Serve(c, openLaunch); err != nil {
			fmt.Fprintf(e.stderr, "bpfscope dap: %v\n", err)
		}
		c.Close()
	}
}

type stdio struct {
	io.Reader
	io.Writer
}

// openLaunch builds a session from a DAP launch request's arguments,
// exactly as the debug command builds one from its flags.
func openLaunch(a dapserver.LaunchArgs) (*debug.Session, error) {
	in := inputFlags{prog: a.Prog, pcap: a.Pcap, dataIn: a.DataIn, ctxIn: a.CtxIn}
	var args []string
	if a.Program != "" {
		args = []string{a.Program}
	}
	n := a.Packet
	if n == 0 {
		n = 1
	}
	s, _, err := debugSession(&in, args, n)
	return s, err
}
