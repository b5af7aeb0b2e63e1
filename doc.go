// Package bpfscope runs eBPF programs in user space, exactly as the Linux
// kernel would, and lets its user watch every step.
//
// Production kernels run eBPF JIT-compiled, so a program cannot be
// single-stepped or traced where it broke. bpfscope takes the program (a
// clang-built ELF object or raw bytecode) and an input (a packet, an
// __sk_buff, a tracepoint context), runs it in an embeddable interpreter, and
// reports every executed instruction, memory access and helper call through
// a hook API.
//
// The packages, in the order data flows through them:
//
//   - isa: the instruction set: opcodes, decoding, a disassembler and
//     assemblers in kernel and bpf_conformance syntax.
//   - loader: clang-built ELF objects (with BTF line info and CO-RE) into
//     programs and maps.
//   - vm: the interpreter, with its checked address space, limits and typed
//     errors; one loop, traced or not.
//   - maps, helpers, ctx: BPF maps, kernel helpers and per-program-type
//     contexts with the kernel's semantics.
//   - testrun: BPF_PROG_TEST_RUN in user space.
//   - hooks: the events a run reports and the interfaces that receive them:
//     a StepHook is called around every instruction and can pause the run;
//     a PCHook receives every instruction in batches, registers included,
//     for little more than an untraced run (see Example_pcHook).
//   - exporters: text, JSON Lines, ring-buffer and trace-file sinks.
//   - btfvalue, pktfield: what events touch, by name: values and member
//     paths read with BTF (globals, map keys and values), packet bytes by
//     protocol header field. The machine answers through hooks.Namer; the
//     exporters ask only when they print.
//   - debuginfo, debug (with debug/term and debug/dap): DWARF locals and
//     frames, and a debugger over the same machine: breakpoints,
//     watchpoints and reverse execution by deterministic re-execution.
//   - cbpf: classic BPF (capture filters, socket filters, seccomp) checked
//     and converted to eBPF as Linux does, run by the same machine.
//   - capture: what a program running in the kernel saw and did, recorded
//     with fentry/fexit and replayed against bpfscope.
//
// The command cmd/bpfscope runs and traces programs from the shell.
package bpfscope
