// Package vm is the interpreter: it runs a validated eBPF program (Program,
// from Load, NewProgram or FromInstructions; package loader makes them
// from ELF objects) on a Machine, with the kernel's semantics for every
// instruction of RFC 9669 and Linux's extensions.
//
// A Machine owns a checked address space: the stack, the context, the
// packet, map values and helper buffers are Regions at distinct 4 GiB
// windows, so every load and store is bounds-checked against one region
// and no address reaches host memory. Runs are limited in instructions
// (Config.MaxInsns), call depth and tail calls, and stop on a context's
// cancellation. A failed run returns a *RunError naming the pc, the
// address and the region; a program that cannot be loaded, a *LoadError
// naming the instruction. Helpers (HelperSet) and maps (Map) are supplied
// by the embedder; packages helpers and maps implement the kernel's.
//
// Observers attach with Machine.Attach: any value implementing interfaces
// of package hooks. Without one, the run loop makes no calls at all; with
// one, the machine runs a trapping copy of the program, so tracing costs
// only traced runs.
package vm
