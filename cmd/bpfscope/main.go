// Command bpfscope runs eBPF programs in user space exactly as Linux's
// BPF_PROG_TEST_RUN would, and shows what they did: verdicts over packet
// captures, instruction traces with source lines, trace files that replay,
// coverage and profiles, and a comparison with the running kernel.
//
// Usage:
//
//	bpfscope run     [flags] [PROG.o|PROG.bin]   run a program over packets
//	bpfscope trace   [flags] [PROG.o|PROG.bin]   print what every instruction did
//	bpfscope dump    [--format text|json] FILE   print a trace file (FILE#N: its run N)
//	bpfscope replay  FILE...                     re-execute trace files and verify them
//	bpfscope diff    A B                         where two recorded runs part ways
//	bpfscope cover   [flags] [PROG.o]            line and branch coverage (lcov)
//	bpfscope profile [flags] [PROG.o]            instruction profile (pprof, Perfetto)
//	bpfscope verify  [flags] PROG.o              compare with the kernel
//	bpfscope disasm  [flags] [PROG.o|PROG.bin]   disassemble with source lines
//	bpfscope capture [flags] -o FILE TARGET      record a running program's runs
//	bpfscope version                             module version and build
//
// With no program, run, trace, cover and profile use the bundled example:
// xdp_firewall.o over a small capture (see package examples), with the
// firewall's blocklist holding examples.BlockedAddr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. Its run function parses args itself and
// returns the exit status.
type command struct {
	summary string
	run     func(e *env, args []string) error
}

// env is what a subcommand may touch of the process, so tests run the
// command in-process with buffers.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
}

var commands map[string]command

func init() {
	// Assigned in init: the help command refers to the table.
	commands = map[string]command{
		"run":     {"run a program over packets and report verdicts", cmdRun},
		"trace":   {"print what every instruction did", cmdTrace},
		"dump":    {"print a trace file as text or JSON", cmdDump},
		"replay":  {"re-execute trace files and verify they replay identically", cmdReplay},
		"diff":    {"show where two trace files part ways", cmdDiff},
		"cover":   {"line and branch coverage of the C source, as lcov", cmdCover},
		"profile": {"instruction profile as pprof, spans as Chrome trace JSON", cmdProfile},
		"verify":  {"run packets in bpfscope and in the kernel and compare", cmdVerify},
		"disasm":  {"disassemble a program in kernel syntax with source lines", cmdDisasm},
		"debug":   {"debug a program interactively, forwards and backwards (gdb commands)", cmdDebug},
		"dap":     {"serve the Debug Adapter Protocol for editors (stdio or --listen ADDR)", cmdDAP},
		"capture": {"record what a program running in the kernel saw and did (pcapng)", cmdCapture},
		"version": {"print the module version and how this binary was built", cmdVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}))
}

// errSilent is returned by subcommands that have already reported what
// went wrong, and only need a non-zero exit status.
var errSilent = errors.New("failed")

// run executes one command line and returns the exit status: 0 on
// success, 1 when the command failed, 2 for usage errors.
func run(args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(e.stdout) // asked for: stdout, so that it pages
		return 0
	case "-version", "--version":
		args = []string{"version"}
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "bpfscope: unknown command %q\n", args[0])
		usage(e.stderr)
		return 2
	}
	err := c.run(e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errSilent):
		return 1
	}
	code := 1
	var st *statusError
	if errors.As(err, &st) {
		code, err = st.code, st.err
	}
	fmt.Fprintf(e.stderr, "bpfscope %s: %v\n", args[0], err)
	return code
}

// statusError is an error with the exit status it calls for, where a
// command's status means more than failure (diff: 1 differ, 2 trouble).
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bpfscope COMMAND [flags] [args]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	n := len(bundledDefault)
	fmt.Fprintln(w, "Run 'bpfscope COMMAND -h' for the flags of a command. Without a program,")
	fmt.Fprintf(w, "%s and %s use the bundled xdp_firewall example and capture.\n", strings.Join(bundledDefault[:n-1], ", "), bundledDefault[n-1])
}

// bundledDefault lists the commands that run the bundled example when
// given no program.
var bundledDefault = []string{"run", "trace", "debug", "cover", "profile", "verify", "disasm"}

// errUsage marks a command line error; the flag package has printed it.
var errUsage = errors.New("usage")

// parse parses a subcommand's flags, reporting errors on e.stderr, and
// returns the positional arguments. Flags may follow positional arguments
// ("bpfscope run prog.o --pcap in.pcap"), as in bpftool.
func parse(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(e.stderr)
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout) // asked for: stdout, exit 0
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
