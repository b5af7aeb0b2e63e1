// Package term is bpfscope's terminal debugger: gdb's commands and
// aliases over a debug.Session, with line editing and history
// (github.com/chzyer/readline), the current source line after every stop,
// values with their C types, and IPv4 and MAC addresses in their usual
// notation.
package term

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/debug"
	"github.com/chzyer/readline"
)

// Options configure a terminal session.
type Options struct {
	In          io.ReadCloser // default os.Stdin
	Out         io.Writer     // default os.Stdout
	HistoryFile string        // "" keeps no history on disk
	// SourceDirs are searched for C sources whose recorded path does not
	// exist (by base name); without the file, list shows the lines BTF has.
	SourceDirs []string
	// Commands run before the first prompt (from --ex flags).
	Commands []string
}

// Run drives s from a terminal until quit or end of input.
func Run(s *debug.Session, o Options) error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	cfg := &readline.Config{
		Prompt:          "(bpfscope) ",
		HistoryFile:     o.HistoryFile,
		Stdin:           o.In,
		Stdout:          o.Out,
		Stderr:          o.Out,
		InterruptPrompt: "^C",
		EOFPrompt:       "quit",
		AutoComplete:    completer(),
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return err
	}
	defer rl.Close()
	// Output goes straight to the terminal: readline's own writer redraws
	// the prompt after every write.
	t := &terminal{s: s, out: o.Out, dirs: o.SourceDirs, src: map[string][]string{}}
	fmt.Fprintf(t.out, "bpfscope debugger: %s. \"help\" lists the commands.\n", s.Target().Name)
	for _, c := range o.Commands {
		fmt.Fprintf(t.out, "(bpfscope) %s\n", c)
		if t.exec(c) {
			return nil
		}
	}
	last := ""
	for {
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err != nil { // EOF
			return nil
		}
		line = strings.TrimSpace(line)
		if line == "" {
			line = last // gdb repeats the last command
		}
		if line == "" {
			continue
		}
		last = line
		if t.exec(line) {
			return nil
		}
	}
}

type terminal struct {
	s    *debug.Session
	out  io.Writer
	dirs []string
	src  map[string][]string
	// listFile and listLine are where list goes on.
	listFile string
	listLine int
}

func (t *terminal) printf(format string, args ...any) { fmt.Fprintf(t.out, format, args...) }

var aliases = map[string]string{
	"b": "break", "br": "break", "c": "continue", "cont": "continue", "s": "step", "n": "next",
	"si": "stepi", "ni": "nexti", "fin": "finish", "r": "run", "p": "print", "i": "info",
	"l": "list", "bt": "backtrace", "where": "backtrace", "d": "delete", "q": "quit",
	"rs": "reverse-step", "rn": "reverse-next", "rsi": "reverse-stepi", "rc": "reverse-continue",
	"h": "help", "exit": "quit", "disas": "disassemble",
}

var commands = []string{"break", "watch", "rwatch", "awatch", "delete", "condition", "ignore", "run", "start",
	"continue", "step", "next", "stepi", "nexti", "finish", "reverse-step", "reverse-next", "reverse-stepi",
	"reverse-continue", "print", "info", "x", "list", "backtrace", "map", "disassemble", "help", "quit"}

func completer() readline.AutoCompleter {
	var items []readline.PrefixCompleterInterface
	for _, c := range commands {
		switch c {
		case "info":
			items = append(items, readline.PcItem(c, readline.PcItem("locals"), readline.PcItem("args"),
				readline.PcItem("registers"), readline.PcItem("frame"), readline.PcItem("maps"),
				readline.PcItem("breakpoints"), readline.PcItem("watchpoints"), readline.PcItem("globals")))
		case "map":
			items = append(items, readline.PcItem(c, readline.PcItem("dump")))
		default:
			items = append(items, readline.PcItem(c))
		}
	}
	return readline.NewPrefixCompleter(items...)
}

