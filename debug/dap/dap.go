// Package dap serves a debug.Session over the Debug Adapter Protocol
// (github.com/google/go-dap's messages, as Delve uses), so an editor's
// generic DAP client debugs eBPF programs at C level, forwards and
// backwards: breakpoints with conditions and hit counts, function
// breakpoints (also "helper NAME", "tailcall", "exit"), data breakpoints
// (watchpoints), step in/over/out and back, reverse continue, stack
// traces with C positions, scopes (Locals, Registers, Maps, Packet,
// Globals), evaluate and disassemble. One thread: the program.
package dap

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/debug"
	dap "github.com/google/go-dap"
)

// LaunchArgs are the launch request's arguments. Program alone runs the
// bundled default input, as the command line does; with no program at
// all the bundled firewall is debugged.
type LaunchArgs struct {
	Program     string `json:"program"`
	Prog        string `json:"prog"`   // program name or section in the object
	Pcap        string `json:"pcap"`   // capture to take the frame from
	Packet      int    `json:"packet"` // frame number, from 1
	DataIn      string `json:"dataIn"` // a file holding the packet
	CtxIn       string `json:"ctxIn"`  // a file holding ctx_in
	StopOnEntry bool   `json:"stopOnEntry"`
}

// Opener builds a session for a launch request.
type Opener func(LaunchArgs) (*debug.Session, error)

const threadID = 1

// Serve speaks DAP on rw until the client disconnects or the stream ends.
func Serve(rw io.ReadWriter, open Opener) error {
	sv := &server{r: bufio.NewReader(rw), w: rw, open: open, refs: map[int]func() []dap.Variable{}, dataIDs: map[string]string{}}
	return sv.loop()
}

type server struct {
	r    *bufio.Reader
	w    io.Writer
	seq  int
	open Opener
	s    *debug.Session
	args LaunchArgs

	lineBPs map[string][]int // file -> breakpoint ids set by setBreakpoints
	funcBPs []int
	dataBPs []int
	refs    map[int]func() []dap.Variable
	nextRef int
	dataIDs map[string]string // variable name -> watch specification (map elements)
	done    bool              // the run ended: terminated was sent
}

func (sv *server) loop() error {
	defer func() {
		if sv.s != nil {
			sv.s.Close()
		}
	}()
	for {
		msg, err := dap.ReadProtocolMessage(sv.r)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil // the client went away: end cleanly
			}
			var fe *dap.DecodeProtocolMessageFieldError
			if errors.As(err, &fe) {
				sv.send(&dap.ErrorResponse{Response: dap.Response{ProtocolMessage: dap.ProtocolMessage{Type: "response"},
					RequestSeq: fe.Seq, Command: fe.FieldValue, Message: err.Error()}})
				continue
			}
			var be *dap.BaseProtocolError
			if errors.As(err, &be) {
				return err // the framing is broken: nothing more can be read
			}
			sv.output("stderr", "bad message: "+err.Error()+"\n")
			continue
		}
		req, ok := msg.(dap.RequestMessage)
		if !ok {
			continue // responses and events from a client are not expected
		}
		if sv.handle(req) {
			return nil
		}
	}
}

func (sv *server) send(m dap.Message) {
	sv.seq++
	switch x := m.(type) {
	case dap.ResponseMessage:
		x.GetResponse().Seq = sv.seq
	case dap.EventMessage:
		x.GetEvent().Seq = sv.seq
	}
	dap.WriteProtocolMessage(sv.w, m)
}

func response(r *dap.Request) dap.Response {
	return dap.Response{ProtocolMessage: dap.ProtocolMessage{Type: "response"}, RequestSeq: r.Seq, Command: r.Command, Success: true}
}

func event(name string) dap.Event {
	return dap.Event{ProtocolMessage: dap.ProtocolMessage{Type: "event"}, Event: name}
}

func (sv *server) fail(r *dap.Request, err error) {
	msg := err.Error()
	sv.send(&dap.ErrorResponse{
		Response: dap.Response{ProtocolMessage: dap.ProtocolMessage{Type: "response"}, RequestSeq: r.Seq, Command: r.Command, Message: msg},
		Body:     dap.ErrorResponseBody{Error: &dap.ErrorMessage{Id: 1, Format: msg, ShowUser: true}},
	})
}

func (sv *server) output(cat, text string) {
	sv.send(&dap.OutputEvent{Event: event("output"), Body: dap.OutputEventBody{Category: cat, Output: text}})
}

