#!/bin/sh
# bench.sh [ROUNDS] [BENCHTIME]
#
# bpfscope's one benchmark table: untraced ns/insn per program
# (vm BenchmarkInterpreter), each hook's cost as a ratio to the untraced
# run (vm BenchmarkHooks), each exporter's (exporters' benchmarks), the
# allocations per run, and 'run -q --pcap' in packets per second
# (cmd/bpfscope BenchmarkRunLoop and BenchmarkRunPcap).
#
# The test binaries are built once, then run ROUNDS times in turn, each
# benchmark BENCHTIME long (the pcap ones once over their capture). Every
# figure is the minimum over the rounds: on a shared, throttled machine
# the minimum is the run that was not interrupted. Ratios divide minimums
# taken in the same rounds, so a slow spell weighs on both sides alike.
# Example: scripts/bench.sh 10 20ms
set -e
rounds=${1:-10}
bt=${2:-20ms}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/vm.test" ./vm
go test -c -o "$tmp/exporters.test" ./exporters
go test -c -o "$tmp/cmd.test" ./cmd/bpfscope
i=0
while [ "$i" -lt "$rounds" ]; do
	i=$((i + 1))
	(cd vm && "$tmp/vm.test" -test.run '^$' -test.bench '^Benchmark(Interpreter|Hooks)$' -test.benchtime "$bt" -test.benchmem)
	(cd exporters && "$tmp/exporters.test" -test.run '^$' -test.bench . -test.benchtime "$bt" -test.benchmem)
	(cd cmd/bpfscope && "$tmp/cmd.test" -test.run '^$' -test.bench '^Benchmark(RunLoop|RunPcap)$' -test.benchtime 1x -test.benchmem)
	printf 'round %d of %d\n' "$i" "$rounds" >&2
done >"$tmp/out"

awk -v rounds="$rounds" '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
	for (i = 3; i <= NF; i++) {
		u = $i; v = $(i - 1) + 0
		if (u !~ /\//) continue
		k = name SUBSEP u
		if (!(k in min) || v < min[k]) min[k] = v
	}
}
function get(name, unit) { return min[name, unit] }
function has(name, unit) { return ((name, unit) in min) }
END {
	printf "bpfscope benchmarks: minimum of %d rounds\n\n", rounds
	printf "Untraced interpreter (vm BenchmarkInterpreter)\n"
	printf "%-16s %9s %11s %11s\n", "program", "ns/insn", "insns/run", "allocs/run"
	for (j = 1; j <= n; j++) {
		if (order[j] !~ /^Interpreter\//) continue
		p = order[j]; sub(/^Interpreter\//, "", p)
		printf "%-16s %9.2f %11.0f %11.0f\n", p, get(order[j], "ns/insn"), get(order[j], "insns/run"), get(order[j], "allocs/op")
	}

	printf "\nHooks, ratio to untraced (vm BenchmarkHooks; none = untraced ns/insn)\n"
	nh = split("none run_only noop_pcs read_steps noop_step", hk, " ")
	printf "%-16s", "program"
	for (h = 1; h <= nh; h++) printf " %10s", hk[h]
	printf " %11s\n", "allocs/run"
	for (j = 1; j <= n; j++) {
		if (order[j] !~ /^Hooks\/.*\/none$/) continue
		p = order[j]; sub(/^Hooks\//, "", p); sub(/\/none$/, "", p)
		base = get(order[j], "ns/insn")
		printf "%-16s %10.2f", p, base
		worst = 0
		for (h = 2; h <= nh; h++) {
			k = "Hooks/" p "/" hk[h]
			if (has(k, "ns/insn")) printf " %9.2fx", get(k, "ns/insn") / base
			else printf " %10s", "-"
			if (get(k, "allocs/op") > worst) worst = get(k, "allocs/op")
		}
		printf " %11.0f\n", worst
	}

	printf "\nExporters on byte_sum (7006 insns/run), ratio to untraced (exporters benchmarks, CPU time;\n"
	printf "targets: Ring and Flight <= 5, Text <= 15, JSONL <= 25 cpu-ns/insn; Raw: names off;\n"
	printf "Walk: the batches and the cursor Text and JSONL read them with, writing nothing)\n"
	base = get("Untraced", "cpu-ns/insn")
	printf "%-16s %11s %9s %11s\n", "exporter", "cpu-ns/insn", "ratio", "allocs/run"
	ne = split("Untraced Counter Noop Walk Ring Flight Text TextRaw JSONL JSONLRaw TraceFile", ex, " ")
	for (e = 1; e <= ne; e++) {
		if (!has(ex[e], "cpu-ns/insn")) continue
		printf "%-16s %11.2f %8.2fx %11.0f\n", ex[e], get(ex[e], "cpu-ns/insn"), get(ex[e], "cpu-ns/insn") / base, get(ex[e], "allocs/op")
	}

	printf "\nrun -q --pcap, bundled firewall untraced, pcapgen mix of 64-1514-byte frames (and runts, oversized); packets/s of CPU time; wall time for two workers, and for two one-worker commands at once (the ceiling)\n"
	printf "%-24s %13s %11s %14s %13s %13s\n", "stage", "cpu-ns/packet", "packets/s", "wall-ns/packet", "allocs/packet", "insns/packet"
	np = split("RunLoop/read RunLoop/run RunLoop/all RunPcap/pcap RunPcap/pcapng RunPcap/pcap-out RunPcap/jobs2 RunPcap/jobs1x2", pc, " ")
	for (q = 1; q <= np; q++) {
		k = pc[q]
		if (!has(k, "cpu-ns/packet")) continue
		label = k
		sub(/^RunLoop\/read$/, "loop: read", label); sub(/^RunLoop\/run$/, "loop: read+run", label)
		sub(/^RunLoop\/all$/, "loop: read+run+count", label)
		sub(/^RunPcap\/jobs2$/, "command: 2 workers", label)
		sub(/^RunPcap\/jobs1x2$/, "2 commands at once", label)
		sub(/^RunPcap\//, "command: ", label)
		ins = has(k, "insns/packet") ? sprintf("%13.1f", get(k, "insns/packet")) : sprintf("%13s", "-")
		printf "%-24s %13.0f %11.0f %14.0f %13.3f %s\n", label, get(k, "cpu-ns/packet"), 1e9 / get(k, "cpu-ns/packet"), get(k, "ns/packet"), get(k, "allocs/packet"), ins
	}
}' "$tmp/out"