// exec runs one command line; it reports whether to quit.
func (t *terminal) exec(line string) bool {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	format := ""
	if c, f, ok := strings.Cut(cmd, "/"); ok && (c == "p" || c == "print" || c == "x") {
		cmd, format = c, f
	}
	if a, ok := aliases[cmd]; ok {
		cmd = a
	}
	var err error
	switch cmd {
	case "quit":
		t.s.Close()
		return true
	case "help":
		t.help()
	case "start":
		err = t.show(t.s.Start())
	case "run":
		if _, err = t.s.Start(); err == nil {
			err = t.show(t.s.Continue())
		}
	case "continue":
		err = t.show(t.s.Continue())
	case "step":
		err = t.repeat(arg, t.s.Step)
	case "next":
		err = t.repeat(arg, t.s.Next)
	case "stepi", "nexti":
		err = t.repeat(arg, t.s.StepInstruction)
	case "finish":
		err = t.finish()
	case "reverse-step":
		err = t.repeat(arg, t.s.ReverseStep)
	case "reverse-next":
		err = t.repeat(arg, t.s.ReverseNext)
	case "reverse-stepi":
		err = t.repeat(arg, t.s.ReverseStepInstruction)
	case "reverse-continue":
		err = t.show(t.s.ReverseContinue())
	case "break":
		err = t.breakCmd(arg)
	case "watch":
		err = t.watch(arg, debug.WatchWrite)
	case "rwatch":
		err = t.watch(arg, debug.WatchRead)
	case "awatch":
		err = t.watch(arg, debug.WatchAccess)
	case "delete":
		err = t.deleteCmd(arg)
	case "condition", "ignore":
		err = t.condition(cmd, arg)
	case "print":
		err = t.print(arg, format)
	case "info":
		err = t.info(arg)
	case "x":
		err = t.examine(format, arg)
	case "list":
		err = t.list(arg)
	case "backtrace":
		t.backtrace()
	case "map":
		err = t.mapCmd(arg)
	case "disassemble":
		t.disassemble()
	default:
		err = fmt.Errorf("undefined command: %q. Try \"help\"", cmd)
	}
	if err != nil {
		t.printf("%s\n", err)
	}
	return false
}

// finish says what it leaves and, back in the caller, what came back.
func (t *terminal) finish() error {
	if bt := t.s.Backtrace(); len(bt) > 0 {
		t.printf("Run till exit from #0 %s\n", bt[0].Func)
	}
	st, err := t.s.Finish()
	if err := t.show(st, err); err != nil {
		return err
	}
	if st.Reason == debug.ReasonStep {
		if regs, err := t.s.Registers(); err == nil {
			t.printf("Value returned: r0 = %d\n", int64(regs[0]))
		}
	}
	return nil
}

func (t *terminal) help() {
	t.printf(`Running:    run (r), start, continue (c), step (s) [N], next (n) [N], stepi (si) [N], finish (fin)
Backwards:  reverse-step (rs), reverse-next (rn), reverse-stepi (rsi), reverse-continue (rc)
Stopping:   break (b) FILE:LINE|LINE|FUNC|*PC|helper NAME|tailcall|exit [if COND]
            watch|rwatch|awatch pkt[A:B]|ctx.FIELD|map NAME[KEY]|fp-N[:SIZE]|VAR|EXPR
            delete (d) [ID...], condition ID [COND], ignore ID N
Looking:    print (p)[/x] EXPR, info locals|args|registers|frame|maps|breakpoints|globals,
            x/NFU ADDR|NAME (F: x d u c; U: b h w g), list (l) [LINE|FUNC], backtrace (bt),
            map dump NAME, disassemble
quit (q)
`)
}

func (t *terminal) repeat(arg string, f func() (*debug.Stop, error)) error {
	n := 1
	if arg != "" {
		var err error
		if n, err = strconv.Atoi(arg); err != nil || n < 1 {
			return fmt.Errorf("count %q: want a positive number", arg)
		}
	}
	var st *debug.Stop
	var err error
	for i := 0; i < n; i++ {
		if st, err = f(); err != nil {
			return err
		}
		if st.Reason != debug.ReasonStep {
			break
		}
	}
	return t.show(st, nil)
}

