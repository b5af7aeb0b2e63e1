package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	kcap "github.com/bpfscope/bpfscope/capture"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/gopacket/gopacket/layers"
)

const captureUsage = `usage: bpfscope capture [flags] -o FILE (--prog-id N | --pin PATH | --iface NAME [--hook xdp|ingress|egress])

Records what an XDP or tc program running in the kernel saw and did: per
run the frame as it came in, the context fields, the verdict, the frame as
it left, the time and the CPU, plus snapshots of the program's maps. It
attaches fentry/fexit programs to the running program (BPF trampolines);
the program itself is not changed or reloaded. Needs root.

Filters run in the kernel, so a busy interface is not copied to user
space. The capture ends on Ctrl-C, --count, --duration, or when the
program is detached from --iface; everything received is in the file.

The file is pcapng (docs/capture-format.md): tcpdump and Wireshark read
the frames; 'bpfscope run/trace --pcap FILE' run them from the first map
snapshot; 'bpfscope verify --capture FILE PROG.o' replays every run and
compares it with what the kernel did.

`

func cmdCapture(e *env, args []string) error {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), captureUsage); fs.PrintDefaults() }
	var (
		spec     kcap.TargetSpec
		hook     = fs.String("hook", "", "with --iface: `HOOK` xdp (default), ingress or egress (tcx or cls_bpf)")
		out      = fs.String("o", "", "write the capture to `FILE` (pcapng)")
		snaplen  = fs.Int("snaplen", kcap.MaxSnaplen, "keep at most `N` bytes of each frame (as tcpdump -s)")
		verdicts = fs.String("verdict", "", "record only runs ending in `VERDICTS`, e.g. DROP,ABORTED or SHOT")
		count    = fs.Uint64("count", 0, "stop after `N` runs recorded")
		duration = fs.Duration("duration", 0, "stop after `D` (e.g. 30s)")
		sample   = fs.String("sample", "", "record `1/N` of the runs (one in N on each CPU)")
		ether    = fs.String("ethertype", "", "record only frames of `TYPE`: ipv4, ipv6, arp or a number")
		proto    = fs.String("proto", "", "record only IPv4/IPv6 frames of protocol `P`: tcp, udp, icmp, icmpv6, sctp or a number")
		port     = fs.Uint("port", 0, "record only TCP/UDP/SCTP frames with source or destination `PORT`")
		snaps    = fs.Int("map-snapshots", 0, "snapshot the maps every `N` runs recorded, besides at the start")
		ring     = fs.Int("ring-size", 8<<20, "ring buffer `BYTES` (a power of two)")
	)
	fs.Func("prog-id", "the program with `ID` (bpftool prog list)", func(s string) error {
		n, err := strconv.ParseUint(s, 10, 32)
		spec.ID = uint32(n)
		return err
	})
	fs.StringVar(&spec.Pin, "pin", "", "the program pinned at `PATH`")
	fs.StringVar(&spec.Iface, "iface", "", "the program attached to interface `NAME` (see --hook)")
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(pos, " "))
	}
	if *out == "" {
		return errors.New("-o FILE is required")
	}
	spec.Hook = kcap.Hook(*hook)
	opts := kcap.Options{Snaplen: *snaplen, SnapshotEvery: *snaps, RingSize: *ring}
	opts.Count, opts.Duration, opts.Port = *count, *duration, uint16(*port)
	if *port > 65535 {
		return fmt.Errorf("--port %d: not a port", *port)
	}
	if *sample != "" {
		n, ok := strings.CutPrefix(*sample, "1/")
		v, err := strconv.ParseUint(n, 10, 32)
		if !ok || err != nil || v == 0 {
			return fmt.Errorf("--sample %q: want 1/N", *sample)
		}
		opts.SampleEvery = uint32(v)
	}
	if opts.EtherType, err = parseEtherType(*ether); err != nil {
		return err
	}
	if opts.IPProto, err = parseIPProto(*proto); err != nil {
		return err
	}
	var filt []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "verdict", "count", "duration", "sample", "ethertype", "proto", "port":
			filt = append(filt, "--"+f.Name+"="+f.Value.String())
		}
	})
	opts.FilterText = strings.Join(filt, " ")

	tgt, err := kcap.Resolve(spec)
	if err != nil {
		return err
	}
	defer tgt.Close()
	if *verdicts != "" {
		if opts.Verdicts, err = kcap.ParseVerdicts(tgt.Kind(), *verdicts); err != nil {
			return err
		}
	}
	// The file first: nothing is attached when it cannot be written.
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := kcap.Attach(tgt, opts)
	if err != nil {
		f.Close()
		os.Remove(*out)
		return err
	}
	defer c.Close()
	w, err := kcap.NewWriter(f, c.Header())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "capturing %s %q (id %d, tag %s, function %s) to %s; Ctrl-C stops\n",
		tgt.Info.Type, tgt.Info.Name, tgt.ID, tgt.Info.Tag, tgt.Func, *out)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, runErr := c.Run(ctx, w)
	if err := f.Close(); runErr == nil {
		runErr = err
	}
	if st != nil {
		fmt.Fprintf(e.stderr, "%d runs recorded (%s); the program ran %d times while attached: %d skipped by --sample/--duration/frame filters, %d by --verdict, %d past --count; %d records lost (ring buffer full)\n",
			w.Runs(), st.Ended, st.Runs, st.Skipped, st.Verdict, st.OverMax, st.Lost)
	}
	return runErr
}

func parseEtherType(s string) (uint16, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case "ipv4", "ip":
		return uint16(layers.EthernetTypeIPv4), nil
	case "ipv6", "ip6":
		return uint16(layers.EthernetTypeIPv6), nil
	case "arp":
		return uint16(layers.EthernetTypeARP), nil
	}
	v, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return 0, fmt.Errorf("--ethertype %q: want ipv4, ipv6, arp or a number", s)
	}
	return uint16(v), nil
}

