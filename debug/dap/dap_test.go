package dap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/debug"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	dap "github.com/google/go-dap"
	"github.com/gopacket/gopacket/pcapgo"
)

const progs = "../../examples/progs/"

// opener debugs the bundled firewall on a frame of the bundled capture,
// with 192.0.2.66 blocked, as `bpfscope dap` does for program alone.
func opener(t *testing.T) Opener {
	return func(a LaunchArgs) (*debug.Session, error) {
		raw, err := os.ReadFile(progs + "xdp_firewall.o")
		if err != nil {
			return nil, err
		}
		f, err := os.Open(progs + "sample.pcap")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, err := pcapgo.NewReader(f)
		if err != nil {
			return nil, err
		}
		var data []byte
		for i := 0; i < max(a.Packet, 1); i++ {
			if data, _, err = r.ReadPacketData(); err != nil {
				return nil, err
			}
		}
		load := func() (*loader.Collection, error) {
			c, err := loader.LoadReader(bytes.NewReader(raw), loader.Options{})
			if err != nil {
				return nil, err
			}
			k := netip.MustParseAddr("192.0.2.66").As4()
			return c, c.Maps["blocked_v4"].Put(k[:], make([]byte, 8), 0)
		}
		tg, err := debug.ObjectTarget("xdp_firewall.o", raw, "xdp_firewall", testrun.Options{Data: data}, load)
		if err != nil {
			return nil, err
		}
		tg.SourceDirs = []string{progs}
		return debug.New(tg)
	}
}

// client speaks DAP to the server over a pipe.
type client struct {
	t      *testing.T
	c      net.Conn
	msgs   chan dap.Message // read concurrently, as editors do
	seq    int
	events []dap.EventMessage
}

func (c *client) read() {
	r := bufio.NewReader(c.c)
	for {
		m, err := dap.ReadProtocolMessage(r)
		if err != nil {
			close(c.msgs)
			return
		}
		c.msgs <- m
	}
}

func (c *client) next(what string) dap.Message {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("%s: the server closed the connection", what)
		}
		return m
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s: no message", what)
	}
	return nil
}

func newClient(t *testing.T) (*client, chan error) {
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(b, opener(t)); b.Close() }()
	t.Cleanup(func() { a.Close() })
	c := &client{t: t, c: a, msgs: make(chan dap.Message, 256)}
	go c.read()
	return c, done
}

// do sends a request and returns its response; events that came before
// it are kept in c.events.
func (c *client) do(command string, args any) dap.ResponseMessage {
	c.t.Helper()
	c.seq++
	req := map[string]any{"seq": c.seq, "type": "request", "command": command}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if err := dap.WriteBaseMessage(c.c, b); err != nil {
		c.t.Fatal(err)
	}
	for {
		switch x := c.next(command).(type) {
		case dap.ResponseMessage:
			if x.GetResponse().RequestSeq == c.seq {
				return x
			}
		case dap.EventMessage:
			c.events = append(c.events, x)
		}
	}
}

// ok sends a request that must succeed.
func (c *client) ok(command string, args any) dap.ResponseMessage {
	c.t.Helper()
	r := c.do(command, args)
	if !r.GetResponse().Success {
		c.t.Fatalf("%s failed: %s", command, r.GetResponse().Message)
	}
	return r
}

// event waits for an event of the given kind.
func (c *client) event(name string) dap.EventMessage {
	c.t.Helper()
	for {
		for i, e := range c.events {
			if e.GetEvent().Event == name {
				c.events = append(c.events[:i:i], c.events[i+1:]...)
				return e
			}
		}
		if e, ok := c.next("waiting for " + name).(dap.EventMessage); ok {
			c.events = append(c.events, e)
		}
	}
}

func (c *client) stopped() dap.StoppedEventBody {
	c.t.Helper()
	return c.event("stopped").(*dap.StoppedEvent).Body
}

func (c *client) top() dap.StackFrame {
	c.t.Helper()
	r := c.ok("stackTrace", map[string]any{"threadId": 1}).(*dap.StackTraceResponse)
	if len(r.Body.StackFrames) == 0 {
		c.t.Fatal("no frames")
	}
	return r.Body.StackFrames[0]
}

func (c *client) vars(ref int) map[string]dap.Variable {
	c.t.Helper()
	r := c.ok("variables", map[string]any{"variablesReference": ref}).(*dap.VariablesResponse)
	out := map[string]dap.Variable{}
	for _, v := range r.Body.Variables {
		out[v.Name] = v
	}
	return out
}

