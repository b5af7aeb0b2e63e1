package maps

// kernelLRU decides which elements LRU_HASH and LRU_PERCPU_HASH maps evict,
// as kernel/bpf/bpf_lru_list.c (Linux 6.18) does, so that the same
// operations on the same CPUs leave the same keys.
//
// Every element slot is a node on one list. A common LRU (the default) has
// one global set of lists — active, inactive, free — and per CPU a local
// free list and a pending list of nodes handed out but not yet flushed to
// the global lists. A CPU that finds its local free list empty flushes its
// pending nodes, rotates the global lists (second chance for referenced
// nodes) and takes target_free nodes from the global free list, shrinking
// the inactive list (evicting) for what is missing; only when that fails
// does it steal from other CPUs' local lists. target_free is
// clamp(max_entries / possible CPUs / 2, 1, 128): a 16-entry map on 2 CPUs
// evicts 4 elements at a time, so it may hold 13. With
// BPF_F_NO_COMMON_LRU each CPU has its own active/inactive/free lists over
// max_entries / CPUs nodes and evicts 4 at a time.
//
// A program's lookup sets the node's reference bit; the syscall's does not.
// The kernel's lists are circular with a head, and its scans, the inactive
// rotation pointer and the order nodes move in are copied here exactly;
// nodes are interchangeable, so only which keys stay is observable.
type kernelLRU struct {
	// Links of nodes 0..n-1 and of the list heads after them.
	next, prev []int32
	node       []lruNode
	n          int32
	cpus       int
	percpu     bool
	nrScans    int
	targetFree int
	// lists: one per CPU for a per-CPU LRU, else one.
	lists []lruList
	local []lruLocal // common LRU only, one per CPU
	// evict removes the element of a node from the hash table
	// (htab_lru_map_delete_node); every node on an LRU list is in it.
	evict func(slot int32)
}

type lruNode struct {
	typ uint8
	ref bool
	cpu int32
}

// Node list types (enum bpf_lru_list_type): active and inactive are
// counted.
const (
	lruActive uint8 = iota
	lruInactive
	lruFree
	lruLocalFree
	lruLocalPending
)

type lruList struct {
	head                 [3]int32 // list heads of active, inactive, free
	counts               [2]int   // active, inactive
	nextInactiveRotation int32
}

type lruLocal struct {
	free, pending int32 // list heads
	nextSteal     int
}

const (
	lruLocalFreeTarget = 128 // LOCAL_FREE_TARGET, LOCAL_NR_SCANS
	lruPerCPUTarget    = 4   // PERCPU_FREE_TARGET, PERCPU_NR_SCANS
)

// newKernelLRU builds the lists for n nodes on cpus possible CPUs, all
// free, as bpf_lru_init and bpf_lru_populate do.
func newKernelLRU(n, cpus int, percpu bool, evict func(int32)) *kernelLRU {
	l := &kernelLRU{n: int32(n), cpus: cpus, percpu: percpu, evict: evict, node: make([]lruNode, n)}
	heads := 3
	if percpu {
		heads = 3 * cpus
	} else {
		heads += 2 * cpus
	}
	l.next = make([]int32, n+heads)
	l.prev = make([]int32, n+heads)
	h := int32(n)
	newHead := func() int32 {
		l.next[h], l.prev[h] = h, h
		h++
		return h - 1
	}
	nlists := 1
	if percpu {
		nlists = cpus
	}
	l.lists = make([]lruList, nlists)
	for i := range l.lists {
		ll := &l.lists[i]
		for t := range ll.head {
			ll.head[t] = newHead()
		}
		ll.nextInactiveRotation = ll.head[lruInactive]
	}
	if percpu {
		l.nrScans = lruPerCPUTarget
		per := n / cpus
		i := 0
		for cpu := range cpus {
			for {
				l.node[i] = lruNode{typ: lruFree, cpu: int32(cpu)}
				l.listAdd(int32(i), l.lists[cpu].head[lruFree])
				i++
				if i == n || i%per == 0 {
					break
				}
			}
			if i == n {
				break
			}
		}
		return l
	}
	l.nrScans = lruLocalFreeTarget
	l.targetFree = min(max(n/cpus/2, 1), lruLocalFreeTarget)
	l.local = make([]lruLocal, cpus)
	for cpu := range l.local {
		l.local[cpu] = lruLocal{free: newHead(), pending: newHead(), nextSteal: cpu}
	}
	for i := range n {
		l.node[i] = lruNode{typ: lruFree}
		l.listAdd(int32(i), l.lists[0].head[lruFree])
	}
	return l
}

