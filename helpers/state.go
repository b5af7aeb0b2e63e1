package helpers

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// RunState is what helpers leave behind for the embedder besides map
// contents: trace_printk lines, the redirect target, signals. It belongs to
// one machine; Set.State returns it and Set.ResetState clears it before a
// new run.
type RunState struct {
	// Printk holds the lines trace_printk and trace_vprintk wrote, in order,
	// as they would appear in trace_pipe (after the task/timestamp prefix).
	Printk []string
	// Redirect is the target of the last bpf_redirect or bpf_redirect_map,
	// nil if none was called.
	Redirect *Redirect
	// Signals lists the signals bpf_send_signal(_thread) sent.
	Signals []Signal
	// Clones are the packets bpf_clone_redirect sent, in order.
	Clones []Clone
	// Tunnel is the metadata bpf_skb_set_tunnel_key attached, nil if none.
	Tunnel *Tunnel

	csumUnnecessary bool  // bpf_csum_level: ip_summed is CHECKSUM_UNNECESSARY
	csumLevel       uint8 // and its csum_level
	held                  // what the current run holds, released when it ends
	scratch         scratch
}

// scratch is what helpers keep from run to run, so that a loop of runs
// printing the same lines allocates nothing.
type scratch struct {
	line   []byte       // bpf_trace_printk's formatting buffer
	last   []string     // the previous run's Printk
	printk []string     // Printk's array, for a caller that reuses it (ReuseState)
	out    hooks.Output // the event of the last line
	mem    memReader
}

// intern returns line i of this run as a string: line i of the last run
// that printed when it is the same text.
func (sc *scratch) intern(i int, line []byte) string {
	if i < len(sc.last) && sc.last[i] == string(line) {
		return sc.last[i]
	}
	return string(line)
}

// held is what one run holds host-side: bpfscope's own bookkeeping, never
// read back from memory the program can write. When the run ends, however
// it ends, release gives it all back (see vm.Machine.OnRunEnd).
type held struct {
	run      uint64                 // vm.Machine.RunID of the run
	locks    map[uint64][]byte      // spin locks held: address and lock word
	reserved map[uint64]reservation // ring buffer records not yet committed
	keys     map[keySlot]keyRegion  // bpf_for_each_map_elem key buffers
	conns    map[*Conn]uint64       // nf_conn images mapped in this run
	storage  []storageOwner         // socket storage of the test runner's socket
	// cgroupStorage is the run's bpf_get_local_storage storage, mapped
	// for the run.
	cgroupStorage map[cgroupStorageKey]uint64
	// shadow holds the bytes helpers last wrote into the program-held
	// structures they keep state in (dynptrs, iterators), by location:
	// a helper reading one back checks the program left it alone.
	shadow map[*byte][]byte
}

// keySlot names a bpf_for_each_map_elem key buffer: one per map and call
// depth, so nested walks of one map keep their own keys.
type keySlot struct {
	m     maps.Map
	depth int
}

type keyRegion struct {
	addr uint64
	buf  []byte
}

// setShadow records b as what a helper wrote into a program-held
// structure (all zeros: none there).
func setShadow(m *vm.Machine, b []byte) {
	st := (*Set)(nil).run(m)
	if st.shadow == nil {
		st.shadow = map[*byte][]byte{}
	}
	st.shadow[&b[0]] = bytes.Clone(b)
}

// checkShadow fails unless b, the program-held structure what at addr,
// holds what a helper last wrote there in this run, or zeros (an
// uninitialised or null one, which helpers treat as such).
func checkShadow(m *vm.Machine, b []byte, what string, addr uint64) error {
	st := (*Set)(nil).run(m)
	want, ok := st.shadow[&b[0]]
	switch {
	case ok && bytes.Equal(want, b), !ok && !slices.ContainsFunc(b, func(c byte) bool { return c != 0 }):
		return nil
	case ok:
		return fmt.Errorf("the program wrote to its %s at %s (the verifier rejects this)", what, m.Describe(addr))
	}
	return fmt.Errorf("%s at %s was not initialised by a helper in this run (the verifier rejects this)", what, m.Describe(addr))
}

// maxReserved bounds the ring buffer records one run may hold reserved:
// each is a region of the machine's address space. The verifier bounds
// them by the program's references; bpfscope, running unverified code,
// by this.
const maxReserved = 1 << 16