// A whole session as an editor drives it: breakpoints by line (moved),
// by function with a hit count, a data breakpoint on a map value, the
// scopes and expandable variables, evaluate, step out, step back, reverse
// continue, disassemble, bad requests, the verdict, disconnect.
func TestSession(t *testing.T) {
	c, done := newClient(t)
	init := c.ok("initialize", map[string]any{"adapterID": "bpfscope"}).(*dap.InitializeResponse)
	if !init.Body.SupportsStepBack || !init.Body.SupportsDisassembleRequest || !init.Body.SupportsDataBreakpoints {
		t.Fatalf("capabilities %+v", init.Body)
	}
	c.ok("launch", map[string]any{"program": "xdp_firewall.o", "packet": 10})
	c.event("initialized")

	bps := c.ok("setBreakpoints", map[string]any{"source": map[string]any{"path": "xdp_firewall.c"},
		"breakpoints": []map[string]any{{"line": 114}, {"line": 9999}}}).(*dap.SetBreakpointsResponse).Body.Breakpoints
	if len(bps) != 2 || !bps[0].Verified || bps[0].Line != 117 || bps[0].Message == "" || bps[1].Verified {
		t.Fatalf("setBreakpoints: %+v", bps)
	}
	fb := c.ok("setFunctionBreakpoints", map[string]any{"breakpoints": []map[string]any{
		{"name": "record", "condition": "action == 1", "hitCondition": "1"}, {"name": "nosuch"}}}).(*dap.SetFunctionBreakpointsResponse).Body.Breakpoints
	if !fb[0].Verified || fb[1].Verified {
		t.Fatalf("setFunctionBreakpoints: %+v", fb)
	}
	c.ok("configurationDone", nil)
	if st := c.stopped(); st.Reason != "breakpoint" || st.HitBreakpointIds[0] != bps[0].Id {
		t.Fatalf("first stop %+v", st)
	}
	if th := c.ok("threads", nil).(*dap.ThreadsResponse).Body.Threads; len(th) != 1 {
		t.Fatalf("threads %+v", th)
	}
	f := c.top()
	if f.Line != 117 || f.Source == nil || f.Source.Name != "xdp_firewall.c" || !strings.HasSuffix(f.Source.Path, "examples/progs/xdp_firewall.c") {
		t.Fatalf("frame %+v %+v", f, f.Source)
	}
	scopes := c.ok("scopes", map[string]any{"frameId": f.Id}).(*dap.ScopesResponse).Body.Scopes
	names := map[string]int{}
	for _, s := range scopes {
		names[s.Name] = s.VariablesReference
	}
	for _, n := range []string{"Locals", "Registers", "Maps", "Packet"} {
		if names[n] == 0 {
			t.Fatalf("no scope %s in %+v", n, scopes)
		}
	}
	locals := c.vars(names["Locals"])
	eth := locals["eth"]
	if eth.Type != "struct ethhdr *" || eth.VariablesReference == 0 {
		t.Fatalf("eth %+v", eth)
	}
	deref := c.vars(eth.VariablesReference)
	var ethv dap.Variable
	for _, v := range deref {
		ethv = v
	}
	fields := c.vars(ethv.VariablesReference)
	if fields["h_source"].Value != "02:00:00:00:00:01" || fields["h_proto"].Value != "2048" {
		t.Fatalf("*eth fields %+v", fields)
	}
	if regs := c.vars(names["Registers"]); !strings.Contains(regs["r10"].Value, "fp") {
		t.Fatalf("registers %+v", regs)
	}
	if pk := c.vars(names["Packet"]); pk["length"].Value != "60" || !strings.HasPrefix(pk["pkt[0:16]"].Value, "02 00 00 00 00 02 02 00 00 00 00 01 08 00") {
		t.Fatalf("packet %+v", pk)
	}
	ev := c.ok("evaluate", map[string]any{"expression": "eth->h_proto", "frameId": f.Id}).(*dap.EvaluateResponse)
	if ev.Body.Result != "2048" || ev.Body.Type != "__be16" {
		t.Fatalf("evaluate %+v", ev.Body)
	}

	// A data breakpoint on the blocklist's counter, found through Maps.
	mp := c.vars(names["Maps"])
	elems := c.vars(mp["blocked_v4"].VariablesReference)
	if elems["[192.0.2.66]"].Value != "0" {
		t.Fatalf("blocked_v4 %+v", elems)
	}
	info := c.ok("dataBreakpointInfo", map[string]any{"variablesReference": mp["blocked_v4"].VariablesReference, "name": "[192.0.2.66]"}).(*dap.DataBreakpointInfoResponse)
	if info.Body.DataId != "map blocked_v4[c0000242]" {
		t.Fatalf("dataBreakpointInfo %+v", info.Body)
	}
	db := c.ok("setDataBreakpoints", map[string]any{"breakpoints": []map[string]any{{"dataId": info.Body.DataId, "accessType": "write"}, {"dataId": "pkt[70:80]"}}}).(*dap.SetDataBreakpointsResponse)
	if !db.Body.Breakpoints[0].Verified || db.Body.Breakpoints[1].Verified {
		t.Fatalf("setDataBreakpoints %+v", db.Body)
	}
	c.ok("continue", map[string]any{"threadId": 1})
	st := c.stopped()
	if st.Reason != "data breakpoint" || !strings.Contains(st.Text, "0 -> 1") {
		t.Fatalf("data breakpoint stop %+v", st)
	}
	watchLine := c.top().Line

	c.ok("continue", map[string]any{"threadId": 1})
	if st := c.stopped(); st.Reason != "function breakpoint" {
		t.Fatalf("function breakpoint stop %+v", st)
	}
	if f := c.top(); f.Name != "record" {
		t.Fatalf("in %+v", f)
	}
	c.ok("stepOut", map[string]any{"threadId": 1})
	c.stopped()
	trace := c.ok("stackTrace", map[string]any{"threadId": 1}).(*dap.StackTraceResponse).Body.StackFrames
	if len(trace) != 1 || trace[0].Name != "xdp_firewall" {
		t.Fatalf("after stepOut %+v", trace)
	}
	c.ok("stepBack", map[string]any{"threadId": 1, "granularity": "instruction"})
	c.stopped()
	if f := c.top(); f.Name != "record" {
		t.Fatalf("stepBack did not go back into record: %+v", f)
	}
	// Reverse continue: the function breakpoint's hit, then the write.
	c.ok("reverseContinue", map[string]any{"threadId": 1})
	if st := c.stopped(); st.Reason != "function breakpoint" {
		t.Fatalf("reverseContinue %+v", st)
	}
	c.ok("reverseContinue", map[string]any{"threadId": 1})
	if st := c.stopped(); st.Reason != "data breakpoint" || c.top().Line != watchLine {
		t.Fatalf("reverseContinue to the write %+v", st)
	}

	f = c.top()
	dis := c.ok("disassemble", map[string]any{"memoryReference": f.InstructionPointerReference, "instructionCount": 4}).(*dap.DisassembleResponse)
	if len(dis.Body.Instructions) != 4 || dis.Body.Instructions[0].Line != f.Line || !strings.Contains(dis.Body.Instructions[0].Instruction, ":") {
		t.Fatalf("disassemble %+v", dis.Body.Instructions)
	}
	c.ok("next", map[string]any{"threadId": 1, "granularity": "instruction"})
	c.stopped()

	// Bad requests: clear errors, and the session goes on.
	for _, bad := range []struct {
		cmd  string
		args any
		want string
	}{
		{"evaluate", map[string]any{"expression": "len +"}, "syntax error"},
		{"evaluate", map[string]any{"expression": "nosuch"}, "no variable"},
		{"variables", map[string]any{"variablesReference": 9999}, "no variables reference"},
		{"disassemble", map[string]any{"memoryReference": "zz", "instructionCount": 1}, "memory reference"},
		{"launch", map[string]any{}, "already launched"},
		{"gotoTargets", map[string]any{}, "not supported"},
	} {
		r := c.do(bad.cmd, bad.args)
		if r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, bad.want) {
			t.Errorf("%s: %+v", bad.cmd, r.GetResponse())
		}
	}
	// A malformed message: reported, skipped.
	dap.WriteBaseMessage(c.c, []byte(`{"seq": 99, "type": "request", "command": "evaluate", "arguments": 5}`))
	c.ok("threads", nil)

	c.ok("setFunctionBreakpoints", map[string]any{"breakpoints": []any{}})
	c.ok("setDataBreakpoints", map[string]any{"breakpoints": []any{}})
	c.ok("setBreakpoints", map[string]any{"source": map[string]any{"path": "xdp_firewall.c"}, "breakpoints": []any{}})
	c.ok("continue", map[string]any{"threadId": 1})
	exited := c.event("exited").(*dap.ExitedEvent)
	if exited.Body.ExitCode != 1 { // XDP_DROP
		t.Fatalf("exit code %d", exited.Body.ExitCode)
	}
	c.event("terminated")
	out := ""
	for _, e := range c.events {
		if o, ok := e.(*dap.OutputEvent); ok {
			out += o.Body.Output
		}
	}
	if !strings.Contains(out, "XDP_DROP (1)") || !strings.Contains(out, "drop from c0000242") {
		t.Errorf("output: %q", out)
	}
	c.ok("disconnect", nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after disconnect")
	}
}

// Requests before launch are refused; a launch with only a program runs
// the default input and stops on entry when asked; a client that goes
// away ends the server cleanly.
func TestOrderAndDisconnect(t *testing.T) {
	c, done := newClient(t)
	c.ok("initialize", nil)
	if r := c.do("continue", map[string]any{"threadId": 1}); r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, "launch") {
		t.Fatalf("continue before launch: %+v", r.GetResponse())
	}
	c.ok("launch", map[string]any{"program": "xdp_firewall.o", "stopOnEntry": true})
	c.event("initialized")
	c.ok("configurationDone", nil)
	if st := c.stopped(); st.Reason != "entry" {
		t.Fatalf("stop %+v", st)
	}
	if f := c.top(); f.Line != 112 {
		t.Fatalf("entry at line %d", f.Line)
	}
	c.ok("stepIn", map[string]any{"threadId": 1})
	c.stopped()
	c.c.Close() // the editor crashed
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return when the client went away")
	}
}