// show reports a stop as gdb does: why, where, and the source line.
func (t *terminal) show(st *debug.Stop, err error) error {
	if err != nil {
		if errors.Is(err, debug.ErrNotRunning) {
			return errors.New("The program is not being run. Use \"run\".")
		}
		return err
	}
	if st.Note != "" {
		t.printf("%s\n", st.Note)
	}
	switch st.Reason {
	case debug.ReasonExited:
		x := st.Exit
		for _, l := range x.Printk {
			t.printf("bpf_trace_printk: %s\n", strings.TrimRight(l, "\n"))
		}
		if x.Err != nil {
			t.printf("[program faulted after %d instructions: %v]\n", x.Insns, x.Err)
		} else {
			t.printf("[program exited with %s after %d instructions]\n", debug.Verdict(t.s.Type(), x.Retval), x.Insns)
		}
		return nil
	case debug.ReasonBreakpoint:
		t.printf("\nBreakpoint %d, ", st.Breakpoint.ID)
	case debug.ReasonWatchpoint:
		h := st.Watch
		t.printf("\n%s %d: %s\n\n", watchWord(h.W.Kind), h.W.ID, h.W.Spec)
		if h.Read {
			t.printf("Value = %s\n", t.watchValue(h.W, h.New))
		} else {
			t.printf("Old value = %s\nNew value = %s\n", t.watchValue(h.W, h.Old), t.watchValue(h.W, h.New))
		}
		by := fmt.Sprintf("pc %d", h.PC)
		if h.Helper != "" {
			by += " (" + h.Helper + ")"
		}
		if h.Line != nil {
			by += fmt.Sprintf(" at %s:%d", filepath.Base(h.Line.File), h.Line.Line)
		}
		t.printf("%s by %s\n", map[bool]string{true: "read", false: "written"}[h.Read], by)
	}
	t.where(st)
	return nil
}

func watchWord(k debug.WatchKind) string {
	switch k {
	case debug.WatchRead:
		return "Read watchpoint"
	case debug.WatchAccess:
		return "Access watchpoint"
	}
	return "Watchpoint"
}

// where prints the function and source line of a stop, and the
// instruction when the stop is inside a line.
func (t *terminal) where(st *debug.Stop) {
	bt := t.s.Backtrace()
	fn := st.Prog
	if len(bt) > 0 {
		fn = bt[0].Func
	}
	insn := t.s.Disassemble(st.Prog, st.PC)
	if st.Line == nil {
		t.printf("%s () at pc %d\n=> %d: %s\n", fn, st.PC, st.PC, insn)
		return
	}
	if st.Reason != debug.ReasonStep {
		t.printf("%s (%s) at %s:%d\n", fn, t.args(), filepath.Base(st.Line.File), st.Line.Line)
	}
	t.printf("%d\t%s\n", st.Line.Line, t.sourceLine(st.Line.File, st.Line.Line, st.Line.Text))
	if p := t.s.Program(st.Prog); p != nil && st.PC > 0 && p.Line(st.PC-1) == p.Line(st.PC) {
		t.printf("=> %d: %s\n", st.PC, insn) // inside the line: say which instruction
	}
	t.listFile, t.listLine = st.Line.File, st.Line.Line
}

// args renders the current frame's parameters: "ctx=0x... <ctx>".
func (t *terminal) args() string {
	vars, err := t.s.Locals(0)
	if err != nil {
		return ""
	}
	var parts []string
	for _, v := range vars {
		if v.Param {
			parts = append(parts, v.Name+"="+v.Value)
		}
	}
	return strings.Join(parts, ", ")
}

func (t *terminal) breakCmd(arg string) error {
	spec, cond, _ := strings.Cut(arg, " if ")
	if arg == "" {
		st := t.s.Stopped()
		if st == nil || st.PC < 0 {
			return errors.New("no default breakpoint location: give FILE:LINE, FUNC or *PC")
		}
		spec = fmt.Sprintf("%s:*%d", st.Prog, st.PC)
	}
	b, err := t.s.Break(spec, cond, "")
	if err != nil {
		return err
	}
	if b.Moved != "" {
		t.printf("%s\n", b.Moved)
	}
	t.printf("Breakpoint %d at %s\n", b.ID, b.Location())
	return nil
}

func (t *terminal) watch(arg string, k debug.WatchKind) error {
	w, err := t.s.Watch(arg, k)
	if err != nil {
		return err
	}
	t.printf("%s %d: %s (%d bytes at %s)\n", watchWord(k), w.ID, w.Spec, w.Size, w.Where)
	return nil
}

func (t *terminal) deleteCmd(arg string) error {
	if arg == "" {
		t.s.ClearBreakpoints(func(*debug.Breakpoint) bool { return false })
		for _, w := range t.s.Watchpoints() {
			t.s.Delete(w.ID)
		}
		return nil
	}
	for _, f := range strings.Fields(arg) {
		id, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("bad id %q", f)
		}
		if err := t.s.Delete(id); err != nil {
			return err
		}
	}
	return nil
}

