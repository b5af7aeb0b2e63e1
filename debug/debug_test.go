package debug

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/gopacket/gopacket/pcapgo"
)

const progs = "../examples/progs/"

// frames reads the bundled capture.
func frames(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(progs + "sample.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		b, _, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		out = append(out, b)
	}
}

// session debugs prog of object obj on one frame; the firewall's
// blocklist holds 192.0.2.66 as the command's default does.
func session(t testing.TB, obj, prog string, data []byte) *Session {
	t.Helper()
	raw, err := os.ReadFile(progs + obj)
	if err != nil {
		t.Fatal(err)
	}
	load := func() (*loader.Collection, error) {
		c, err := loader.LoadReader(bytes.NewReader(raw), loader.Options{})
		if err != nil {
			return nil, err
		}
		if m, ok := c.Maps["blocked_v4"]; ok {
			a := netip.MustParseAddr("192.0.2.66").As4()
			if err := m.Put(a[:], make([]byte, 8), 0); err != nil {
				return nil, err
			}
		}
		return c, nil
	}
	tg, err := ObjectTarget(obj, raw, prog, testrun.Options{Data: data}, load)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// ok returns a checker of a movement's result: ok(t)(s.Step()).
func ok(t testing.TB) func(*Stop, error) *Stop {
	return func(st *Stop, err error) *Stop {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

func eval(t testing.TB, s *Session, x string) string {
	t.Helper()
	v, err := s.Eval(x)
	if err != nil {
		t.Fatalf("print %s: %v", x, err)
	}
	return v.Value
}

// Breakpoint on a source line, locals read from DWARF: len is the frame's
// length (data_end - data, what the trace shows as r2=71 for frame 1).
func TestLineBreakpointAndLocals(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_firewall.o", "", fr[0])
	st := ok(t)(s.Start())
	if st.Reason != ReasonEntry || st.Count != 0 {
		t.Fatalf("start: %+v", st)
	}
	b, err := s.Break("xdp_firewall.c:118", "", "")
	if err != nil {
		t.Fatal(err)
	}
	st = ok(t)(s.Continue())
	if st.Reason != ReasonBreakpoint || st.Breakpoint != b || st.Line.Line != 118 {
		t.Fatalf("continue: %+v line %v", st, st.Line)
	}
	if got := eval(t, s, "len"); got != "71" {
		t.Errorf("len = %s, want 71", got)
	}
	regs, _ := s.Registers()
	if regs[2] != uint64(len(fr[0])) {
		t.Errorf("r2 = %d", regs[2])
	}
	locals, err := s.Locals(0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]Variable{}
	for _, v := range locals {
		seen[v.Name] = v
	}
	if v := seen["len"]; v.Type != "__u64" || v.Value != "71" || v.Where != "r2" {
		t.Errorf("local len: %+v", v)
	}
	if v := seen["data"]; !strings.Contains(v.Value, "<pkt") || v.Type != "void *" {
		t.Errorf("local data: %+v", v)
	}
	if v := seen["ctx"]; v.Type != "struct xdp_md *" {
		t.Errorf("local ctx: %+v", v)
	}
	// packets_seen++ ran (line 117): the global reads 1.
	if got := eval(t, s, "packets_seen"); got != "1" {
		t.Errorf("packets_seen = %s", got)
	}
	if got := eval(t, s, "eth->h_proto"); got != "2048" { // ETH_P_IP, __be16 in host order
		t.Errorf("eth->h_proto = %s", got)
	}
	if got := eval(t, s, "eth->h_dest"); got != "02:00:00:00:00:01" {
		t.Errorf("eth->h_dest = %s", got)
	}
	// The run goes on to its verdict: XDP_PASS (2).
	s.Delete(b.ID)
	st = ok(t)(s.Continue())
	if st.Reason != ReasonExited || st.Exit.Retval != 2 || st.Exit.Err != nil {
		t.Fatalf("exit: %+v %+v", st, st.Exit)
	}
}

// A condition on a parameter and a hit count.
func TestConditionsAndHitCounts(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_firewall.o", "", fr[9]) // 192.0.2.66, blocked: XDP_DROP
	ok(t)(s.Start())
	if _, err := s.Break("record", "action == 2", ""); err != nil { // XDP_PASS: never
		t.Fatal(err)
	}
	b, err := s.Break("record", "action == 1 && len == 60", "")
	if err != nil {
		t.Fatal(err)
	}
	st := ok(t)(s.Continue())
	if st.Breakpoint != b || b.Hits != 1 {
		t.Fatalf("stop %+v hits %d", st, b.Hits)
	}
	if bt := s.Backtrace(); len(bt) != 2 || bt[0].Func != "record" || bt[1].Func != "xdp_firewall" || bt[0].Kind != FrameCall {
		t.Fatalf("backtrace %+v", bt)
	}
	// finish: back in xdp_firewall, after the call, r0 = the verdict.
	st = ok(t)(s.Finish())
	if st.Depth != 0 || st.Prog != "xdp_firewall" {
		t.Fatalf("finish: %+v", st)
	}
	if regs, _ := s.Registers(); regs[0] != 1 {
		t.Errorf("r0 after finish = %d", regs[0])
	}
	// A hit count: the line the blocked path bumps its counter on is
	// reached once; ">=2" never stops.
	s.ClearBreakpoints(func(*Breakpoint) bool { return false })
	ok(t)(s.Start())
	if _, err := s.Break("xdp_firewall.c:133", "", ">=2"); err != nil {
		t.Fatal(err)
	}
	st = ok(t)(s.Continue())
	if st.Reason != ReasonExited || st.Exit.Retval != 1 {
		t.Fatalf("with >=2: %+v", st)
	}
}

// A watchpoint on a map value sees the atomic add; reverse-continue finds
// that write again from the end of the run.
func TestWatchMapValueAndReverseContinue(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_firewall.o", "", fr[9])
	ok(t)(s.Start())
	w, err := s.Watch("map blocked_v4[c0000242]", WatchWrite)
	if err != nil {
		t.Fatal(err)
	}
	st := ok(t)(s.Continue())
	if st.Reason != ReasonWatchpoint || st.Watch.W != w {
		t.Fatalf("stop %+v", st)
	}
	if o, n := binary.LittleEndian.Uint64(st.Watch.Old), binary.LittleEndian.Uint64(st.Watch.New); o != 0 || n != 1 {
		t.Fatalf("old %d new %d", o, n)
	}
	writer := st.Watch.PC
	if st.Watch.Line == nil || st.Watch.Line.Line != 133 {
		t.Errorf("written at %v", st.Watch.Line)
	}
	at := st.Count
	st = ok(t)(s.Continue())
	if st.Reason != ReasonExited {
		t.Fatalf("then %+v", st)
	}
	st = ok(t)(s.ReverseContinue())
	if st.Reason != ReasonWatchpoint || st.Count != at || st.Watch.PC != writer {
		t.Fatalf("reverse-continue: %+v (want count %d)", st, at)
	}
	if n := binary.LittleEndian.Uint64(st.Watch.New); n != 1 {
		t.Errorf("new value %d", n)
	}
	// Going back once more finds nothing earlier.
	st = ok(t)(s.ReverseContinue())
	if st.Count != 0 || st.Note == "" {
		t.Fatalf("second reverse-continue: %+v", st)
	}
}

// A watchpoint on packet bytes: the ICMP echo request's IPv4 source
// (pkt[26:30]) is rewritten when the firewall answers it.
func TestWatchPacketBytes(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_firewall.o", "", fr[6]) // 10.0.0.9 > 10.0.0.2 echo request
	ok(t)(s.Start())
	if _, err := s.Watch("pkt[26:30]", WatchWrite); err != nil {
		t.Fatal(err)
	}
	st := ok(t)(s.Continue())
	if st.Reason != ReasonWatchpoint {
		t.Fatalf("stop %+v", st)
	}
	if !bytes.Equal(st.Watch.Old, []byte{10, 0, 0, 9}) || !bytes.Equal(st.Watch.New, []byte{10, 0, 0, 2}) {
		t.Fatalf("old %v new %v", st.Watch.Old, st.Watch.New)
	}
	if bt := s.Backtrace(); len(bt) < 2 || bt[0].Func != "answer_echo" || !bt[0].Inlined {
		t.Errorf("inlined frame: %+v", bt)
	}
	st = ok(t)(s.Continue())
	if st.Exit == nil || st.Exit.Retval != 3 { // XDP_TX
		t.Fatalf("exit %+v", st)
	}
}

// Stepping forwards and backwards lands on the same states.
func TestStepsAndReverseSteps(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_firewall.o", "", fr[0])
	ok(t)(s.Start())
	type state struct {
		count uint64
		regs  [11]uint64
		line  int
	}
	var fwd []state
	for range 40 {
		st := ok(t)(s.StepInstruction())
		r, _ := s.Registers()
		fwd = append(fwd, state{st.Count, r, st.Line.Line})
	}
	for i := len(fwd) - 2; i >= 30; i-- {
		st := ok(t)(s.ReverseStepInstruction())
		r, _ := s.Registers()
		if st.Count != fwd[i].count || r != fwd[i].regs {
			t.Fatalf("reverse-stepi to %d: count %d regs %v, forward had %v", fwd[i].count, st.Count, r, fwd[i].regs)
		}
	}
	// step moves by source lines; reverse-step comes back to where the
	// previous line started.
	ok(t)(s.Start())
	var lines []*Stop
	for range 6 {
		lines = append(lines, ok(t)(s.Step()))
	}
	for i := 1; i < len(lines); i++ {
		if lines[i].Line.Line == lines[i-1].Line.Line && lines[i].Depth == lines[i-1].Depth {
			t.Fatalf("step stayed on line %d", lines[i].Line.Line)
		}
	}
	back := ok(t)(s.ReverseStep())
	if back.Count != lines[4].Count || back.Line.Line != lines[4].Line.Line {
		t.Fatalf("reverse-step: count %d line %d, want %d line %d", back.Count, back.Line.Line, lines[4].Count, lines[4].Line.Line)
	}
	// next steps over record(): from the line that calls it, it stays at depth 0.
	ok(t)(s.Start())
	if _, err := s.Break("xdp_firewall.c:162", "", ""); err != nil {
		t.Fatal(err)
	}
	st := ok(t)(s.Continue())
	s.ClearBreakpoints(func(*Breakpoint) bool { return false })
	for st.Reason != ReasonExited {
		if st.Depth != 0 {
			t.Fatalf("next entered a call: %+v", st)
		}
		st = ok(t)(s.Next())
	}
}

// A bpf_loop callback is a frame of its own, called by the helper.
func TestBpfLoopCallback(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_loop.o", "", fr[0])
	ok(t)(s.Start())
	// At the callback's first instruction r1 holds the iteration number.
	start := -1
	for _, f := range s.Program("").Funcs {
		if f.Name == "add_byte" {
			start = f.Start
		}
	}
	b, err := s.Break(fmt.Sprintf("*%d", start), "", "3")
	if err != nil {
		t.Fatal(err)
	}
	st := ok(t)(s.Continue())
	if st.Breakpoint != b || b.Hits != 3 {
		t.Fatalf("stop %+v", st)
	}
	bt := s.Backtrace()
	if len(bt) != 2 || bt[0].Func != "add_byte" || bt[0].Kind != FrameCallback || bt[0].Helper != "bpf_loop" {
		t.Fatalf("backtrace %+v", bt)
	}
	if got := eval(t, s, "r1"); got != "2 (0x2)" { // the third iteration
		t.Errorf("r1 = %s", got)
	}
	if _, err := s.Break("add_byte", "", ""); err != nil {
		t.Fatal(err)
	}
	if st := ok(t)(s.Continue()); st.Breakpoint == nil || st.Breakpoint.Spec != "add_byte" {
		t.Fatalf("break add_byte: %+v", st)
	}
	if got := eval(t, s, "c->sum"); got == "" {
		t.Errorf("c->sum empty")
	}
	// Step inside the callback, then finish back into bpf_loop's caller.
	s.ClearBreakpoints(func(*Breakpoint) bool { return false })
	ok(t)(s.Step())
	st = ok(t)(s.Finish())
	if st.Depth != 1 && st.Depth != 0 {
		t.Fatalf("finish from callback: %+v", st)
	}
	st = ok(t)(s.Continue())
	if st.Reason != ReasonExited || st.Exit.Err != nil {
		t.Fatalf("exit %+v", st)
	}
}

// A tail call replaces the running program: the breakpoint stops at the
// new program's first instruction.
func TestTailCall(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_tailcall.o", "xdp_dispatch", fr[0]) // IPv4/UDP: dispatch -> ipv4 -> udp
	ok(t)(s.Start())
	if _, err := s.Break("tailcall", "", ""); err != nil {
		t.Fatal(err)
	}
	st := ok(t)(s.Continue())
	if st.Reason != ReasonBreakpoint || st.Prog != "handle_ipv4" || st.PC != 0 {
		t.Fatalf("first tail call: %+v", st)
	}
	if bt := s.Backtrace(); len(bt) != 1 || bt[0].Kind != FrameTailCall {
		t.Fatalf("backtrace %+v", bt)
	}
	st = ok(t)(s.Continue())
	if st.Prog != "handle_udp" {
		t.Fatalf("second tail call: %+v", st)
	}
	// A line breakpoint in a program a tail call reaches.
	ok(t)(s.Start())
	s.ClearBreakpoints(func(*Breakpoint) bool { return false })
	b, err := s.Break("handle_udp", "", "")
	if err != nil {
		t.Fatal(err)
	}
	st = ok(t)(s.Continue())
	if st.Breakpoint != b || st.Prog != "handle_udp" {
		t.Fatalf("break handle_udp: %+v", st)
	}
	var back *Stop
	for range st.PC + 1 { // to before the first instruction of handle_udp
		back = ok(t)(s.ReverseStepInstruction())
	}
	if back.Prog != "handle_ipv4" || !isHelperCall(s.Program("handle_ipv4").Insns[back.PC]) {
		t.Fatalf("reverse-stepi across the tail call: %+v", back)
	}
}

// Bad input gets a clear error and the session goes on.
func TestBadInput(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_firewall.o", "", fr[0])
	ok(t)(s.Start())
	if _, err := s.Eval("len +"); !errors.Is(err, ErrSyntax) {
		t.Errorf("syntax error: %v", err)
	}
	if _, err := s.Eval("no_such_var"); err == nil || !strings.Contains(err.Error(), "no variable") {
		t.Errorf("unknown variable: %v", err)
	}
	b, err := s.Break("xdp_firewall.c:114", "", "") // a blank line
	if err != nil || b.Line != 116 && b.Line != 117 || b.Moved == "" {
		t.Errorf("line without code: %+v, %v", b, err)
	}
	if _, err := s.Break("xdp_firewall.c:9999", "", ""); err == nil {
		t.Error("break past the end succeeded")
	}
	if _, err := s.Break("nosuchfunc", "", ""); err == nil {
		t.Error("break on an unknown function succeeded")
	}
	if _, err := s.Break("record", "len ==", ""); err == nil {
		t.Error("a condition that does not parse was accepted")
	}
	if _, err := s.Watch("pkt[70:80]", WatchWrite); err == nil {
		t.Error("watch past the packet succeeded")
	}
	if _, err := s.Watch("0x12345", WatchWrite); err == nil {
		t.Error("watch on an unmapped address succeeded")
	}
	if _, err := s.Watch("map blocked_v4[01020304]", WatchWrite); err == nil {
		t.Error("watch on an absent key succeeded")
	}
	if _, err := s.ReadMemory(0x12345, 4); err == nil {
		t.Error("read of an unmapped address succeeded")
	}
	// Still usable.
	st := ok(t)(s.Continue())
	if st.Reason != ReasonBreakpoint {
		t.Fatalf("after errors: %+v", st)
	}
}

// Breakpoints on a helper call and the exit; watchpoints on a context
// field (read), a stack slot and a local in memory.
func TestHelperExitAndOtherWatches(t *testing.T) {
	fr := frames(t)
	s := session(t, "xdp_firewall.o", "", fr[9])
	ok(t)(s.Start())
	if _, err := s.Watch("ctx.data_end", WatchRead); err != nil {
		t.Fatal(err)
	}
	st := ok(t)(s.Continue())
	if st.Reason != ReasonWatchpoint || !st.Watch.Read || st.Watch.PC != 0 {
		t.Fatalf("rwatch ctx.data_end: %+v", st)
	}
	for _, w := range s.Watchpoints() {
		s.Delete(w.ID)
	}
	b, err := s.Break("helper bpf_map_lookup_elem", "", "")
	if err != nil {
		t.Fatal(err)
	}
	st = ok(t)(s.Continue())
	if st.Breakpoint != b || !isHelperCall(s.Program("").Insns[st.PC]) || s.Program("").Insns[st.PC].Imm != 1 {
		t.Fatalf("break helper: %+v", st)
	}
	s.Delete(b.ID)
	// In record, action lives at fp-4: watch the slot and the local.
	if _, err := s.Break("record", "", ""); err != nil {
		t.Fatal(err)
	}
	st = ok(t)(s.Continue())
	if v, err := s.Watch("action", WatchAccess); err != nil || v.Size != 4 || !strings.HasPrefix(v.Where, "fp") {
		t.Fatalf("watch action: %+v %v", v, err)
	}
	if _, err := s.Watch("fp-4:4", WatchRead); err != nil {
		t.Fatal(err)
	}
	s.ClearBreakpoints(func(*Breakpoint) bool { return false })
	st = ok(t)(s.Continue())
	if st.Reason != ReasonWatchpoint || !st.Watch.Read || st.Watch.Helper != "bpf_map_lookup_elem" {
		t.Fatalf("the helper reads the key: %+v %+v", st, st.Watch)
	}
	for _, w := range s.Watchpoints() {
		s.Delete(w.ID)
	}
	x, err := s.Break("exit", "", "")
	if err != nil {
		t.Fatal(err)
	}
	st = ok(t)(s.Continue())
	if st.Breakpoint != x || st.Depth != 0 {
		t.Fatalf("break exit: %+v", st)
	}
	if regs, _ := s.Registers(); regs[0] != 1 { // XDP_DROP in r0 before the exit
		t.Fatalf("r0 = %d", regs[0])
	}
}

// An object without DWARF still debugs by BTF line and instruction.
func TestWithoutDWARF(t *testing.T) {
	raw, err := os.ReadFile("../debuginfo/testdata/types-nodwarf.o")
	if err != nil {
		t.Fatal(err)
	}
	load := func() (*loader.Collection, error) { return loader.LoadReader(bytes.NewReader(raw), loader.Options{}) }
	tg, err := ObjectTarget("types-nodwarf.o", raw, "types_prog", testrun.Options{Data: make([]byte, 64)}, load)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Info.HasDWARF() {
		t.Fatal("DWARF in a stripped object")
	}
	s, err := New(tg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := ok(t)(s.Start())
	if st.Line == nil {
		t.Fatal("no BTF line at entry")
	}
	if _, err := s.Eval("copy"); err == nil || !strings.Contains(err.Error(), "no DWARF") {
		t.Errorf("a local without DWARF: %v", err)
	}
	if v, err := s.Eval("r10 - 8"); err != nil || v.Value == "" {
		t.Errorf("registers: %v %v", v, err)
	}
	st = ok(t)(s.Step())
	st = ok(t)(s.Continue())
	if st.Reason != ReasonExited || st.Exit.Err != nil {
		t.Fatalf("exit %+v", st)
	}
	if back := ok(t)(s.ReverseStep()); back.Count >= st.Count {
		t.Fatalf("reverse-step from the exit: %+v", back)
	}
}
