#!/bin/sh
# benchmin.sh PKG REGEX [COUNT] [BENCHTIME]
#
# Runs the benchmarks of PKG matching REGEX COUNT times for a short
# BENCHTIME each and prints, per benchmark, the smallest and the median
# ns/insn. Short runs and the minimum filter out the bursts in which a
# shared virtual machine's CPU is throttled; the median shows how noisy
# the machine was. Example: scripts/benchmin.sh ./vm BenchmarkInterpreter
set -e
pkg=${1:?package}; re=${2:?benchmark regex}; count=${3:-20}; bt=${4:-20ms}
go test -run XXX -bench "$re" -benchmem -count "$count" -benchtime "$bt" "$pkg" |
awk '/ns\/insn/ {
	for (i = 1; i < NF; i++) if ($(i+1) == "ns/insn") v = $i
	n = $1; vals[n] = vals[n] " " v
	for (i = 1; i < NF; i++) if ($(i+1) == "allocs/op") a[n] = $i
}
END {
	for (n in vals) {
		k = split(vals[n], x, " ")
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
		printf "%-45s min %7.2f  median %7.2f ns/insn  %s allocs/run  (%d runs)\n", n, x[1], x[int((k + 1) / 2)], a[n], k
	}
}' | sort