// Intrusive circular lists, as include/linux/list.h.

func (l *kernelLRU) listAdd(x, head int32) { // after head
	nx := l.next[head]
	l.next[x], l.prev[x] = nx, head
	l.prev[nx], l.next[head] = x, x
}

func (l *kernelLRU) listDel(x int32) {
	p, nx := l.prev[x], l.next[x]
	l.next[p], l.prev[nx] = nx, p
}

func (l *kernelLRU) listMove(x, head int32) { l.listDel(x); l.listAdd(x, head) }

func (l *kernelLRU) empty(head int32) bool { return l.next[head] == head }

func (ll *lruList) countInc(t uint8) {
	if t <= lruInactive {
		ll.counts[t]++
	}
}

func (ll *lruList) countDec(t uint8) {
	if t <= lruInactive {
		ll.counts[t]--
	}
}

// moveToFree is __bpf_lru_node_move_to_free.
func (l *kernelLRU) moveToFree(ll *lruList, x, freeHead int32, t uint8) {
	if x == ll.nextInactiveRotation {
		ll.nextInactiveRotation = l.prev[x]
	}
	ll.countDec(l.node[x].typ)
	l.node[x].typ = t
	l.listMove(x, freeHead)
}

// moveIn is __bpf_lru_node_move_in: from a local list to ll.
func (l *kernelLRU) moveIn(ll *lruList, x int32, t uint8) {
	ll.countInc(t)
	l.node[x].typ, l.node[x].ref = t, false
	l.listMove(x, ll.head[t])
}

// move is __bpf_lru_node_move: within or between ll's lists.
func (l *kernelLRU) move(ll *lruList, x int32, t uint8) {
	nd := &l.node[x]
	if nd.typ != t {
		ll.countDec(nd.typ)
		ll.countInc(t)
		nd.typ = t
	}
	nd.ref = false
	if x == ll.nextInactiveRotation {
		ll.nextInactiveRotation = l.prev[x]
	}
	l.listMove(x, ll.head[t])
}

// rotateActive is __bpf_lru_list_rotate_active.
func (l *kernelLRU) rotateActive(ll *lruList) {
	head := ll.head[lruActive]
	first := l.next[head]
	i := 0
	for x := l.prev[head]; x != head; {
		tmp := l.prev[x]
		if l.node[x].ref {
			l.move(ll, x, lruActive)
		} else {
			l.move(ll, x, lruInactive)
		}
		i++
		if i == l.nrScans || x == first {
			break
		}
		x = tmp
	}
}

// rotateInactive is __bpf_lru_list_rotate_inactive.
func (l *kernelLRU) rotateInactive(ll *lruList) {
	inactive := ll.head[lruInactive]
	if l.empty(inactive) {
		return
	}
	last := l.next[ll.nextInactiveRotation]
	if last == inactive {
		last = l.next[last]
	}
	cur, next := ll.nextInactiveRotation, inactive
	for i := 0; i < l.nrScans; {
		if cur == inactive {
			cur = l.prev[cur]
			continue
		}
		next = l.prev[cur]
		if l.node[cur].ref {
			l.move(ll, cur, lruActive)
		}
		if cur == last {
			break
		}
		cur = next
		i++
	}
	ll.nextInactiveRotation = next
}

// shrinkInactive is __bpf_lru_list_shrink_inactive.
func (l *kernelLRU) shrinkInactive(ll *lruList, target int, freeHead int32, t uint8) int {
	head := ll.head[lruInactive]
	shrunk, i := 0, 0
	for x := l.prev[head]; x != head; {
		tmp := l.prev[x]
		if l.node[x].ref {
			l.move(ll, x, lruActive)
		} else {
			l.evict(x)
			l.moveToFree(ll, x, freeHead, t)
			shrunk++
			if shrunk == target {
				break
			}
		}
		i++
		if i == l.nrScans {
			break
		}
		x = tmp
	}
	return shrunk
}

func (l *kernelLRU) rotate(ll *lruList) {
	if ll.counts[lruInactive] < ll.counts[lruActive] {
		l.rotateActive(ll)
	}
	l.rotateInactive(ll)
}