// condition ID [COND] and ignore ID N re-set a breakpoint with a new
// condition or hit count.
func (t *terminal) condition(cmd, arg string) error {
	idStr, rest, _ := strings.Cut(arg, " ")
	id, err := strconv.Atoi(idStr)
	if err != nil {
		return fmt.Errorf("%s: want a breakpoint number", cmd)
	}
	for _, b := range t.s.Breakpoints() {
		if b.ID != id {
			continue
		}
		cond, hit := b.Cond, b.HitCond
		if cmd == "condition" {
			cond = strings.TrimSpace(rest)
		} else {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil || n < 0 {
				return errors.New("ignore: want ID COUNT")
			}
			hit = fmt.Sprintf(">=%d", n+1)
		}
		nb, err := t.s.Break(b.Spec, cond, hit)
		if err != nil {
			return err
		}
		t.s.Delete(b.ID)
		t.printf("Breakpoint %d replaced by %d (%s)\n", b.ID, nb.ID, nb.Location())
		return nil
	}
	return fmt.Errorf("no breakpoint %d", id)
}

func (t *terminal) print(arg, format string) error {
	if arg == "" {
		return errors.New("print: an expression, please")
	}
	v, err := t.s.Eval(arg)
	if err != nil {
		return err
	}
	val := v.Value
	if format == "x" {
		if n, err := strconv.ParseInt(strings.Fields(val)[0], 10, 64); err == nil {
			val = fmt.Sprintf("%#x", n)
		}
	}
	if v.Type != "" {
		t.printf("(%s) %s\n", v.Type, val)
	} else {
		t.printf("%s\n", val)
	}
	return nil
}

func (t *terminal) info(arg string) error {
	switch arg {
	case "locals", "args", "local", "arg":
		vars, err := t.s.Locals(0)
		if err != nil {
			return t.notRunning(err)
		}
		n := 0
		for _, v := range vars {
			if v.Param != strings.HasPrefix(arg, "arg") {
				continue
			}
			n++
			t.printf("%s = (%s) %s", v.Name, v.Type, v.Value)
			if v.Where != "" {
				t.printf("  [%s]", v.Where)
			}
			t.printf("\n")
		}
		if n == 0 {
			t.printf("No %s.\n", map[bool]string{true: "arguments", false: "locals"}[strings.HasPrefix(arg, "arg")])
		}
	case "registers", "reg", "r":
		regs, err := t.s.Registers()
		if err != nil {
			return t.notRunning(err)
		}
		for i, r := range regs {
			t.printf("r%-3d %#-20x %d", i, r, int64(r))
			if d := t.s.Describe(r); r>>32 != 0 && !strings.HasPrefix(d, "unmapped") {
				t.printf("  <%s>", d)
			}
			t.printf("\n")
		}
	case "frame", "f":
		st := t.s.Stopped()
		if st == nil || !t.s.Running() {
			return errors.New("No stack.")
		}
		bt := t.s.Backtrace()
		if len(bt) == 0 {
			return errors.New("No stack.")
		}
		f := bt[0]
		t.printf("program %s, function %s, pc %d, call depth %d, %d instructions executed\n", st.Prog, f.Func, st.PC, st.Depth, st.Count)
		if f.Line != nil {
			t.printf("at %s:%d\n", f.File, f.LineNo)
		}
		if len(bt) > 1 {
			t.printf("called by %s at pc %d\n", bt[1].Func, bt[1].PC)
		}
	case "maps":
		t.printf("%-16s %-14s %4s %6s %8s %6s\n", "name", "type", "key", "value", "max", "now")
		for _, m := range t.s.Maps() {
			t.printf("%-16s %-14s %4d %6d %8d %6d\n", m.Name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Len)
		}
	case "breakpoints", "break", "b", "watchpoints":
		if len(t.s.Breakpoints())+len(t.s.Watchpoints()) == 0 {
			t.printf("No breakpoints or watchpoints.\n")
			return nil
		}
		t.printf("Num  Type        Hits  What\n")
		for _, b := range t.s.Breakpoints() {
			t.printf("%-4d breakpoint  %-5d %s", b.ID, b.Hits, b.Location())
			if b.Cond != "" {
				t.printf(" if %s", b.Cond)
			}
			if b.HitCond != "" {
				t.printf(" (hits %s)", b.HitCond)
			}
			t.printf("\n")
		}
		for _, w := range t.s.Watchpoints() {
			t.printf("%-4d %-11s       %s (%d bytes at %s)\n", w.ID, w.Kind.String()+" watch", w.Spec, w.Size, w.Where)
		}
	case "globals", "variables":
		for _, g := range t.s.Globals() {
			t.printf("%s = (%s) %s  [%s]\n", g.Name, g.Type, g.Value, g.Where)
		}
	default:
		return fmt.Errorf("info %s: want locals, args, registers, frame, maps, breakpoints or globals", arg)
	}
	return nil
}

