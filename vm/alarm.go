package vm

// An alarm calls a function once a run has executed a given number of
// instructions. It costs nothing per instruction: it shares the budget's
// check, which the interpreter makes at taken jumps and calls only. A
// debugger uses it to re-execute a run untraced up to shortly before the
// instruction it wants, then Attach its step hook from the alarm.
type alarm struct {
	at uint64
	fn func()
}

// SetAlarm makes the next runs call fn, once, when they have executed at
// least n instructions: at the first taken jump or call from then on, so
// up to a straight run of the program (or a helper's callbacks) later.
// fn runs on the run's goroutine between two instructions and may Attach
// other hooks. SetAlarm(0, nil) clears it; an alarm that rang is cleared.
// It must not be called during a run.
func (m *Machine) SetAlarm(n uint64, fn func()) {
	m.alarm = alarm{at: n, fn: fn}
}

// ring calls the alarm if it is due, and restores the budget's own limit.
// It reports false when the budget itself is exhausted.
func (m *Machine) ring() bool {
	if m.alarm.fn == nil || m.n >= m.limit {
		return false
	}
	fn := m.alarm.fn
	m.alarm = alarm{}
	m.budget = m.limit
	fn()
	return true
}

// setBudget sets the count at which the slow path next looks: the run's
// limit, or a pending alarm before it.
func (m *Machine) setBudget() {
	m.budget = m.limit
	if m.alarm.fn != nil && m.alarm.at < m.budget {
		m.budget = m.alarm.at
	}
}
