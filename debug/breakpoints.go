package debug

import (
	"bytes"
	"debug/dwarf"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/debuginfo"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// BreakKind says what a breakpoint stops at.
type BreakKind uint8

const (
	BreakPC       BreakKind = iota // an instruction
	BreakLine                      // the instructions a source line starts at
	BreakFunc                      // a function's first instruction (or an inlined copy's)
	BreakHelper                    // before every call of a helper
	BreakTailCall                  // the first instruction after a tail call
	BreakExit                      // before the program's final exit
)

// Breakpoint is a place to stop, with an optional condition (an
// expression: "r0 != 2", "iph->saddr == 10.0.0.66") and hit condition
// ("3" or ">=3": from the third hit on; "==3": only the third; "%2":
// every second). Hits counts the hits whose condition held.
type Breakpoint struct {
	ID      int
	Kind    BreakKind
	Spec    string // as the user wrote it
	Cond    string
	HitCond string
	Hits    uint64
	Enabled bool
	// File and Line are where a line breakpoint ended up (gdb moves one
	// on a line without code to the next line with code).
	File string
	Line int
	// Helper is the helper id of a helper breakpoint.
	Helper int32
	// PCs are the instructions it stops at, by program name.
	PCs map[string][]int
	// Moved tells that a line breakpoint was moved, and why.
	Moved string

	cond    expr
	hitOp   string
	hitN    uint64
	pcIndex map[string]map[int]bool
}

// Location describes a breakpoint for messages: "xdp_firewall.c:118 (pc 9, 10)".
func (b *Breakpoint) Location() string {
	switch b.Kind {
	case BreakHelper:
		return "helper " + strings.TrimPrefix(b.Spec, "helper ")
	case BreakTailCall:
		return "tail calls"
	case BreakExit:
		return "program exit"
	}
	var parts []string
	progs := make([]string, 0, len(b.PCs))
	for p := range b.PCs {
		progs = append(progs, p)
	}
	sort.Strings(progs)
	for _, p := range progs {
		var pcs []string
		for _, pc := range b.PCs[p] {
			pcs = append(pcs, strconv.Itoa(pc))
		}
		pre := ""
		if len(progs) > 1 {
			pre = p + " "
		}
		parts = append(parts, pre+"pc "+strings.Join(pcs, ","))
	}
	loc := strings.Join(parts, "; ")
	if b.Line > 0 {
		return fmt.Sprintf("%s:%d (%s)", baseName(b.File), b.Line, loc)
	}
	return loc
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func (b *Breakpoint) hitOK() bool {
	switch b.hitOp {
	case "":
		return true
	case ">=":
		return b.Hits >= b.hitN
	case ">":
		return b.Hits > b.hitN
	case "==":
		return b.Hits == b.hitN
	case "%":
		return b.hitN != 0 && b.Hits%b.hitN == 0
	}
	return true
}

func parseHitCond(s string) (string, uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0, nil
	}
	op := ">="
	for _, p := range []string{">=", "==", ">", "%"} {
		if strings.HasPrefix(s, p) {
			op, s = p, strings.TrimSpace(s[len(p):])
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("hit condition %q: want N, >=N, >N, ==N or %%N", s)
	}
	return op, n, nil
}

// Break sets a breakpoint. spec is one of:
//
//	FILE:LINE or LINE     a source line (moved to the next line with code)
//	FUNC                  a function, out-of-line or inlined
//	*PC or pc PC          an instruction of the entry program (PROG:*PC for another)
//	helper NAME|ID        before every call of a helper
//	tailcall              the first instruction of a program a tail call starts
//	exit                  before the final exit
//
// cond and hitCond may be empty.
func (s *Session) Break(spec, cond, hitCond string) (*Breakpoint, error) {
	b := &Breakpoint{Spec: strings.TrimSpace(spec), Cond: strings.TrimSpace(cond), HitCond: hitCond, Enabled: true}
	var err error
	if b.hitOp, b.hitN, err = parseHitCond(hitCond); err != nil {
		return nil, err
	}
	if b.Cond != "" {
		if b.cond, err = parseExpr(b.Cond); err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
	}
	if err := s.resolve(b); err != nil {
		return nil, err
	}
	s.nextID++
	b.ID = s.nextID
	s.bps = append(s.bps, b)
	return b, nil
}

// Breakpoints returns the breakpoints in the order they were set.
func (s *Session) Breakpoints() []*Breakpoint { return s.bps }

// Delete removes a breakpoint or watchpoint by id.
func (s *Session) Delete(id int) error {
	for i, b := range s.bps {
		if b.ID == id {
			s.bps = append(s.bps[:i], s.bps[i+1:]...)
			return nil
		}
	}
	for i, w := range s.watches {
		if w.ID == id {
			s.watches = append(s.watches[:i], s.watches[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no breakpoint or watchpoint %d", id)
}

// ClearBreakpoints removes every breakpoint of kind k (watchpoints stay).
func (s *Session) ClearBreakpoints(keep func(*Breakpoint) bool) {
	var out []*Breakpoint
	for _, b := range s.bps {
		if keep(b) {
			out = append(out, b)
		}
	}
	s.bps = out
}

// programs returns the target's programs (those a tail call may reach too).
func (s *Session) programs() ([]*vm.Program, error) {
	inst := s.probe()
	if inst == nil {
		return nil, errors.New("debug: cannot load the program")
	}
	var out []*vm.Program
	if inst.Coll != nil {
		for _, p := range inst.Coll.Programs {
			out = append(out, p.Prog)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	} else {
		out = append(out, inst.Machine.Program())
	}
	return out, nil
}

// probe returns an instance to look things up in: the current run's, or a
// fresh one kept for that.
func (s *Session) probe() *Instance {
	if s.ex != nil {
		return s.ex.inst
	}
	if s.spare == nil {
		inst, err := s.t.New()
		if err != nil {
			return nil
		}
		s.spare = inst
	}
	return s.spare
}

func (s *Session) entryProg() string {
	if inst := s.probe(); inst != nil {
		return inst.Machine.Program().Name
	}
	return ""
}

func (s *Session) resolve(b *Breakpoint) error {
	spec := b.Spec
	progs, err := s.programs()
	if err != nil {
		return err
	}
	b.PCs = map[string][]int{}
	switch {
	case spec == "exit":
		b.Kind = BreakExit
		return nil
	case spec == "tailcall" || spec == "tail_call" || spec == "tail-call":
		b.Kind = BreakTailCall
		return nil
	case strings.HasPrefix(spec, "helper "):
		b.Kind = BreakHelper
		name := strings.TrimSpace(strings.TrimPrefix(spec, "helper "))
		id, ok := helperID(name)
		if !ok {
			return fmt.Errorf("no helper %q", name)
		}
		b.Helper = id
		return nil
	case strings.HasPrefix(spec, "*") || strings.HasPrefix(spec, "pc ") || strings.Contains(spec, ":*"):
		b.Kind = BreakPC
		prog, pcs := s.entryProg(), spec
		if i := strings.Index(spec, ":*"); i >= 0 {
			prog, pcs = spec[:i], spec[i+1:]
		}
		pcs = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(pcs, "*"), "pc "))
		pc, err := strconv.ParseUint(pcs, 0, 32)
		if err != nil {
			return fmt.Errorf("breakpoint %q: pc %q is not a number", spec, pcs)
		}
		var p *vm.Program
		for _, q := range progs {
			if q.Name == prog {
				p = q
			}
		}
		if p == nil {
			return fmt.Errorf("breakpoint %q: no program %q", spec, prog)
		}
		if int(pc) >= p.Len() || (pc > 0 && p.Insns[pc-1].IsLdImm64()) {
			return fmt.Errorf("breakpoint %q: pc %d is not an instruction of %s (%d slots)", spec, pc, prog, p.Len())
		}
		b.PCs[prog] = []int{int(pc)}
	default:
		file, lineStr, hasColon := strings.Cut(spec, ":")
		if !hasColon {
			file, lineStr = "", spec
		}
		if n, err := strconv.Atoi(lineStr); err == nil {
			return s.resolveLine(b, progs, file, n)
		}
		if hasColon {
			return fmt.Errorf("breakpoint %q: line %q is not a number", spec, lineStr)
		}
		return s.resolveFunc(b, progs, spec)
	}
	b.index()
	return nil
}

func (b *Breakpoint) index() {
	b.pcIndex = map[string]map[int]bool{}
	for p, pcs := range b.PCs {
		b.pcIndex[p] = map[int]bool{}
		for _, pc := range pcs {
			b.pcIndex[p][pc] = true
		}
	}
}

func fileMatches(want, have string) bool {
	return want == "" || have == want || strings.HasSuffix(have, "/"+want)
}

// resolveLine finds the instructions line n of file starts at, or those
// of the next line with code.
func (s *Session) resolveLine(b *Breakpoint, progs []*vm.Program, file string, n int) error {
	b.Kind = BreakLine
	best := 0
	var bestFile string
	for _, p := range progs {
		for pc := range p.Len() {
			l := p.Line(pc)
			if l == nil || !fileMatches(file, l.File) || l.Line < n {
				continue
			}
			if best == 0 || l.Line < best {
				best, bestFile = l.Line, l.File
			}
		}
	}
	if best == 0 {
		if file == "" {
			return fmt.Errorf("no code at or after line %d", n)
		}
		return fmt.Errorf("no code at or after %s:%d", file, n)
	}
	if best != n {
		b.Moved = fmt.Sprintf("line %d has no code; breakpoint moved to line %d", n, best)
	}
	b.File, b.Line = bestFile, best
	for _, p := range progs {
		for pc := range p.Len() {
			l := p.Line(pc)
			if l == nil || l.File != bestFile || l.Line != best {
				continue
			}
			// Stop where the line starts, not at each of its instructions.
			if prev := p.Line(pc - 1); pc > 0 && prev == l {
				continue
			}
			if pc > 0 && p.Insns[pc-1].IsLdImm64() {
				continue
			}
			b.PCs[p.Name] = append(b.PCs[p.Name], pc)
		}
	}
	b.index()
	return nil
}

// resolveFunc finds a function's first instruction, or the first
// instruction of each inlined copy.
func (s *Session) resolveFunc(b *Breakpoint, progs []*vm.Program, name string) error {
	b.Kind = BreakFunc
	for _, p := range progs {
		for i, f := range p.Funcs {
			if f.Name == name {
				end := p.Len()
				if i+1 < len(p.Funcs) {
					end = p.Funcs[i+1].Start
				}
				b.PCs[p.Name] = append(b.PCs[p.Name], afterPrologue(p, f.Start, end))
			}
		}
		if len(b.PCs[p.Name]) > 0 {
			continue
		}
		dp := s.t.Info.Program(p)
		prev := ""
		for pc := range p.Len() {
			fr := dp.Frames(pc)
			cur := ""
			if len(fr) > 0 && fr[0].Inlined {
				cur = fr[0].Func
			}
			if cur == name && prev != name {
				b.PCs[p.Name] = append(b.PCs[p.Name], pc)
			}
			prev = cur
		}
	}
	if len(b.PCs) == 0 {
		return fmt.Errorf("no function %q (nor line number)", name)
	}
	for _, p := range progs {
		if pcs := b.PCs[p.Name]; len(pcs) > 0 {
			if l := p.Line(pcs[0]); l != nil {
				b.File, b.Line = l.File, l.Line
			}
			break
		}
	}
	b.index()
	return nil
}

func helperID(name string) (int32, bool) {
	if n, err := strconv.ParseInt(name, 0, 32); err == nil {
		return int32(n), true
	}
	if id, ok := isa.HelperID(name); ok {
		return id, true
	}
	return isa.HelperID("bpf_" + name)
}

// needTrace reports whether anything set needs every instruction seen.
func (s *Session) needTrace() bool {
	for _, b := range s.bps {
		if b.Enabled {
			return true
		}
	}
	return len(s.watches) > 0
}

func (s *Session) tailCallBreak() *Breakpoint {
	for _, b := range s.bps {
		if b.Enabled && b.Kind == BreakTailCall && b.Cond == "" {
			return b
		}
	}
	return nil
}

// breakAt returns the breakpoint that stops the run before ev's
// instruction, counting its hit; err is a condition that failed to
// evaluate (the run stops then, as gdb does).
func (s *Session) breakAt(t *tracer, ev *hooks.Step) (*Breakpoint, error) {
	for _, b := range s.bps {
		if !b.Enabled {
			continue
		}
		match := false
		switch b.Kind {
		case BreakPC, BreakLine, BreakFunc:
			match = b.pcIndex[ev.Prog][ev.PC]
		case BreakHelper:
			match = isHelperCall(ev.Insn) && ev.Insn.Imm == b.Helper
		case BreakExit:
			match = ev.Insn.Op == isa.ClassJMP|isa.JmpExit && ev.Depth == 0 && !t.inCallback()
		}
		if !match {
			continue
		}
		if b.cond != nil {
			v, err := s.evalAt(t, b.cond)
			if err != nil {
				return b, err
			}
			if !v.truth() {
				continue
			}
		}
		b.Hits++
		if b.hitOK() {
			return b, nil
		}
	}
	return nil, nil
}

func (t *tracer) inCallback() bool {
	for _, f := range t.m.CallStack() {
		if f.Callback {
			return true
		}
	}
	return false
}

// WatchKind says which accesses a watchpoint reports.
type WatchKind uint8

const (
	WatchWrite  WatchKind = iota // changes of the value (gdb's watch)
	WatchRead                    // reads (rwatch)
	WatchAccess                  // reads and writes (awatch)
)

func (k WatchKind) String() string { return [...]string{"write", "read", "access"}[k] }

// Watchpoint watches a range of the program's memory.
type Watchpoint struct {
	ID   int
	Spec string
	Kind WatchKind
	Addr uint64
	Size int
	// Where names the memory as traces do: "pkt+26", "map blocked_v4[c0000242]".
	Where string
	Type  dwarf.Type // the C type of the watched value, when known
	Name  string
	last  []byte
}

// WatchHit is what a watchpoint saw: the value before and after (equal for
// reads), and the instruction that made the access (for a helper's write,
// the call).
type WatchHit struct {
	W        *Watchpoint
	Old, New []byte
	Read     bool
	PC       int
	Prog     string
	Line     *isa.Line
	Helper   string
}

// Watch sets a watchpoint on memory named by spec:
//
//	pkt[OFF] pkt[OFF:END] pkt+OFF[:SIZE]  packet bytes (from the data start)
//	ctx.FIELD                              a context field (xdp_md.data_end: "ctx.data_end")
//	map NAME[KEYHEX]                       a map element's value (present now)
//	fp-N[:SIZE]                            a stack slot of the current frame
//	EXPR                                   a global, a local in memory, or any lvalue (iph->saddr)
//
// A run must be stopped (so addresses exist).
func (s *Session) Watch(spec string, kind WatchKind) (*Watchpoint, error) {
	if s.ex == nil || s.stop == nil {
		return nil, errors.New("watch: start the program first (addresses exist only in a run)")
	}
	w := &Watchpoint{Spec: strings.TrimSpace(spec), Kind: kind}
	if err := s.watchTarget(w); err != nil {
		return nil, err
	}
	b, err := peek(s.ex.inst.Machine, w.Addr, w.Size)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %v", spec, err)
	}
	w.last = b
	w.Where = s.ex.inst.Machine.Describe(w.Addr)
	s.nextID++
	w.ID = s.nextID
	s.watches = append(s.watches, w)
	return w, nil
}

// Watchpoints returns the watchpoints.
func (s *Session) Watchpoints() []*Watchpoint { return s.watches }

func (s *Session) watchTarget(w *Watchpoint) error {
	m := s.ex.inst.Machine
	spec := w.Spec
	switch {
	case strings.HasPrefix(spec, "pkt"):
		base, lo, hi, ok := packetRegion(m)
		if !ok {
			return errors.New("watch: this run has no packet")
		}
		off, size, err := parseRange(strings.TrimPrefix(spec, "pkt"))
		if err != nil {
			return fmt.Errorf("watch %s: %v", spec, err)
		}
		if off < 0 || off+size > int(hi-lo) {
			return fmt.Errorf("watch %s: outside the packet (%d bytes)", spec, hi-lo)
		}
		w.Addr, w.Size = base+uint64(lo)+uint64(off), size
		return nil
	case strings.HasPrefix(spec, "map "):
		return s.watchMap(w, strings.TrimSpace(strings.TrimPrefix(spec, "map ")))
	case strings.HasPrefix(spec, "ctx."):
		addr, size, err := ctxField(m, strings.TrimPrefix(spec, "ctx."))
		if err != nil {
			return fmt.Errorf("watch %s: %v", spec, err)
		}
		w.Addr, w.Size = addr, size
		return nil
	case strings.HasPrefix(spec, "fp-"):
		offs, sizes, _ := strings.Cut(strings.TrimPrefix(spec, "fp-"), ":")
		off, err := strconv.Atoi(offs)
		size := 8
		if err == nil && sizes != "" {
			size, err = strconv.Atoi(sizes)
		}
		if err != nil || off <= 0 || size <= 0 || size > off {
			return fmt.Errorf("watch %s: want fp-N or fp-N:SIZE", spec)
		}
		fp := m.Regs()[10]
		w.Addr, w.Size = fp-uint64(off), size
		return nil
	}
	x, err := parseExpr(spec)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	v, err := s.evalAt(s.ex.tr, x)
	if err != nil {
		return fmt.Errorf("watch %s: %w", spec, err)
	}
	if v.typ == nil && !v.addressable { // a number: an address, 8 bytes
		if _, err := peek(m, v.u, 8); err != nil {
			return fmt.Errorf("watch %s: %#x is outside every region of the run", spec, v.u)
		}
		w.Addr, w.Size = v.u, 8
		return nil
	}
	if !v.addressable {
		return fmt.Errorf("watch %s: it lives in %s, not in memory; watch a memory location", spec, v.where)
	}
	w.Addr, w.Size, w.Type, w.Name = v.addr, len(v.b), v.typ, v.name
	if w.Size == 0 {
		return fmt.Errorf("watch %s: a value of no size", spec)
	}
	return nil
}

func (s *Session) watchMap(w *Watchpoint, spec string) error {
	name, keyStr, ok := strings.Cut(spec, "[")
	keyStr, ok2 := strings.CutSuffix(keyStr, "]")
	if !ok || !ok2 {
		return fmt.Errorf("watch map %s: want map NAME[KEYHEX]", spec)
	}
	inst := s.ex.inst
	if inst.Coll == nil {
		return errors.New("watch map: raw bytecode has no maps by name")
	}
	mp, ok := inst.Coll.Maps[name]
	if !ok {
		return fmt.Errorf("watch map: no map %q", name)
	}
	key, err := parseKey(keyStr, mp.KeySize())
	if err != nil {
		return fmt.Errorf("watch map %s: %v", spec, err)
	}
	off, ok := mp.Lookup(key, 0)
	if !ok {
		return fmt.Errorf("watch map %s: no element with key %x (yet)", spec, key)
	}
	w.Addr, w.Size = inst.Machine.MapValue(mp, off), mp.ValueSize()
	_, w.Type = s.mapTypes(name)
	return nil
}

// parseKey reads a map key as hex bytes ("c0000242") or, for keys of 4 or 8
// bytes, a decimal number in host order ("3").
func parseKey(s string, size int) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "0x")
	if b, err := hex.DecodeString(s); err == nil && len(b) == size {
		return b, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && (size == 4 || size == 8) {
		b := make([]byte, size)
		for i := range size {
			b[i] = byte(n >> (8 * i))
		}
		return b, nil
	}
	return nil, fmt.Errorf("key %q: want %d bytes in hex", s, size)
}

// parseRange reads "[A]", "[A:B]", "+A", "+A:SIZE" into offset and size.
func parseRange(s string) (int, int, error) {
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		a, n, hasN := strings.Cut(rest, ":")
		off, err := strconv.Atoi(a)
		size := 1
		if err == nil && hasN {
			size, err = strconv.Atoi(n)
		}
		if err != nil || size <= 0 {
			return 0, 0, errors.New("want pkt+OFF or pkt+OFF:SIZE")
		}
		return off, size, nil
	}
	inner, ok := strings.CutPrefix(s, "[")
	inner, ok2 := strings.CutSuffix(inner, "]")
	if !ok || !ok2 {
		return 0, 0, errors.New("want pkt[OFF], pkt[OFF:END] or pkt+OFF:SIZE")
	}
	a, b, hasB := strings.Cut(inner, ":")
	lo, err := strconv.Atoi(a)
	hi := lo + 1
	if err == nil && hasB {
		hi, err = strconv.Atoi(b)
	}
	if err != nil || hi <= lo {
		return 0, 0, errors.New("want pkt[OFF] or pkt[OFF:END] with END > OFF")
	}
	return lo, hi - lo, nil
}

// packetRegion finds the run's packet: its base address and data window.
func packetRegion(m *vm.Machine) (base uint64, lo, hi uint32, ok bool) {
	for id := uint64(1); id < 1<<16; id++ {
		r, _, exists := m.RegionAt(id << 32)
		if !exists {
			break
		}
		if r.Kind == hooks.RegionPacket {
			hi := r.Hi
			if hi == 0 {
				hi = uint32(len(r.Data))
			}
			return id << 32, r.Origin, hi, true
		}
	}
	return 0, 0, 0, false
}

// ctxRegion finds the run's context structure.
func ctxRegion(m *vm.Machine) (base uint64, r *vm.Region, ok bool) {
	for id := uint64(1); id < 1<<16; id++ {
		r, _, exists := m.RegionAt(id << 32)
		if !exists {
			break
		}
		if r.Kind == hooks.RegionCtx {
			return id << 32, r, true
		}
	}
	return 0, nil, false
}

// ctxField finds a context field by the name traces give it ("data_end"
// for "ctx xdp_md.data_end").
func ctxField(m *vm.Machine, field string) (uint64, int, error) {
	base, r, ok := ctxRegion(m)
	if !ok {
		return 0, 0, errors.New("this run has no context structure")
	}
	size := len(r.Data)
	if size == 0 {
		size = 256
	}
	// A field runs from the offset named after it to the next named one
	// (the bytes in between read "xdp_md+5").
	first, n := -1, 0
	for off := 0; off < size; off++ {
		d := m.Describe(base + uint64(off))
		_, f, named := strings.Cut(d, ".")
		switch {
		case first < 0 && named && f == field:
			first, n = off, 1
		case first >= 0 && !named && n < 8:
			n++
		case first >= 0:
			off = size
		}
	}
	if first < 0 {
		return 0, 0, fmt.Errorf("the context has no field %q", field)
	}
	for n&(n-1) != 0 { // a load's size: 1, 2, 4 or 8
		n &= n - 1
	}
	return base + uint64(first), n, nil
}

// watchHit reports an access to a watched location.
func (s *Session) watchHit(t *tracer, ev *hooks.Access) *WatchHit {
	for _, w := range s.watches {
		if ev.Addr >= w.Addr+uint64(w.Size) || ev.Addr+uint64(ev.Size) <= w.Addr {
			continue
		}
		read := ev.Kind == hooks.Load
		if read && w.Kind == WatchWrite || !read && w.Kind == WatchRead {
			continue
		}
		cur, err := peek(t.m, w.Addr, w.Size)
		if err != nil {
			continue
		}
		hit := &WatchHit{W: w, Old: bytes.Clone(w.last), New: cur, Read: read, PC: ev.PC, Prog: t.prog}
		if !read && bytes.Equal(w.last, cur) && w.Kind == WatchWrite {
			continue // a write of the same value: gdb's watch stays silent
		}
		w.last = hit.New
		hit.Line = t.m.Line(ev.PC)
		if ev.Helper != 0 {
			hit.Helper = t.m.HelperName(ev.Helper)
		}
		return hit
	}
	return nil
}

// refreshWatches reads the watched values again (after a re-execution).
func (s *Session) refreshWatches() {
	if s.ex == nil {
		return
	}
	for _, w := range s.watches {
		if b, err := peek(s.ex.inst.Machine, w.Addr, w.Size); err == nil {
			w.last = b
		}
	}
}

// afterPrologue skips a function's prologue as gdb does: the breakpoint
// goes to the first instruction of the function's second source line,
// where parameters the prologue spills to the stack can be read.
func afterPrologue(p *vm.Program, start, end int) int {
	first := p.Line(start)
	if first == nil {
		return start
	}
	for pc := start + 1; pc < end; pc++ {
		if l := p.Line(pc); l != nil && l.Line != first.Line && !p.Insns[pc-1].IsLdImm64() {
			return pc
		}
	}
	return start
}

// FormatWatch renders a watched value with its C type when the watch has
// one (a global, a local, a map value), or "" when it has none.
func (s *Session) FormatWatch(w *Watchpoint, b []byte) string {
	if w.Type == nil || int(w.Type.Size()) != len(b) {
		return ""
	}
	return debuginfo.Format(w.Type, b, w.Name)
}

// peek copies n bytes of the run's memory at addr without reporting an
// access (the machine's Bytes reports those a helper makes, and a stop
// may be inside one, in a callback): plain bytes, or a context field its
// region's view computes (xdp_md.data_end).
func peek(m *vm.Machine, addr uint64, n int) ([]byte, error) {
	if n <= 0 || n > 1<<24 {
		return nil, fmt.Errorf("cannot read %d bytes", n)
	}
	r, off, ok := m.RegionAt(addr)
	if !ok {
		return nil, fmt.Errorf("%#x is outside every region of the run", addr)
	}
	if r.View != nil {
		if n != 1 && n != 2 && n != 4 && n != 8 {
			return nil, fmt.Errorf("%s: %d-byte read of a computed structure", m.Describe(addr), n)
		}
		v, err := r.View.Load(off, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m.Describe(addr), err)
		}
		out := make([]byte, n)
		for i := range out {
			out[i] = byte(v >> (8 * i))
		}
		return out, nil
	}
	lo, hi := uint64(r.Lo), uint64(r.Hi)
	if hi == 0 {
		hi = uint64(len(r.Data))
	}
	end := uint64(off) + uint64(n)
	if uint64(off) < lo || end > hi {
		return nil, fmt.Errorf("%s: %d bytes from offset %d leave %s (bytes %d to %d)", m.Describe(addr), n, off, r.Name, lo, hi)
	}
	if st := uint64(r.Stride); st != 0 && uint64(off)/st != (end-1)/st {
		return nil, fmt.Errorf("%s: %d bytes cross into the next element", m.Describe(addr), n)
	}
	return bytes.Clone(r.Data[off:end]), nil
}