func (t *terminal) notRunning(err error) error {
	if errors.Is(err, debug.ErrNotRunning) {
		return errors.New("No frame selected.")
	}
	return err
}

// examine is gdb's x/NFU.
func (t *terminal) examine(format, arg string) error {
	n, f, u := 1, byte('x'), 1
	digits := strings.TrimLeftFunc(format, func(r rune) bool { return r >= '0' && r <= '9' })
	if num := format[:len(format)-len(digits)]; num != "" {
		n, _ = strconv.Atoi(num)
	}
	for _, c := range []byte(digits) {
		switch c {
		case 'x', 'd', 'u', 'c':
			f = c
		case 'b':
			u = 1
		case 'h':
			u = 2
		case 'w':
			u = 4
		case 'g':
			u = 8
		default:
			return fmt.Errorf("x/%s: unknown format letter %q", format, c)
		}
	}
	if arg == "" {
		return errors.New("x: an address or name, please")
	}
	if n <= 0 || n*u > 4096 {
		return errors.New("x: count out of range")
	}
	addr, err := t.s.Address(arg)
	if err != nil {
		return err
	}
	b, err := t.s.ReadMemory(addr, n*u)
	if err != nil {
		return fmt.Errorf("cannot access memory at %#x: %v", addr, err)
	}
	perLine := 8
	if u > 2 {
		perLine = 4
	}
	for i := 0; i < n; i++ {
		if i%perLine == 0 {
			if i > 0 {
				t.printf("\n")
			}
			t.printf("%#x <%s>:", addr+uint64(i*u), t.s.Describe(addr+uint64(i*u)))
		}
		var v uint64
		for k := u - 1; k >= 0; k-- {
			v = v<<8 | uint64(b[i*u+k])
		}
		switch f {
		case 'x':
			t.printf("\t0x%0*x", 2*u, v)
		case 'd':
			t.printf("\t%d", int64(v<<(64-8*u))>>(64-8*u))
		case 'u':
			t.printf("\t%d", v)
		case 'c':
			t.printf("\t%q", rune(v))
		}
	}
	t.printf("\n")
	return nil
}

func (t *terminal) backtrace() {
	bt := t.s.Backtrace()
	if len(bt) == 0 {
		t.printf("No stack.\n")
		return
	}
	for i, f := range bt {
		t.printf("#%-2d %s", i, f.Func)
		if f.Inlined {
			t.printf(" (inlined)")
		}
		if f.Line != nil || f.LineNo > 0 {
			t.printf(" at %s:%d", filepath.Base(f.File), f.LineNo)
		}
		t.printf(", %s pc %d", f.Prog, f.PC)
		switch f.Kind {
		case debug.FrameCallback:
			t.printf(", callback of %s", f.Helper)
		case debug.FrameTailCall:
			t.printf(", started by a tail call")
		}
		t.printf("\n")
	}
}

func (t *terminal) mapCmd(arg string) error {
	sub, name, _ := strings.Cut(arg, " ")
	if sub != "dump" || strings.TrimSpace(name) == "" {
		return errors.New("map dump NAME")
	}
	es, err := t.s.MapDump(strings.TrimSpace(name))
	if err != nil {
		return err
	}
	for _, e := range es {
		t.printf("[%s] = %s\n", e.KeyText, e.ValueText)
	}
	t.printf("%d element(s)\n", len(es))
	return nil
}

