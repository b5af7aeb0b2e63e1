package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bpfscope/bpfscope/cbpf"
	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// classicFlags are the flags of run and trace for classic BPF: a packet
// filter (--cbpf, --cbpf-expr) over a capture, or a seccomp filter
// (--seccomp) over system calls.
type classicFlags struct {
	cbpf, expr, seccomp string
	pcap, pcapOut       string
	dropOut             string
	syscalls            []string
	syscallsJSON        string
	quiet               bool
	// hook, if set, is attached to the filter's machine (cover, profile).
	hook any
	runs int // inputs run so far
}

// wantsClassic reports whether a run or trace command line names a
// classic filter, which the classic commands handle.
func wantsClassic(args []string) bool {
	for _, a := range args {
		for _, f := range []string{"-cbpf", "-cbpf-expr", "-seccomp"} {
			if a == f || a == "-"+f || strings.HasPrefix(a, f+"=") || strings.HasPrefix(a, "-"+f+"=") {
				return true
			}
		}
	}
	return false
}

func (c *classicFlags) register(fs *flag.FlagSet, trace bool) {
	fs.StringVar(&c.cbpf, "cbpf", "", "a classic packet `FILTER`: tcpdump -dd or -ddd output, or @FILE holding that or raw struct sock_filter bytes")
	fs.StringVar(&c.expr, "cbpf-expr", "", "a libpcap filter `EXPRESSION`, compiled with the installed tcpdump")
	fs.StringVar(&c.seccomp, "seccomp", "", "a seccomp `FILTER` (forms as --cbpf), run on --syscall or --syscalls")
	fs.StringVar(&c.pcap, "pcap", "", "run the packet filter on every frame of this pcap or pcapng `FILE` (default: the bundled sample)")
	fs.Func("syscall", "a system call for --seccomp: `\"NAME|NR [ARG...]\"` (x86-64); repeatable", func(s string) error {
		c.syscalls = append(c.syscalls, s)
		return nil
	})
	fs.StringVar(&c.syscallsJSON, "syscalls", "", "a JSON `FILE` listing system calls for --seccomp: [{\"nr\": \"openat\", \"args\": [...]}]")
	if !trace {
		fs.StringVar(&c.pcapOut, "pcap-out", "", "write the accepted frames, cut to the filter's snap length, to the pcap `FILE`")
		fs.StringVar(&c.dropOut, "drop-out", "", "write the frames the filter dropped to the pcap `FILE`")
		fs.BoolVar(&c.quiet, "q", false, "print only the summary")
	}
}

// filter reads the filter the flags name.
func (c *classicFlags) filter() (cbpf.Filter, cbpf.Mode, string, error) {
	n := 0
	for _, s := range []string{c.cbpf, c.expr, c.seccomp} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, 0, "", fmt.Errorf("%w: give one of --cbpf, --cbpf-expr and --seccomp", errUsage)
	}
	switch {
	case c.expr != "":
		f, err := cbpf.Compile(c.expr)
		return f, cbpf.Socket, fmt.Sprintf("%q", c.expr), err
	case c.seccomp != "":
		f, label, err := readClassic(c.seccomp)
		return f, cbpf.Seccomp, label, err
	}
	f, label, err := readClassic(c.cbpf)
	return f, cbpf.Socket, label, err
}

// readClassic reads a filter given inline or as @FILE (text or raw bytes).
func readClassic(arg string) (cbpf.Filter, string, error) {
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, "", err
		}
		if f, err := cbpf.Parse(string(b)); err == nil {
			return f, name, nil
		} else if !bytes.ContainsFunc(b, func(r rune) bool { return r == 0 || r > 0x7e }) {
			return nil, "", fmt.Errorf("%s: %w", name, err) // text that does not parse
		}
		f, err := cbpf.FromBytes(b)
		if err != nil {
			return nil, "", fmt.Errorf("%s: neither tcpdump -dd/-ddd text nor struct sock_filter bytes: %w", name, err)
		}
		return f, name, nil
	}
	f, err := cbpf.Parse(arg)
	return f, "(inline)", err
}

const classicUsage = `usage: bpfscope %s --cbpf FILTER | --cbpf-expr EXPR [--pcap FILE] [flags]
       bpfscope %[1]s --seccomp FILTER --syscall "NAME ARG..." [--syscalls FILE.json]

Runs a classic BPF filter as Linux does: checked as SO_ATTACH_FILTER and
seccomp(2) check it, converted to eBPF as the kernel converts it, and run in
bpfscope's interpreter. A packet filter sees every frame of the capture from
its Ethernet header, as a packet socket (tcpdump) does; the verdict is the
number of bytes kept, 0 to drop. A seccomp filter sees struct seccomp_data
of each system call (x86-64) and returns an action. trace prints every eBPF
instruction under the classic instruction it came from.

FILTER is tcpdump -dd or -ddd output, or @FILE holding that or raw struct
sock_filter bytes: --cbpf "$(tcpdump -dd 'tcp port 80')".

`