var errNotLaunched = errors.New("no program is being debugged: send launch first")

// handle answers one request; it reports whether the session is over.
func (sv *server) handle(m dap.RequestMessage) bool {
	r := m.GetRequest()
	if sv.s == nil {
		switch m.(type) {
		case *dap.InitializeRequest, *dap.LaunchRequest, *dap.DisconnectRequest, *dap.SetExceptionBreakpointsRequest:
		default:
			sv.fail(r, errNotLaunched)
			return false
		}
	}
	switch req := m.(type) {
	case *dap.InitializeRequest:
		sv.send(&dap.InitializeResponse{Response: response(r), Body: dap.Capabilities{
			SupportsConfigurationDoneRequest:  true,
			SupportsFunctionBreakpoints:       true,
			SupportsConditionalBreakpoints:    true,
			SupportsHitConditionalBreakpoints: true,
			SupportsEvaluateForHovers:         true,
			SupportsStepBack:                  true,
			SupportsDataBreakpoints:           true,
			SupportsDisassembleRequest:        true,
			SupportsSteppingGranularity:       true,
			SupportsTerminateRequest:          true,
		}})
	case *dap.LaunchRequest:
		sv.launch(req)
	case *dap.SetExceptionBreakpointsRequest:
		sv.send(&dap.SetExceptionBreakpointsResponse{Response: response(r)})
	case *dap.ConfigurationDoneRequest:
		sv.send(&dap.ConfigurationDoneResponse{Response: response(r)})
		if sv.args.StopOnEntry {
			sv.stopped(sv.s.Stopped())
		} else {
			sv.report(sv.s.Continue())
		}
	case *dap.SetBreakpointsRequest:
		sv.setBreakpoints(req)
	case *dap.SetFunctionBreakpointsRequest:
		sv.setFunctionBreakpoints(req)
	case *dap.DataBreakpointInfoRequest:
		sv.dataBreakpointInfo(req)
	case *dap.SetDataBreakpointsRequest:
		sv.setDataBreakpoints(req)
	case *dap.ThreadsRequest:
		name := "program"
		if st := sv.s.Stopped(); st != nil && st.Prog != "" {
			name = st.Prog
		}
		sv.send(&dap.ThreadsResponse{Response: response(r), Body: dap.ThreadsResponseBody{Threads: []dap.Thread{{Id: threadID, Name: name}}}})
	case *dap.ContinueRequest:
		if !sv.moving(r) {
			return false
		}
		sv.send(&dap.ContinueResponse{Response: response(r), Body: dap.ContinueResponseBody{AllThreadsContinued: true}})
		sv.report(sv.s.Continue())
	case *dap.NextRequest:
		if sv.moving(r) {
			sv.send(&dap.NextResponse{Response: response(r)})
			sv.report(sv.step(req.Arguments.Granularity, sv.s.Next, sv.s.StepInstruction))
		}
	case *dap.StepInRequest:
		if sv.moving(r) {
			sv.send(&dap.StepInResponse{Response: response(r)})
			sv.report(sv.step(req.Arguments.Granularity, sv.s.Step, sv.s.StepInstruction))
		}
	case *dap.StepOutRequest:
		if sv.moving(r) {
			sv.send(&dap.StepOutResponse{Response: response(r)})
			sv.report(sv.s.Finish())
		}
	case *dap.StepBackRequest:
		if sv.stoppedOrFail(r) {
			sv.send(&dap.StepBackResponse{Response: response(r)})
			sv.report(sv.step(req.Arguments.Granularity, sv.s.ReverseNext, sv.s.ReverseStepInstruction))
		}
	case *dap.ReverseContinueRequest:
		if sv.stoppedOrFail(r) {
			sv.send(&dap.ReverseContinueResponse{Response: response(r)})
			sv.report(sv.s.ReverseContinue())
		}
	case *dap.PauseRequest:
		sv.fail(r, errors.New("a run between stops takes microseconds: pause has nothing to interrupt"))
	case *dap.StackTraceRequest:
		sv.stackTrace(req)
	case *dap.ScopesRequest:
		sv.scopes(req)
	case *dap.VariablesRequest:
		f, ok := sv.refs[req.Arguments.VariablesReference]
		if !ok {
			sv.fail(r, fmt.Errorf("no variables reference %d (they last until the next stop)", req.Arguments.VariablesReference))
			return false
		}
		sv.send(&dap.VariablesResponse{Response: response(r), Body: dap.VariablesResponseBody{Variables: f()}})
	case *dap.EvaluateRequest:
		sv.evaluate(req)
	case *dap.DisassembleRequest:
		sv.disassemble(req)
	case *dap.TerminateRequest:
		sv.send(&dap.TerminateResponse{Response: response(r)})
		sv.s.Close()
		sv.terminated()
	case *dap.DisconnectRequest:
		if sv.s != nil {
			sv.s.Close()
		}
		sv.send(&dap.DisconnectResponse{Response: response(r)})
		return true
	default:
		sv.fail(r, fmt.Errorf("request %q is not supported", r.Command))
	}
	return false
}

