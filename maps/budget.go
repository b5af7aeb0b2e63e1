package maps

import (
	"fmt"
	"sync"
)

// DefaultMemoryLimit is the host memory a Budget allows when none is
// given: the maps of one loaded collection share it, a map created alone
// has its own.
const DefaultMemoryLimit = 1 << 30

// Budget bounds the host memory a set of maps takes: values and the side
// tables that index them (keys, free lists, iteration and LRU order, trie
// nodes), as this package allocates them. Maps the kernel preallocates are
// charged in full when created; hash maps (as with BPF_F_NO_PREALLOC) and
// LPM tries are charged as elements arrive, so a map's max_entries costs
// nothing until it is used. Memory is not given back while the maps live.
// A Budget is safe for concurrent use.
type Budget struct {
	mu    sync.Mutex
	limit uint64
	used  uint64
	// Hint says how to raise the limit, for errors: the loader and the
	// command name their option.
	Hint string
}

// NewBudget returns a budget of limit bytes (0 means DefaultMemoryLimit).
func NewBudget(limit uint64) *Budget {
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	return &Budget{limit: limit, Hint: "pass a larger budget to maps.WithBudget"}
}

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() uint64 { return b.limit }

// Used returns the bytes charged so far.
func (b *Budget) Used() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// charge takes n bytes for map s, or fails with a *MemoryLimitError.
func (b *Budget) charge(s *Spec, n uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.limit-b.used {
		return &MemoryLimitError{Map: s.Name, Type: s.Type, Need: n, Used: b.used, Limit: b.limit, Hint: b.Hint}
	}
	b.used += n
	return nil
}

// WithBudget makes the map charge its memory to b, which the maps of a
// collection share. Without it each map has a budget of
// DefaultMemoryLimit of its own.
func WithBudget(b *Budget) Option {
	return func(c *config) { c.budget = b }
}

// MemoryLimitError reports a map that needs more host memory than its
// Budget has left: at creation for preallocated maps, at an update that
// adds elements for the others (a program's update then returns -ENOMEM,
// as the kernel's does when an element cannot be allocated).
type MemoryLimitError struct {
	Map   string
	Type  Type
	Need  uint64 // bytes the map asked for
	Used  uint64 // bytes of the budget already taken
	Limit uint64
	Hint  string // how to raise the limit
}

func (e *MemoryLimitError) Error() string {
	return fmt.Sprintf("map %q (%s) needs %d more bytes of host memory, but the maps have used %d of their %d-byte limit (%s)",
		e.Map, e.Type, e.Need, e.Used, e.Limit, e.Hint)
}

// Unwrap makes the error ENOMEM under errors.Is, as the kernel reports.
func (e *MemoryLimitError) Unwrap() error { return ENOMEM }