// usagef reports a command line error and returns errUsage (exit status 2).
func usagef(e *env, cmd, format string, args ...any) error {
	fmt.Fprintf(e.stderr, "bpfscope %s: %s\n", cmd, fmt.Sprintf(format, args...))
	return errUsage
}

// classicRun is run and trace for classic filters.
func classicRun(e *env, args []string, trace bool) error {
	name := "run"
	if trace {
		name = "trace"
	}
	fset := flag.NewFlagSet(name, flag.ContinueOnError)
	fset.Usage = func() { fmt.Fprintf(fset.Output(), classicUsage, name); fset.PrintDefaults() }
	var c classicFlags
	c.register(fset, trace)
	pos, err := parse(e, fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef(e, name, "a classic filter takes no program argument (got %s)", strings.Join(pos, " "))
	}
	f, mode, label, err := c.filter()
	if errors.Is(err, errUsage) {
		return usagef(e, name, "give one of --cbpf, --cbpf-expr and --seccomp")
	}
	if err != nil {
		return err
	}
	p, err := cbpf.Load("cbpf", f, mode)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	var tw *text.Writer
	if trace {
		tw = text.New(e.stdout)
		defer tw.Flush()
	}
	if mode == cbpf.Seccomp {
		return c.runSeccomp(e, p, label, tw)
	}
	if len(c.syscalls) > 0 || c.syscallsJSON != "" {
		return usagef(e, name, "--syscall and --syscalls go with --seccomp")
	}
	return c.runSocket(e, p, label, tw)
}

func (c *classicFlags) runSocket(e *env, p *cbpf.Program, label string, tw *text.Writer) error {
	var rc io.ReadCloser
	what := c.pcap
	if c.pcap == "" {
		b, err := fs.ReadFile(examples.Progs, examples.SamplePcap)
		if err != nil {
			return err
		}
		rc, what = io.NopCloser(bytes.NewReader(b)), "bundled sample.pcap"
	} else {
		f, err := os.Open(c.pcap)
		if err != nil {
			return err
		}
		rc = f
	}
	src, err := openCapture(rc, what)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.LinkType() != layers.LinkTypeEthernet {
		return fmt.Errorf("%s: link type %s: classic filters run here on Ethernet captures only", what, src.LinkType())
	}
	r, err := p.NewSocketRunner(nil, vm.Config{})
	if err != nil {
		return err
	}
	c.attach(r.Machine(), tw)
	fmt.Fprintf(e.stdout, "classic socket filter %s, %d instructions (%d eBPF), on %s\n", label, len(p.Filter), p.EBPF.Len(), what)
	if tw != nil {
		fmt.Fprint(e.stdout, indent(p.Filter.String(), "  "))
	}
	fmt.Fprintln(e.stdout)
	out, drop := newPcapWriter(c.pcapOut, layers.LinkTypeEthernet), newPcapWriter(c.dropOut, layers.LinkTypeEthernet)
	accepted, total := 0, 0
	for {
		pkt, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		total++
		c.runs++
		if tw != nil {
			fmt.Fprintf(e.stdout, "=== packet %d: %s (%d bytes) ===\n", pkt.N, summarize(pkt.Data, layers.LinkTypeEthernet), len(pkt.Data))
		}
		v, err := r.Run(context.Background(), pkt.Data)
		if tw != nil {
			tw.Flush()
		}
		if err != nil {
			return fmt.Errorf("packet %d: %w", pkt.N, err)
		}
		verdict := "drop"
		if v.Accepted() {
			accepted++
			verdict = fmt.Sprintf("accept %d", v.Len)
			if err := out.writeCut(pkt.Info, pkt.Data[:v.Len]); err != nil {
				return err
			}
		} else if err := drop.writeCut(pkt.Info, pkt.Data); err != nil {
			return err
		}
		if !c.quiet || tw != nil {
			fmt.Fprintf(e.stdout, "#%-4d %s %-12s %s (%d bytes)\n", pkt.N, pkt.Info.Timestamp.UTC().Format("15:04:05.000000"), verdict, summarize(pkt.Data, layers.LinkTypeEthernet), len(pkt.Data))
		}
		if tw != nil {
			fmt.Fprintln(e.stdout)
		}
	}
	if !c.quiet {
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintf(e.stdout, "accepted %d of %d frames\n", accepted, total)
	for _, w := range []*pcapWriter{out, drop} {
		if err := w.close(); err != nil {
			return err
		}
		if w != nil {
			fmt.Fprintf(e.stdout, "wrote %d frame(s) to %s\n", w.n, w.path)
		}
	}
	return nil
}

// attach attaches the text trace and the flags' hook, if any.
func (c *classicFlags) attach(m *vm.Machine, tw *text.Writer) {
	for _, h := range []any{tw, c.hook} {
		if h != nil && h != (*text.Writer)(nil) {
			m.Attach(h)
		}
	}
}

// classicLoad parses the flags of cover and profile for a classic filter
// (those of run, and out as the output flag) and loads the filter.
func classicLoad(e *env, name string, args []string, out *string, def string) (*classicFlags, *cbpf.Program, string, error) {
	fset := flag.NewFlagSet(name, flag.ContinueOnError)
	fset.Usage = func() { fmt.Fprintf(fset.Output(), classicUsage, name); fset.PrintDefaults() }
	c := &classicFlags{}
	c.register(fset, true)
	fset.StringVar(out, "o", def, "write the output to `FILE`")
	pos, err := parse(e, fset, args)
	if err != nil {
		return nil, nil, "", err
	}
	if len(pos) > 0 {
		return nil, nil, "", usagef(e, name, "a classic filter takes no program argument (got %s)", strings.Join(pos, " "))
	}
	f, mode, label, err := c.filter()
	if errors.Is(err, errUsage) {
		return nil, nil, "", usagef(e, name, "give one of --cbpf, --cbpf-expr and --seccomp")
	}
	if err != nil {
		return nil, nil, "", err
	}
	p, err := cbpf.Load("cbpf", f, mode)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", label, err)
	}
	return c, p, label, nil
}