func (sv *server) launch(req *dap.LaunchRequest) {
	r := &req.Request
	if sv.s != nil {
		sv.fail(r, errors.New("already launched"))
		return
	}
	var a LaunchArgs
	if len(req.Arguments) > 0 {
		if err := json.Unmarshal(req.Arguments, &a); err != nil {
			sv.fail(r, fmt.Errorf("launch arguments: %v", err))
			return
		}
	}
	s, err := sv.open(a)
	if err != nil {
		sv.fail(r, err)
		return
	}
	if _, err := s.Start(); err != nil {
		s.Close()
		sv.fail(r, err)
		return
	}
	sv.s, sv.args = s, a
	sv.lineBPs = map[string][]int{}
	sv.send(&dap.LaunchResponse{Response: response(r)})
	sv.output("console", "bpfscope: debugging "+s.Target().Name+"\n")
	sv.send(&dap.InitializedEvent{Event: event("initialized")})
}

// moving checks that the run can go forwards.
func (sv *server) moving(r *dap.Request) bool {
	if !sv.s.Running() {
		sv.fail(r, errors.New("the program is not running (it ended): launch it again, or step back"))
		return false
	}
	return true
}

func (sv *server) stoppedOrFail(r *dap.Request) bool {
	if sv.s.Stopped() == nil {
		sv.fail(r, errors.New("the program has not started"))
		return false
	}
	return true
}

func (sv *server) step(g dap.SteppingGranularity, line, insn func() (*debug.Stop, error)) (*debug.Stop, error) {
	if g == "instruction" {
		return insn()
	}
	return line()
}

// report sends what a movement ended in: a stopped event, or the end.
func (sv *server) report(st *debug.Stop, err error) {
	if err != nil {
		sv.output("stderr", err.Error()+"\n")
		if st = sv.s.Stopped(); st == nil {
			return
		}
	}
	if st.Reason == debug.ReasonExited {
		x := st.Exit
		for _, l := range x.Printk {
			sv.output("stdout", "bpf_trace_printk: "+strings.TrimRight(l, "\n")+"\n")
		}
		if x.Err != nil {
			sv.output("stderr", fmt.Sprintf("program faulted after %d instructions: %v\n", x.Insns, x.Err))
		} else {
			sv.output("console", fmt.Sprintf("program exited with %s after %d instructions\n", debug.Verdict(sv.s.Type(), x.Retval), x.Insns))
		}
		sv.send(&dap.ExitedEvent{Event: event("exited"), Body: dap.ExitedEventBody{ExitCode: int(int32(x.Retval))}})
		sv.terminated()
		return
	}
	sv.stopped(st)
}

func (sv *server) terminated() {
	if !sv.done {
		sv.done = true
		sv.send(&dap.TerminatedEvent{Event: event("terminated")})
	}
}

func (sv *server) stopped(st *debug.Stop) {
	sv.refs, sv.nextRef = map[int]func() []dap.Variable{}, 0
	body := dap.StoppedEventBody{ThreadId: threadID, AllThreadsStopped: true, Description: st.Note}
	switch st.Reason {
	case debug.ReasonEntry:
		body.Reason = "entry"
	case debug.ReasonBreakpoint:
		body.Reason = "breakpoint"
		if st.Breakpoint.Kind == debug.BreakFunc || st.Breakpoint.Kind == debug.BreakHelper || st.Breakpoint.Kind == debug.BreakTailCall || st.Breakpoint.Kind == debug.BreakExit {
			body.Reason = "function breakpoint"
		}
		body.HitBreakpointIds = []int{st.Breakpoint.ID}
	case debug.ReasonWatchpoint:
		body.Reason = "data breakpoint"
		h := st.Watch
		body.HitBreakpointIds = []int{h.W.ID}
		body.Text = fmt.Sprintf("%s: %s -> %s (pc %d)", h.W.Spec, sv.watchValue(h.W, h.Old), sv.watchValue(h.W, h.New), h.PC)
		if h.Read {
			body.Text = fmt.Sprintf("%s read: %s (pc %d)", h.W.Spec, sv.watchValue(h.W, h.New), h.PC)
		}
		body.Description = body.Text
	default:
		body.Reason = "step"
	}
	sv.send(&dap.StoppedEvent{Event: event("stopped"), Body: body})
}