// shrink is __bpf_lru_list_shrink: when no unreferenced inactive node
// can go, the oldest node of the inactive (else active) list goes anyway.
func (l *kernelLRU) shrink(ll *lruList, target int, freeHead int32, t uint8) int {
	if n := l.shrinkInactive(ll, target, freeHead, t); n > 0 {
		return n
	}
	force := ll.head[lruInactive]
	if l.empty(force) {
		force = ll.head[lruActive]
	}
	if x := l.prev[force]; x != force {
		l.evict(x)
		l.moveToFree(ll, x, freeHead, t)
		return 1
	}
	return 0
}

// flushLocal is __local_list_flush.
func (l *kernelLRU) flushLocal(ll *lruList, loc *lruLocal) {
	for x := l.prev[loc.pending]; x != loc.pending; {
		tmp := l.prev[x]
		if l.node[x].ref {
			l.moveIn(ll, x, lruActive)
		} else {
			l.moveIn(ll, x, lruInactive)
		}
		x = tmp
	}
}

// popFreeToLocal is bpf_lru_list_pop_free_to_local.
func (l *kernelLRU) popFreeToLocal(loc *lruLocal) {
	ll := &l.lists[0]
	l.flushLocal(ll, loc)
	l.rotate(ll)
	nfree := 0
	free := ll.head[lruFree]
	for x := l.next[free]; x != free && nfree < l.targetFree; {
		tmp := l.next[x]
		l.moveToFree(ll, x, loc.free, lruLocalFree)
		nfree++
		x = tmp
	}
	if nfree < l.targetFree {
		l.shrink(ll, l.targetFree-nfree, loc.free, lruLocalFree)
	}
}

func (l *kernelLRU) addPending(loc *lruLocal, cpu int, x int32) {
	l.node[x] = lruNode{typ: lruLocalPending, cpu: int32(cpu)}
	l.listAdd(x, loc.pending)
}

func (l *kernelLRU) popLocalFree(loc *lruLocal) (int32, bool) {
	if l.empty(loc.free) {
		return 0, false
	}
	x := l.next[loc.free]
	l.listDel(x)
	return x, true
}

// popLocalPending is __local_list_pop_pending: the oldest unreferenced
// pending node, else the oldest.
func (l *kernelLRU) popLocalPending(loc *lruLocal) (int32, bool) {
	for _, force := range []bool{false, true} {
		for x := l.prev[loc.pending]; x != loc.pending; x = l.prev[x] {
			if !l.node[x].ref || force {
				l.evict(x)
				l.listDel(x)
				return x, true
			}
		}
	}
	return 0, false
}

// pop is bpf_lru_pop_free on cpu: a node for a new element, evicting
// others if it must; false when there is none (-ENOMEM).
func (l *kernelLRU) pop(cpu int) (int32, bool) {
	if l.percpu {
		ll := &l.lists[cpu]
		l.rotate(ll)
		free := ll.head[lruFree]
		if l.empty(free) {
			l.shrink(ll, lruPerCPUTarget, free, lruFree)
		}
		if l.empty(free) {
			return 0, false
		}
		x := l.next[free]
		l.move(ll, x, lruInactive)
		return x, true
	}
	loc := &l.local[cpu]
	x, ok := l.popLocalFree(loc)
	if !ok {
		l.popFreeToLocal(loc)
		x, ok = l.popLocalFree(loc)
	}
	if ok {
		l.addPending(loc, cpu, x)
		return x, true
	}
	// Steal from the local lists of this CPU and the others, round robin
	// from next_steal.
	first := loc.nextSteal
	steal := first
	for {
		sl := &l.local[steal]
		if x, ok = l.popLocalFree(sl); !ok {
			x, ok = l.popLocalPending(sl)
		}
		steal = (steal + 1) % l.cpus
		if ok || steal == first {
			break
		}
	}
	loc.nextSteal = steal
	if ok {
		l.addPending(loc, cpu, x)
	}
	return x, ok
}

// push is bpf_lru_push_free: the node's element left the hash table.
func (l *kernelLRU) push(x int32) {
	nd := &l.node[x]
	if l.percpu {
		l.move(&l.lists[nd.cpu], x, lruFree)
		return
	}
	if nd.typ == lruLocalPending {
		nd.typ, nd.ref = lruLocalFree, false
		l.listMove(x, l.local[nd.cpu].free)
		return
	}
	l.move(&l.lists[0], x, lruFree)
}

// setRef is bpf_lru_node_set_ref: a program looked the element up.
func (l *kernelLRU) setRef(x int32) { l.node[x].ref = true }
