#!/bin/sh
# pcaprate.sh [FRAMES] [ROUNDS] [BEFORE]
#
# The whole 'bpfscope run --pcap' command, as a user runs it, on the
# bundled firewall over a pcapgen capture of FRAMES frames (64-1514 bytes,
# default 1000000): packets per second of CPU time (user + system) and of
# wall time, for one worker over pcap and pcapng, with --pcap-out, on two
# workers, and 'trace -q --pcap'; and the setup alone (an empty capture).
# Every figure is the best of ROUNDS runs (default 10), interleaved: on a
# shared, throttled machine the best run is the one least disturbed.
# "cores" is the most CPU time per wall second a run got: about 1 for one
# worker and 2 for two on idle cores; below that, other work took the
# cores and wall times do not compare.
#
# The ceiling for two workers is the row two-run1: two independent
# one-worker processes started at once over the same capture, twice the
# packets in the wall time of the later one. It is what two-way
# parallelism with nothing shared gets from this machine (two vCPUs that
# may not be two full cores); run2 is reported against it, and against
# run1. The load average before and after says how busy the machine was.
#
# With BEFORE, a git revision, its command is built too and its run1 and
# run2 rows (before-run1, before-run2) run in the same rounds, for a
# before/after comparison on the same machine at the same time.
set -e
frames=${1:-1000000}
rounds=${2:-10}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bpfscope" ./cmd/bpfscope
before=${3:-}
if [ -n "$before" ]; then
	mkdir "$tmp/src"
	git archive "$before" | tar -x -C "$tmp/src"
	(cd "$tmp/src" && go build -o "$tmp/before" ./cmd/bpfscope)
fi
go run ./internal/cmd/pcapgen -n "$frames" -o "$tmp/m.pcap"
go run ./internal/cmd/pcapgen -n "$frames" -o "$tmp/m.pcapng"
head -c 24 "$tmp/m.pcap" >"$tmp/empty.pcap"
b="$tmp/bpfscope"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
i=0
while [ "$i" -lt "$rounds" ]; do
	i=$((i + 1))
	for c in "run1 run -q --jobs 1 --pcap $tmp/m.pcap" \
		"run1-pcapng run -q --jobs 1 --pcap $tmp/m.pcapng" \
		"run1-pcap-out run -q --jobs 1 --pcap $tmp/m.pcap --pcap-out $tmp/out.pcap" \
		"run2 run -q --jobs 2 --pcap $tmp/m.pcap" \
		"trace-q trace -q --pcap $tmp/m.pcap" \
		"setup run -q --jobs 1 --pcap $tmp/empty.pcap"; do
		set -- $c
		name=$1
		shift
		/usr/bin/time -f "$name %U %S %e" "$b" "$@" >/dev/null 2>>"$tmp/times" || true
	done
	if [ -n "$before" ]; then
		for j in 1 2; do
			/usr/bin/time -f "before-run$j %U %S %e" "$tmp/before" run -q --jobs $j --pcap "$tmp/m.pcap" >/dev/null 2>>"$tmp/times" || true
		done
	fi
	# Two one-worker processes at once: the time of both together.
	/usr/bin/time -f "two-run1 %U %S %e" sh -c '"$1" run -q --jobs 1 --pcap "$2" >/dev/null &
		"$1" run -q --jobs 1 --pcap "$2" >/dev/null; wait' sh "$b" "$tmp/m.pcap" 2>>"$tmp/times" || true
	printf 'round %d of %d\n' "$i" "$rounds" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
grep -v 'workers with separate maps' "$tmp/times" | awk -v frames="$frames" -v rounds="$rounds" -v load0="$load0" -v load1="$load1" '
NF == 4 {
	cpu = $2 + $3; wall = $4
	if (!($1 in mc) || cpu < mc[$1]) mc[$1] = cpu
	if (!($1 in mw) || wall < mw[$1]) mw[$1] = wall
	if (wall > 0 && cpu / wall > mu[$1]) mu[$1] = cpu / wall
	if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
}
END {
	printf "bpfscope run --pcap, bundled firewall, %d pcapgen frames, best of %d rounds\n", frames, rounds
	printf "load average before %s, after %s\n", load0, load1
	printf "%-16s %12s %12s %14s %14s %8s\n", "command", "cpu s", "wall s", "cpu ns/packet", "packets/wall-s", "cores"
	for (j = 1; j <= n; j++) {
		k = order[j]
		if (k == "setup") {
			printf "%-16s %12.3f %12.3f\n", k, mc[k], mw[k]
			continue
		}
		pk = k == "two-run1" ? 2 * frames : frames
		printf "%-16s %12.3f %12.3f %14.0f %14.0f %8.2f\n", k, mc[k], mw[k], mc[k] * 1e9 / pk, pk / mw[k], mu[k]
	}
	if (("run1" in mw) && ("run2" in mw) && ("two-run1" in mw)) {
		r1 = frames / mw["run1"]; r2 = frames / mw["run2"]; c = 2 * frames / mw["two-run1"]
		printf "\nrun2: %.0f packets/wall-s, %.2fx run1, %.2f of the two-process ceiling (%.0f packets/wall-s, %.2fx run1), up to %.2f cores\n", r2, r2 / r1, r2 / c, c, c / r1, mu["run2"]
		if (("before-run2" in mw) && ("before-run1" in mw)) {
			b2 = frames / mw["before-run2"]
			printf "before-run2: %.0f packets/wall-s, %.2fx before-run1, %.2f of the ceiling, up to %.2f cores\n", b2, mw["before-run1"] / mw["before-run2"], b2 / c, mu["before-run2"]
		}
	}
}'