func (sv *server) watchValue(w *debug.Watchpoint, b []byte) string {
	if v := sv.s.FormatWatch(w, b); v != "" {
		return v
	}
	return fmt.Sprintf("%x", b)
}

func (sv *server) setBreakpoints(req *dap.SetBreakpointsRequest) {
	r := &req.Request
	path := req.Arguments.Source.Path
	if path == "" {
		path = req.Arguments.Source.Name
	}
	file := filepath.Base(path)
	for _, id := range sv.lineBPs[path] {
		sv.s.Delete(id)
	}
	sv.lineBPs[path] = nil
	var out []dap.Breakpoint
	for _, sb := range req.Arguments.Breakpoints {
		b, err := sv.s.Break(fmt.Sprintf("%s:%d", file, sb.Line), sb.Condition, sb.HitCondition)
		if err != nil {
			out = append(out, dap.Breakpoint{Verified: false, Line: sb.Line, Message: err.Error(), Source: &req.Arguments.Source})
			continue
		}
		sv.lineBPs[path] = append(sv.lineBPs[path], b.ID)
		out = append(out, dap.Breakpoint{Id: b.ID, Verified: true, Line: b.Line, Message: b.Moved, Source: &req.Arguments.Source})
	}
	sv.send(&dap.SetBreakpointsResponse{Response: response(r), Body: dap.SetBreakpointsResponseBody{Breakpoints: out}})
}

func (sv *server) setFunctionBreakpoints(req *dap.SetFunctionBreakpointsRequest) {
	for _, id := range sv.funcBPs {
		sv.s.Delete(id)
	}
	sv.funcBPs = nil
	var out []dap.Breakpoint
	for _, fb := range req.Arguments.Breakpoints {
		b, err := sv.s.Break(fb.Name, fb.Condition, fb.HitCondition)
		if err != nil {
			out = append(out, dap.Breakpoint{Verified: false, Message: err.Error()})
			continue
		}
		sv.funcBPs = append(sv.funcBPs, b.ID)
		bp := dap.Breakpoint{Id: b.ID, Verified: true, Line: b.Line, Message: b.Location()}
		if b.File != "" {
			bp.Source = &dap.Source{Name: filepath.Base(b.File), Path: b.File}
		}
		out = append(out, bp)
	}
	sv.send(&dap.SetFunctionBreakpointsResponse{Response: response(&req.Request), Body: dap.SetFunctionBreakpointsResponseBody{Breakpoints: out}})
}

// dataBreakpointInfo names what a variable's watchpoint would watch. The
// dataId is a watch specification: an expression, a map element, packet
// bytes.
func (sv *server) dataBreakpointInfo(req *dap.DataBreakpointInfoRequest) {
	a := req.Arguments
	id, desc := a.Name, a.Name
	if spec, ok := sv.dataIDs[a.Name]; ok {
		id, desc = spec, spec
	}
	body := dap.DataBreakpointInfoResponseBody{DataId: id, Description: desc,
		AccessTypes: []dap.DataBreakpointAccessType{"write", "read", "readWrite"}}
	if !sv.s.Running() {
		body = dap.DataBreakpointInfoResponseBody{DataId: nil, Description: "the program is not running"}
	}
	sv.send(&dap.DataBreakpointInfoResponse{Response: response(&req.Request), Body: body})
}

func (sv *server) setDataBreakpoints(req *dap.SetDataBreakpointsRequest) {
	for _, id := range sv.dataBPs {
		sv.s.Delete(id)
	}
	sv.dataBPs = nil
	var out []dap.Breakpoint
	for _, db := range req.Arguments.Breakpoints {
		kind := debug.WatchWrite
		switch db.AccessType {
		case "read":
			kind = debug.WatchRead
		case "readWrite":
			kind = debug.WatchAccess
		}
		w, err := sv.s.Watch(db.DataId, kind)
		if err != nil {
			out = append(out, dap.Breakpoint{Verified: false, Message: err.Error()})
			continue
		}
		sv.dataBPs = append(sv.dataBPs, w.ID)
		out = append(out, dap.Breakpoint{Id: w.ID, Verified: true, Message: fmt.Sprintf("%d bytes at %s", w.Size, w.Where)})
	}
	sv.send(&dap.SetDataBreakpointsResponse{Response: response(&req.Request), Body: dap.SetDataBreakpointsResponseBody{Breakpoints: out}})
}

