// Package maps implements BPF maps with the Linux kernel's semantics for a
// user-space eBPF interpreter.
//
// Programs receive pointers into map values, so values never move: most
// maps keep them in one preallocated byte slice, Memory; hash maps keep
// them in segments allocated as elements arrive (see HashMap). Lookup
// returns offsets into that storage, and Value reads the value at one. Operations fail with the kernel's error codes as Errno
// values, which match syscall.Errno under errors.Is. Program-side
// operations (Lookup, Update, Delete) see the current CPU's value of per-CPU
// maps; embedder-side ones (Get, Put, Remove, NextKey) behave like the
// bpf() syscall and see every CPU's.
//
// Where the kernel leaves behaviour unspecified this package is
// deterministic: hash maps iterate in insertion order. LRU maps evict as
// the kernel's bpf_lru_list.c does, given the CPU of each operation (see
// HashMap; user-space operations act as on CPU 0).
//
// # Memory
//
// A Budget bounds the host memory maps take, side tables included; the
// maps of a loaded collection share one (loader.Options.MaxMapMemory,
// bpfscope --max-map-memory), and its default is DefaultMemoryLimit, 1 GiB.
// Maps the kernel preallocates (arrays, LRU hashes, queues, ring buffers,
// fd arrays, device maps) are charged in full by New; hash maps and LPM
// tries, which the kernel grows an element at a time, grow a segment at a
// time, so their max_entries costs nothing until used. Going past the budget is a *MemoryLimitError naming the
// map, the limit and how to raise it; it is ENOMEM under errors.Is, which
// a program's update sees as -ENOMEM.
//
// # Sharing maps between goroutines
//
// Maps may be shared by machines on different goroutines, as one program
// runs on many CPUs in the kernel. Every map operation (lookup, update,
// delete, LRU eviction, trie updates, queue and stack push and pop, ring
// buffer reserve, commit and drain, perf output, inner-map and tail-call
// slots, device maps) is atomic per element, under the map's lock. Copies
// of values (Get, Put, helpers' updates) move whole words atomically, as the
// kernel's do, and the interpreter's BPF atomic instructions are real
// atomics, so counters a program updates atomically come out exact;
// bpf_spin_lock is a lock between machines (SpinLock), and BPF_F_LOCK
// updates hold it. What stays racy is the program's choice, as in the
// kernel: plain loads and stores through a value pointer race with other
// machines' stores and with user space's copies (the race detector reports
// them), and a pointer kept after its element was deleted sees the slot's
// next element. Those races touch only value bytes: the maps' own
// structures (indexes, free lists, LRU and iteration order, ring buffer
// positions) are host memory programs cannot reach.
//
// Create maps with New from a Spec; type-specific operations (ring buffer
// reservation, queue push and pop, inner maps, tail-call programs, the
// devices of devmaps and the sockets of xskmaps) are
// methods of the concrete types New returns.
package maps
