package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

func cmdVersion(e *env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bpfscope version\n\nPrints the module version, the VCS revision the binary was built from and the Go version.")
	}
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "bpfscope version: takes no arguments\n")
		return errUsage
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(e.stdout, "bpfscope (no build information)")
		return nil
	}
	printVersion(e.stdout, bi)
	return nil
}

// printVersion prints what go build recorded: the module version ("(devel)"
// for a build from a work tree) and, when built from a VCS checkout, its
// revision, its time and whether it had local changes.
func printVersion(w io.Writer, bi *debug.BuildInfo) {
	v := bi.Main.Version
	if v == "" {
		v = "(unknown)"
	}
	fmt.Fprintf(w, "bpfscope %s\n", v)
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		fmt.Fprintf(w, "revision %s", rev)
		if at != "" {
			fmt.Fprintf(w, " (%s)", at)
		}
		if modified == "true" {
			fmt.Fprint(w, ", with local changes")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "built with %s\n", bi.GoVersion)
}