func (sv *server) stackTrace(req *dap.StackTraceRequest) {
	bt := sv.s.Backtrace()
	var frames []dap.StackFrame
	for i, f := range bt {
		name := f.Func
		switch {
		case f.Inlined:
			name += " (inlined)"
		case f.Kind == debug.FrameCallback:
			name += " (callback of " + f.Helper + ")"
		case f.Kind == debug.FrameTailCall:
			name += " (tail call)"
		}
		sf := dap.StackFrame{Id: i + 1, Name: name, Line: f.LineNo, Column: 1,
			InstructionPointerReference: pcRef(f.Prog, f.PC)}
		if f.File != "" {
			sf.Source = &dap.Source{Name: filepath.Base(f.File), Path: sv.sourcePath(f.File)}
		}
		if f.LineNo == 0 {
			sf.Column = 0
		}
		frames = append(frames, sf)
	}
	start := min(req.Arguments.StartFrame, len(frames))
	frames = frames[start:]
	if n := req.Arguments.Levels; n > 0 && n < len(frames) {
		frames = frames[:n]
	}
	sv.send(&dap.StackTraceResponse{Response: response(&req.Request), Body: dap.StackTraceResponseBody{StackFrames: frames, TotalFrames: len(bt)}})
}

// sourcePath is the C file's path as recorded, or where the program's
// directory has it.
func (sv *server) sourcePath(file string) string {
	return sv.s.SourcePath(file)
}

// pcRef is a DAP memory reference for an instruction: its byte offset in
// the program, in hex (program names select the program; see disassemble).
func pcRef(prog string, pc int) string {
	return fmt.Sprintf("0x%x", pc*8)
}

func (sv *server) ref(f func() []dap.Variable) int {
	sv.nextRef++
	sv.refs[sv.nextRef] = f
	return sv.nextRef
}

func (sv *server) scopes(req *dap.ScopesRequest) {
	frame := req.Arguments.FrameId - 1
	scopes := []dap.Scope{
		{Name: "Locals", PresentationHint: "locals", VariablesReference: sv.ref(func() []dap.Variable { return sv.locals(frame) })},
		{Name: "Registers", PresentationHint: "registers", VariablesReference: sv.ref(sv.registers)},
		{Name: "Maps", VariablesReference: sv.ref(sv.maps), Expensive: true},
		{Name: "Packet", VariablesReference: sv.ref(sv.packet)},
		{Name: "Globals", VariablesReference: sv.ref(sv.globals)},
	}
	sv.send(&dap.ScopesResponse{Response: response(&req.Request), Body: dap.ScopesResponseBody{Scopes: scopes}})
}

func (sv *server) variable(v debug.Variable, evalName string) dap.Variable {
	dv := dap.Variable{Name: v.Name, Value: v.Value, Type: v.Type, EvaluateName: evalName}
	if v.HasChildren() {
		dv.VariablesReference = sv.ref(func() []dap.Variable {
			kids, err := sv.s.Children(v)
			if err != nil {
				return []dap.Variable{{Name: "error", Value: err.Error()}}
			}
			var out []dap.Variable
			for _, k := range kids {
				out = append(out, sv.variable(k, ""))
			}
			return out
		})
	}
	return dv
}

func (sv *server) locals(frame int) []dap.Variable {
	vars, err := sv.s.Locals(frame)
	if err != nil {
		return []dap.Variable{{Name: "(locals)", Value: err.Error()}}
	}
	var out []dap.Variable
	for _, v := range vars {
		out = append(out, sv.variable(v, v.Name))
	}
	return out
}

func (sv *server) globals() []dap.Variable {
	var out []dap.Variable
	for _, v := range sv.s.Globals() {
		out = append(out, sv.variable(v, v.Name))
	}
	return out
}