func (t *terminal) disassemble() {
	st := t.s.Stopped()
	if st == nil || st.PC < 0 {
		t.printf("No frame selected.\n")
		return
	}
	p := t.s.Program(st.Prog)
	if p == nil {
		return
	}
	name, start := p.FuncAt(st.PC), 0
	for _, f := range p.Funcs {
		if f.Start <= st.PC {
			start = f.Start
		}
	}
	t.printf("Dump of %s, program %s:\n", name, st.Prog)
	for pc := start; pc < p.Len() && p.FuncAt(pc) == name; pc++ {
		txt := t.s.Disassemble(st.Prog, pc)
		if txt == "" {
			continue
		}
		mark := "  "
		if pc == st.PC {
			mark = "=>"
		}
		t.printf("%s %d: %s\n", mark, pc, txt)
	}
}

// list prints ten source lines around a line, a function, or on.
func (t *terminal) list(arg string) error {
	file, line := t.listFile, t.listLine+5
	if arg != "" {
		if n, err := strconv.Atoi(arg); err == nil {
			line = n
		} else if f, l, ok := strings.Cut(arg, ":"); ok {
			n, err := strconv.Atoi(l)
			if err != nil {
				return fmt.Errorf("list %s: bad line", arg)
			}
			file, line = f, n
		} else {
			b, err := t.s.Break(arg, "", "")
			if err != nil {
				return err
			}
			t.s.Delete(b.ID)
			for pn, pcs := range b.PCs {
				if l := t.s.Program(pn).Line(pcs[0]); l != nil {
					file, line = l.File, l.Line
				}
			}
		}
	}
	if file == "" {
		if p := t.s.Program(""); p != nil {
			for pc := range p.Len() {
				if l := p.Line(pc); l != nil {
					file, line = l.File, l.Line
					break
				}
			}
		}
	}
	if file == "" {
		return errors.New("no source lines (the object has no line info)")
	}
	lines := t.source(file)
	from := max(line-5, 1)
	for n := from; n < from+10; n++ {
		text := ""
		if n-1 < len(lines) {
			text = lines[n-1]
		} else if len(lines) > 0 {
			break
		}
		t.printf("%d\t%s\n", n, text)
	}
	t.listFile, t.listLine = file, from+5+4
	return nil
}

func (t *terminal) sourceLine(file string, n int, fallback string) string {
	lines := t.source(file)
	if n-1 < len(lines) && n > 0 && lines[n-1] != "" {
		return lines[n-1]
	}
	return fallback
}

// source reads a C file: at its recorded path, else by base name in the
// source directories, else the lines BTF carries.
func (t *terminal) source(file string) []string {
	if l, ok := t.src[file]; ok {
		return l
	}
	var paths []string
	for _, d := range t.dirs {
		paths = append(paths, filepath.Join(d, filepath.Base(file)))
	}
	paths = append(paths, file)
	var lines []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		break
	}
	if lines == nil { // BTF line info: the lines that have code
		p := t.s.Program("")
		for _, name := range t.programNames() {
			if q := t.s.Program(name); q != nil {
				p = q
			}
			for pc := range p.Len() {
				if l := p.Line(pc); l != nil && l.File == file {
					for len(lines) < l.Line {
						lines = append(lines, "")
					}
					lines[l.Line-1] = l.Text
				}
			}
		}
	}
	t.src[file] = lines
	return lines
}

func (t *terminal) programNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range t.s.Backtrace() {
		if !seen[b.Prog] {
			seen[b.Prog], out = true, append(out, b.Prog)
		}
	}
	if p := t.s.Program(""); p != nil && !seen[p.Name] {
		out = append(out, p.Name)
	}
	return out
}

// watchValue formats a watched value: with its C type when the watch has
// one (a global, a local, a map value), as an IPv4 or MAC address for 4
// or 6 packet bytes, else as a number or hex bytes.
func (t *terminal) watchValue(w *debug.Watchpoint, b []byte) string {
	if v := t.s.FormatWatch(w, b); v != "" {
		return v
	}
	if strings.HasPrefix(w.Spec, "pkt") {
		switch len(b) {
		case 4:
			return fmt.Sprintf("%s (%x)", netip.AddrFrom4([4]byte(b)), b)
		case 6:
			return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
		case 2:
			return fmt.Sprintf("%d (%x)", binary.BigEndian.Uint16(b), b)
		}
	}
	switch len(b) {
	case 1, 2, 4, 8:
		var v [8]byte
		copy(v[:], b)
		return strconv.FormatUint(binary.LittleEndian.Uint64(v[:]), 10)
	}
	return fmt.Sprintf("%x", b)
}
