#!/bin/sh
# pcaprate.sh [FRAMES] [ROUNDS]
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
set -e
frames=${1:-1000000}
rounds=${2:-10}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bpfscope" ./cmd/bpfscope
go run ./internal/cmd/pcapgen -n "$frames" -o "$tmp/m.pcap"
go run ./internal/cmd/pcapgen -n "$frames" -o "$tmp/m.pcapng"
head -c 24 "$tmp/m.pcap" >"$tmp/empty.pcap"
b="$tmp/bpfscope"
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
	printf 'round %d of %d\n' "$i" "$rounds" >&2
done
grep -v 'workers with separate maps' "$tmp/times" | awk -v frames="$frames" '
NF == 4 {
	cpu = $2 + $3; wall = $4
	if (!($1 in mc) || cpu < mc[$1]) mc[$1] = cpu
	if (!($1 in mw) || wall < mw[$1]) mw[$1] = wall
	if (wall > 0 && cpu / wall > mu[$1]) mu[$1] = cpu / wall
	if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
}
END {
	printf "bpfscope run --pcap, bundled firewall, %d pcapgen frames, best of the rounds\n", frames
	printf "%-16s %12s %12s %14s %14s %8s\n", "command", "cpu s", "wall s", "cpu ns/packet", "packets/wall-s", "cores"
	for (j = 1; j <= n; j++) {
		k = order[j]
		if (k == "setup") {
			printf "%-16s %12.3f %12.3f\n", k, mc[k], mw[k]
			continue
		}
		printf "%-16s %12.3f %12.3f %14.0f %14.0f %8.2f\n", k, mc[k], mw[k], mc[k] * 1e9 / frames, frames / mw[k], mu[k]
	}
}'