func (sv *server) registers() []dap.Variable {
	regs, err := sv.s.Registers()
	if err != nil {
		return nil
	}
	var out []dap.Variable
	for i, r := range regs {
		val := fmt.Sprintf("%#x (%d)", r, int64(r))
		if d := sv.s.Describe(r); r>>32 != 0 && !strings.HasPrefix(d, "unmapped") {
			val += " <" + d + ">"
		}
		out = append(out, dap.Variable{Name: "r" + strconv.Itoa(i), Value: val, Type: "u64", EvaluateName: "r" + strconv.Itoa(i)})
	}
	return out
}

func (sv *server) maps() []dap.Variable {
	var out []dap.Variable
	for _, m := range sv.s.Maps() {
		name := m.Name
		dv := dap.Variable{Name: name, Value: fmt.Sprintf("%s, %d of %d elements", m.Type, m.Len, m.MaxEntries), Type: m.Type}
		dv.VariablesReference = sv.ref(func() []dap.Variable {
			es, err := sv.s.MapDump(name)
			if err != nil {
				return []dap.Variable{{Name: "error", Value: err.Error()}}
			}
			var kids []dap.Variable
			for _, e := range es {
				kids = append(kids, dap.Variable{Name: "[" + e.KeyText + "]", Value: e.ValueText})
				sv.dataIDs["["+e.KeyText+"]"] = fmt.Sprintf("map %s[%x]", name, e.Key)
			}
			return kids
		})
		out = append(out, dv)
	}
	return out
}

// packet shows the frame 16 bytes a row, each row watchable.
func (sv *server) packet() []dap.Variable {
	addr, err := sv.s.Address("pkt")
	if err != nil {
		return []dap.Variable{{Name: "packet", Value: err.Error()}}
	}
	var size int
	for _, r := range sv.s.Regions() {
		if addr >= r.Addr && addr < r.Addr+uint64(r.Size) {
			size = int(r.Addr + uint64(r.Size) - addr)
		}
	}
	b, err := sv.s.ReadMemory(addr, size)
	if err != nil {
		return []dap.Variable{{Name: "packet", Value: err.Error()}}
	}
	out := []dap.Variable{{Name: "length", Value: strconv.Itoa(len(b))}}
	for off := 0; off < len(b); off += 16 {
		end := min(off+16, len(b))
		name := fmt.Sprintf("pkt[%d:%d]", off, end)
		out = append(out, dap.Variable{Name: name, Value: fmt.Sprintf("% x", b[off:end]), MemoryReference: fmt.Sprintf("%#x", addr+uint64(off))})
	}
	return out
}

func (sv *server) evaluate(req *dap.EvaluateRequest) {
	v, err := sv.s.Eval(req.Arguments.Expression)
	if err != nil {
		sv.fail(&req.Request, err)
		return
	}
	dv := sv.variable(v, v.Name)
	sv.send(&dap.EvaluateResponse{Response: response(&req.Request), Body: dap.EvaluateResponseBody{Result: dv.Value, Type: dv.Type, VariablesReference: dv.VariablesReference}})
}

func (sv *server) disassemble(req *dap.DisassembleRequest) {
	a := req.Arguments
	st := sv.s.Stopped()
	prog := ""
	if st != nil {
		prog = st.Prog
	}
	base, err := strconv.ParseUint(strings.TrimPrefix(a.MemoryReference, "0x"), 16, 64)
	if err != nil {
		sv.fail(&req.Request, fmt.Errorf("memory reference %q: want an instruction reference from stackTrace", a.MemoryReference))
		return
	}
	p := sv.s.Program(prog)
	if p == nil {
		sv.fail(&req.Request, errNotLaunched)
		return
	}
	first := (int(base)+a.Offset)/8 + a.InstructionOffset
	var out []dap.DisassembledInstruction
	for i := 0; i < a.InstructionCount; i++ {
		pc := first + i
		di := dap.DisassembledInstruction{Address: fmt.Sprintf("0x%x", max(pc, 0)*8)}
		text := sv.s.Disassemble(prog, pc)
		switch {
		case pc < 0 || pc >= p.Len():
			di.Instruction = "(none)"
		case text == "":
			di.Instruction = "(second slot of ld_imm64)"
		default:
			di.Instruction = fmt.Sprintf("%d: %s", pc, text)
			di.Symbol = p.FuncAt(pc)
			if l := p.Line(pc); l != nil {
				di.Location = &dap.Source{Name: filepath.Base(l.File), Path: sv.sourcePath(l.File)}
				di.Line = l.Line
			}
		}
		out = append(out, di)
	}
	sv.send(&dap.DisassembleResponse{Response: response(&req.Request), Body: dap.DisassembleResponseBody{Instructions: out}})
}
