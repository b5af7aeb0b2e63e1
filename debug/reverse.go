package debug

import "fmt"

// ReverseStepInstruction goes back one instruction.
func (s *Session) ReverseStepInstruction() (*Stop, error) {
	st := s.stop
	if st == nil {
		return nil, ErrNotRunning
	}
	if st.Count == 0 {
		return s.atStart("already at the first instruction")
	}
	return s.reverseTo(st.Count - 1)
}

func (s *Session) atStart(note string) (*Stop, error) {
	st, err := s.reverseTo(0)
	if st != nil {
		st.Note = note
	}
	return st, err
}

// reverseTo re-executes to an earlier position and refreshes what
// watchpoints remember.
func (s *Session) reverseTo(count uint64) (*Stop, error) {
	st, err := s.relaunch(count)
	if err != nil {
		return nil, err
	}
	s.refreshWatches()
	if count == 0 {
		st.Reason = ReasonEntry
	}
	return st, nil
}

// ReverseStep goes back to the first instruction of the source line that
// ran before the current one (entering calls, as step does). ReverseNext
// stays in the current frame.
func (s *Session) ReverseStep() (*Stop, error) { return s.reverseLine(false) }

// ReverseNext is ReverseStep over calls.
func (s *Session) ReverseNext() (*Stop, error) { return s.reverseLine(true) }

func (s *Session) reverseLine(over bool) (*Stop, error) {
	st := s.stop
	if st == nil {
		return nil, ErrNotRunning
	}
	if st.Count == 0 {
		return s.atStart("already at the first instruction")
	}
	cur := s.lineOf(st.Prog, st.PC)
	curDepth := st.Depth
	if p := s.program(st.Prog); p == nil || p.Lines == nil {
		return s.ReverseStepInstruction() // no line info: lines are instructions
	}
	if s.ex != nil && !s.ex.done { // what the run remembers may do
		if trail, complete := s.ex.tr.recentTrail(st.Count); len(trail) > 0 {
			if target, ok := s.previousLine(trail, cur, curDepth, over, complete); ok {
				return s.reverseTo(target)
			}
		}
	}
	for window := uint64(4096); ; window *= 4 {
		from := uint64(0)
		if st.Count > window {
			from = st.Count - window
		}
		trail, err := s.recordTrail(from, st.Count)
		if err != nil {
			return nil, err
		}
		if target, ok := s.previousLine(trail, cur, curDepth, over, from == 0); ok {
			return s.reverseTo(target)
		}
		if from == 0 {
			return s.atStart("no earlier line: at the start of the run")
		}
	}
}

type lineID struct {
	prog, file string
	line       int
	depth      int
}

func (s *Session) lineOf(prog string, pc int) *lineID {
	p := s.program(prog)
	if p == nil {
		return nil
	}
	l := p.Line(pc)
	if l == nil {
		return nil
	}
	return &lineID{prog: prog, file: l.File, line: l.Line}
}

// previousLine scans positions backwards from the end of trail: past the
// current line, to the start of the line before it. complete says trail
// reaches the start of the run.
func (s *Session) previousLine(trail []position, cur *lineID, depth int, over, complete bool) (uint64, bool) {
	id := func(p position) *lineID {
		l := s.lineOf(p.prog, p.pc)
		if l != nil {
			l.depth = p.depth
		}
		return l
	}
	same := func(a, b *lineID) bool {
		return a != nil && b != nil && *a == *b
	}
	if cur != nil {
		c := *cur
		c.depth = depth
		cur = &c
	}
	i := len(trail) - 1
	skip := func(p position) bool { return over && p.depth > depth }
	// Past the instructions of the current line (and lineless ones).
	for i >= 0 && (skip(trail[i]) || id(trail[i]) == nil || same(id(trail[i]), cur)) {
		i--
	}
	if i < 0 {
		return 0, false
	}
	prev := id(trail[i])
	start := trail[i].count
	for i >= 0 && (skip(trail[i]) || id(trail[i]) == nil || same(id(trail[i]), prev)) {
		if !skip(trail[i]) && id(trail[i]) != nil {
			start = trail[i].count
		}
		i--
	}
	if i < 0 && !complete {
		return 0, false // the line may have begun before the window
	}
	return start, true
}

// recordTrail re-executes to position to, collecting positions from from on.
func (s *Session) recordTrail(from, to uint64) ([]position, error) {
	at := uint64(0)
	if slack := s.slack(); from > slack {
		at = from - slack
	}
	g := goal{kind: goalRecord, from: from, count: to}
	_, err := s.launch(g, at)
	if err != nil {
		if at == 0 {
			return nil, err
		}
		if _, err = s.launch(g, 0); err != nil {
			return nil, err
		}
	}
	return s.ex.tr.trail, nil
}

// ReverseContinue goes back to the latest earlier position where a
// breakpoint or watchpoint would have stopped the run going forwards (for
// a watchpoint: just after the write that changed the value), or to the
// start of the run.
func (s *Session) ReverseContinue() (*Stop, error) {
	st := s.stop
	if st == nil {
		return nil, ErrNotRunning
	}
	if st.Count == 0 {
		return s.atStart("already at the first instruction")
	}
	saved := make([]uint64, len(s.bps))
	for i, b := range s.bps {
		saved[i], b.Hits = b.Hits, 0
	}
	_, err := s.launch(goal{kind: goalScan, count: st.Count}, 0)
	for i, b := range s.bps {
		b.Hits = saved[i]
	}
	if err != nil {
		return nil, err
	}
	hits := s.ex.tr.hits
	if len(hits) == 0 {
		return s.atStart("no breakpoint or watchpoint hit earlier: at the start of the run")
	}
	last := hits[len(hits)-1]
	got, err := s.reverseTo(last.Count)
	if err != nil {
		return nil, err
	}
	got.Reason, got.Breakpoint, got.Watch = last.Reason, last.Breakpoint, last.Watch
	if got.Watch != nil {
		got.Note = fmt.Sprintf("the last change before position %d", st.Count)
	}
	return got, nil
}