// runQuietly runs the filter over all its inputs with c.hook
// attached and returns how many runs there were.
func (c *classicFlags) runQuietly(e *env, p *cbpf.Program, label string) (int, error) {
	var out bytes.Buffer
	quiet := &env{stdout: &out, stderr: e.stderr, stdin: e.stdin}
	c.quiet = true
	var err error
	if p.Mode == cbpf.Seccomp {
		err = c.runSeccomp(quiet, p, label, nil)
	} else {
		err = c.runSocket(quiet, p, label, nil)
	}
	return c.runs, err
}

// classicCover is cover for a classic filter: which classic instructions
// and branches ran, as lcov over the filter's listing (written beside it).
func classicCover(e *env, args []string) error {
	var out string
	c, p, label, err := classicLoad(e, "cover", args, &out, "bpfscope.lcov")
	if err != nil {
		return err
	}
	cov := newCoverage()
	cov.progs[p.EBPF.Name] = &progCover{prog: p.EBPF, count: make([]uint64, p.EBPF.Len()), taken: make([]uint64, p.EBPF.Len()), fallen: make([]uint64, p.EBPF.Len())}
	c.hook = cov
	runs, err := c.runQuietly(e, p, label)
	if err != nil {
		return err
	}
	listing := filepath.Join(filepath.Dir(out), cbpf.ListingFile)
	if out == "-" {
		listing = cbpf.ListingFile
	}
	if err := os.WriteFile(listing, []byte(p.Filter.String()), 0o644); err != nil {
		return err
	}
	report := cov.report(&sourceDir{dir: filepath.Dir(listing), explicit: true})
	if err := writeFile(out, func(w io.Writer) error { return report.writeLcov(w, label) }); err != nil {
		return err
	}
	if out == "-" {
		return nil
	}
	report.summary(e.stdout, runs)
	// Per classic instruction: how often it ran.
	counts := make([]uint64, len(p.Filter))
	for pc, n := range cov.progs[p.EBPF.Name].count {
		if i := p.ClassicPC(pc); i >= 0 {
			counts[i] = max(counts[i], n)
		}
	}
	fmt.Fprintf(e.stdout, "\n%8s  %s\n", "runs", "classic instruction")
	for i, in := range p.Filter {
		fmt.Fprintf(e.stdout, "%8d  (%03d) %s\n", counts[i], i, cbpf.Disasm(in, i))
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s\n", out, listing)
	return nil
}

// classicProfile is profile for a classic filter: eBPF instructions
// executed per classic instruction, as pprof.
func classicProfile(e *env, args []string) error {
	var out string
	c, p, label, err := classicLoad(e, "profile", args, &out, "bpfscope.pprof")
	if err != nil {
		return err
	}
	pr := newProfiler()
	pr.progs[p.EBPF.Name] = p.EBPF
	c.hook = pr
	runs, err := c.runQuietly(e, p, label)
	if err != nil {
		return err
	}
	prof := pr.build(&sourceDir{})
	if err := prof.CheckValid(); err != nil {
		return err
	}
	if err := writeFile(out, prof.Write); err != nil {
		return err
	}
	byInsn := map[int64]int64{}
	var total int64
	for _, s := range prof.Sample {
		byInsn[s.Location[0].Line[0].Line] += s.Value[0]
		total += s.Value[0]
	}
	fmt.Fprintf(e.stdout, "%d runs, %d eBPF instructions executed\n%10s %6s  %s\n", runs, total, "insns", "share", "classic instruction")
	for i, in := range p.Filter {
		if n := byInsn[int64(i+1)]; n > 0 {
			fmt.Fprintf(e.stdout, "%10d %5.1f%%  (%03d) %s\n", n, 100*float64(n)/float64(total), i, cbpf.Disasm(in, i))
		}
	}
	if n := byInsn[0]; n > 0 {
		fmt.Fprintf(e.stdout, "%10d %5.1f%%  (prologue: A = X = 0, ctx in r6)\n", n, 100*float64(n)/float64(total))
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", out)
	return nil
}

// writeCut writes a frame cut to a snap length, keeping its original
// length in the record (as a capture filter's snap length does).
func (w *pcapWriter) writeCut(ci gopacket.CaptureInfo, data []byte) error {
	if w == nil {
		return nil
	}
	if err := w.open(); err != nil {
		return err
	}
	w.n++
	ci.CaptureLength = len(data)
	return w.w.WritePacket(ci, data)
}

func (c *classicFlags) runSeccomp(e *env, p *cbpf.Program, label string, tw *text.Writer) error {
	var calls []cbpf.SeccompData
	for _, s := range c.syscalls {
		d, err := cbpf.ParseSyscall(s)
		if err != nil {
			return fmt.Errorf("--syscall %q: %w", s, err)
		}
		calls = append(calls, d)
	}
	if c.syscallsJSON != "" {
		b, err := os.ReadFile(c.syscallsJSON)
		if err != nil {
			return err
		}
		list, err := cbpf.ParseSyscallsJSON(b)
		if err != nil {
			return fmt.Errorf("%s: %w", c.syscallsJSON, err)
		}
		calls = append(calls, list...)
	}
	if len(calls) == 0 {
		return usagef(e, "run", "no system call to filter: give --syscall \"NAME ARG...\" or --syscalls FILE.json")
	}
	r, err := p.NewSeccompRunner(nil, vm.Config{})
	if err != nil {
		return err
	}
	c.attach(r.Machine(), tw)
	fmt.Fprintf(e.stdout, "seccomp filter %s, %d instructions (%d eBPF)\n\n", label, len(p.Filter), p.EBPF.Len())
	counts := map[string]int{}
	for i, d := range calls {
		if tw != nil {
			fmt.Fprintf(e.stdout, "=== system call %d: %s ===\n", i+1, syscallString(d))
		}
		c.runs++
		a, err := r.Run(context.Background(), d)
		if tw != nil {
			tw.Flush()
		}
		if err != nil {
			return fmt.Errorf("system call %d: %w", i+1, err)
		}
		counts[a.Name()]++
		fmt.Fprintf(e.stdout, "%-40s %s\n", syscallString(d), a)
		if tw != nil {
			fmt.Fprintln(e.stdout)
		}
	}
	if len(calls) > 1 {
		fmt.Fprintln(e.stdout)
		kinds := make([]string, 0, len(counts))
		for k := range counts {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(e.stdout, "%-28s %d\n", k, counts[k])
		}
	}
	return nil
}

// syscallString prints a system call as strace does: name(args).
func syscallString(d cbpf.SeccompData) string {
	name := cbpf.SyscallName(d.Nr)
	if name == "" {
		name = fmt.Sprintf("syscall_%d", d.Nr)
	}
	last := 0
	for i, a := range d.Args {
		if a != 0 {
			last = i + 1
		}
	}
	args := make([]string, last)
	for i := range last {
		args[i] = fmt.Sprintf("%#x", d.Args[i])
	}
	s := name + "(" + strings.Join(args, ", ") + ")"
	if d.Arch != cbpf.AuditArchX8664 {
		s += fmt.Sprintf(" arch %#x", d.Arch)
	}
	return s
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
