// Package exporters groups the sinks for the events of package hooks:
//
//   - text: one line per instruction, like the verifier log;
//   - jsonl: JSON Lines with a versioned schema (docs/jsonl-schema.md);
//   - ring: a bounded in-memory ring and flight recorder;
//   - tracefile: a self-contained, replayable binary trace file
//     (docs/trace-format.md).
//
// Each exporter is a hook: attach it to a vm.Machine, alone or with others
// through hooks.Multi. Text, JSON Lines and the ring are hooks.BatchHooks:
// they take instructions, registers and memory accesses from PC batches,
// never one call per instruction, and accept replayed Records (trace
// files, flight recordings) through their StepHook and AccessHook. The
// benchmarks in this directory measure each one on the same loop-heavy
// XDP program.
package exporters