// Redirect is a packet redirection a program requested.
type Redirect struct {
	Helper string // "bpf_redirect" or "bpf_redirect_map"
	// Ifindex is bpf_redirect's target, or the device of the devmap entry
	// bpf_redirect_map found (0 for a broadcast).
	Ifindex uint32
	Map     string // bpf_redirect_map's map
	Key     uint64 // and index (a cpumap's CPU, an xskmap's queue)
	Flags   uint64 // as passed
	// Nexthop is bpf_redirect_neigh's struct bpf_redir_neigh, when Flags
	// has BPF_F_NEXTHOP (1<<3).
	Nexthop [20]byte
}

// Clone is a copy of the packet bpf_clone_redirect sent to a device.
type Clone struct {
	Ifindex uint32
	Flags   uint64 // BPF_F_INGRESS or 0
	Data    []byte // the packet from skb->data when it was cloned
}

// Signal is a signal a program sent to the current task or thread.
type Signal struct {
	Sig    uint32
	Thread bool // bpf_send_signal_thread
}

type reservation struct {
	rb        *maps.RingBufMap
	off, size int
}

// states holds each machine's RunState. Entries are keyed weakly and
// dropped when their machine is collected, so short-lived machines do not
// leak.
var states struct {
	sync.Mutex
	m map[weak.Pointer[vm.Machine]]*RunState
}

// State returns the helper state of m's runs.
func (s *Set) State(m *vm.Machine) *RunState {
	// A Set mostly serves one machine, which asks at every run and many
	// helper calls: the last answer saves the lock, weak.Make and lookup.
	if s == nil { // helpers reached without a Set (checkShadow)
		return lookupState(m)
	}
	if l := s.last.Load(); l != nil && l.m.Value() == m {
		return l.st
	}
	st := lookupState(m)
	s.last.Store(&lastState{weak.Make(m), st})
	return st
}

// lastState is a Set's last answer to State.
type lastState struct {
	m  weak.Pointer[vm.Machine]
	st *RunState
}

func lookupState(m *vm.Machine) *RunState {
	states.Lock()
	defer states.Unlock()
	k := weak.Make(m)
	st, ok := states.m[k]
	if !ok {
		st = &RunState{}
		if states.m == nil {
			states.m = map[weak.Pointer[vm.Machine]]*RunState{}
		}
		states.m[k] = st
		runtime.AddCleanup(m, func(k weak.Pointer[vm.Machine]) {
			states.Lock()
			delete(states.m, k)
			states.Unlock()
		}, k)
	}
	return st
}

// ResetState clears m's helper state; call it before each run.
func (s *Set) ResetState(m *vm.Machine) {
	st := s.State(m)
	*st = RunState{scratch: st.next(false)}
}

// ReuseState is ResetState for a caller done with the previous run's
// state: the next run writes its Printk lines into the same array.
func (s *Set) ReuseState(m *vm.Machine) {
	st := s.State(m)
	*st = RunState{scratch: st.next(true)}
}

func (st *RunState) next(reuse bool) scratch {
	sc := st.scratch
	if len(st.Printk) > 0 { // the last run that printed
		sc.last = append(sc.last[:0], st.Printk...)
	}
	switch {
	case !reuse:
		sc.printk = nil
	case st.Printk != nil:
		sc.printk = st.Printk[:0]
	}
	sc.out = hooks.Output{}
	return sc
}

// run returns m's state for a helper that holds something for the
// current run. On the first such call of a run it arranges for release to
// run when the run ends.
func (s *Set) run(m *vm.Machine) *RunState {
	st := s.State(m)
	if id := m.RunID(); st.held.run != id {
		st.held = held{run: id}
		m.OnRunEnd(func(error) { st.release(m, id) })
	}
	return st
}

// release gives back what run id held: records still reserved are
// discarded (so readers see every record committed after them), locks
// still held are unlocked. A verified program releases all of them
// itself; one that faults, runs out of budget or is canceled halfway does
// not, and the kernel, which never stops a program halfway, has no
// equivalent.
func (st *RunState) release(m *vm.Machine, id uint64) {
	if st.held.run != id {
		return
	}
	for addr, r := range st.reserved {
		r.rb.Discard(r.off, maps.RingBufNoWakeup)
		m.Unmap(addr)
	}
	for _, word := range st.locks {
		maps.SpinUnlock(word) // atomically: other machines may be waiting for it
	}
	for _, addr := range st.conns {
		m.Unmap(addr)
	}
	for _, o := range st.storage {
		o.m.DeleteStorage(o.owner) // the socket is freed with its storage
	}
	st.held = held{run: id}
}