func parseIPProto(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "icmp":
		return 1, nil
	case "icmpv6", "icmp6":
		return 58, nil
	case "sctp":
		return 132, nil
	}
	v, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, fmt.Errorf("--proto %q: want tcp, udp, icmp, icmpv6, sctp or a number", s)
	}
	return uint8(v), nil
}

// readCapture reads a bpfscope capture, or returns kcap.ErrNotCapture.
func readCapture(path string) (*kcap.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := kcap.Read(fh)
	if err != nil {
		if errors.Is(err, kcap.ErrNotCapture) {
			return nil, err
		}
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// verifyCapture is verify --capture: replay every captured run in
// bpfscope and compare it with what the kernel did.
func verifyCapture(e *env, in *inputFlags, pos []string, path string, force bool, traceLines *int) error {
	f, err := readCapture(path)
	if err != nil && (f == nil || len(f.Runs) == 0) {
		return err
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "bpfscope verify: %v; replaying the %d runs before the damage\n", err, len(f.Runs))
	}
	// The captured program's function names the program in the object,
	// unless --prog says otherwise or the object has no such program.
	var p *program
	if in.prog == "" {
		in.prog = f.Program.Func
		if p, err = in.load(pos); err != nil {
			in.prog = ""
		}
	}
	if p == nil {
		if p, err = in.load(pos); err != nil {
			return err
		}
	}
	if p.raw != nil {
		return errors.New("verify --capture needs the program's ELF object")
	}
	c, err := p.collection()
	if err != nil {
		return err
	}
	lp := c.Programs[p.name]
	s256, s1 := kcap.Tags(lp.Prog.Insns)
	fmt.Fprintf(e.stdout, "%s: %s (%s), tag %s\ncapture: %s %q on %s, tag %s, %d runs, %d map snapshots\n",
		p.label, p.name, p.typ, s256, f.Program.Type, f.Program.Name, f.Program.Where, f.Program.Tag, len(f.Runs), len(f.Snapshots))
	if !kcap.TagMatches(lp.Prog.Insns, f.Program.Tag) {
		msg := fmt.Sprintf("%s is not the program that ran: its tag is %s (SHA-256) / %s (SHA-1), the captured program's %s", p.label, s256, s1, f.Program.Tag)
		if !force {
			return errors.New(msg + "; --force replays anyway")
		}
		fmt.Fprintf(e.stderr, "bpfscope verify: %s; replaying anyway (--force)\n", msg)
	}
	elf := p.elf
	rp, err := kcap.NewReplayer(f, p.name, func(cpus int) (*loader.Collection, error) {
		return loader.LoadReader(bytes.NewReader(elf), loader.Options{PossibleCPUs: cpus})
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "map snapshots are read from user space while the program runs: not atomic with the runs")
	ctx := context.Background()
	same, diff, skipped, explained := 0, 0, 0, 0
	shown := false
	for i, r := range f.Runs {
		o, err := rp.Next(ctx, i, nil)
		if err != nil {
			return err
		}
		status := "same"
		switch {
		case o.Skipped != "":
			status = "skipped"
			skipped++
		case o.Same():
			same++
		case o.Explained >= 0:
			status = "explained"
			explained++
		default:
			status = "DIFFERENT"
			diff++
		}
		fmt.Fprintf(e.stdout, "#%-4d cpu %-3d %-13s %-9s %s\n", r.N, r.CPU, kcap.VerdictName(f.Program.Kind, r.Verdict), status, summarize(r.In, layers.LinkTypeEthernet))
		if o.Skipped != "" {
			fmt.Fprintf(e.stdout, "      %s\n", o.Skipped)
		}
		for _, d := range o.Diffs {
			fmt.Fprintf(e.stdout, "      %s\n", d)
		}
		if o.Explained >= 0 {
			s := f.Snapshots[o.Explained]
			fmt.Fprintf(e.stdout, "      the snapshot taken after run %d (%s) gives the kernel's result; the maps changed outside the recorded runs:\n", s.AfterRun, s.Taken.Format(time.RFC3339Nano))
			if o.Explained > 0 {
				for _, d := range kcap.SnapshotDiff(f.Snapshots[o.Explained-1], s) {
					fmt.Fprintf(e.stdout, "        %s\n", d)
				}
			}
		}
		if status == "DIFFERENT" && !shown {
			shown = true
			var tb bytes.Buffer
			t := text.New(&tb)
			if _, err := rp.Rerun(ctx, i, t); err != nil {
				return err
			}
			if err := t.Flush(); err != nil {
				return err
			}
			// The kernel leaves no trace to compare with: the end of the
			// run, where its verdict was decided, is what explains it.
			lines := strings.SplitAfter(strings.TrimSuffix(tb.String(), "\n"), "\n")
			if cut := len(lines) - *traceLines; *traceLines > 0 && cut > 0 {
				fmt.Fprintf(e.stdout, "      trace of run %d in bpfscope, its last %d lines (of %d):\n", r.N, *traceLines, len(lines))
				lines = lines[cut:]
			} else {
				fmt.Fprintf(e.stdout, "      trace of run %d in bpfscope:\n", r.N)
			}
			fmt.Fprintln(e.stdout, strings.Join(lines, ""))
		}
	}
	for _, w := range rp.Warns {
		fmt.Fprintf(e.stderr, "bpfscope verify: %s\n", w)
	}
	fmt.Fprintf(e.stdout, "\n%d runs: %d same as the kernel, %d explained by a later map snapshot, %d different, %d not replayable\n", len(f.Runs), same, explained, diff, skipped)
	if diff > 0 {
		return errSilent
	}
	return nil
}
