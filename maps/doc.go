// Package maps implements BPF maps with the Linux kernel's semantics for a
// user-space eBPF interpreter.
//
// Programs receive pointers into map values, so every map keeps its values
// in one preallocated byte slice, Memory, which never moves; Lookup returns
// offsets into it. Operations fail with the kernel's error codes as Errno
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
// Create maps with New from a Spec; type-specific operations (ring buffer
// reservation, queue push and pop, inner maps, tail-call programs, the
// devices of devmaps and the sockets of xskmaps) are
// methods of the concrete types New returns.
package maps
