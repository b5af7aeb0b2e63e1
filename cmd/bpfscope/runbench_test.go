package main

import (
	"bufio"
	"bytes"
	"context"
	"github.com/bpfscope/bpfscope/helpers"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/pcapgen"
)

// benchFrames is the length of the capture the run benchmarks go over:
// long enough that loading the program (about 1 ms) is a small part of a
// command.
const benchFrames = 100000

// benchCapture writes benchFrames frames of pcapgen's mix (64 to 1514
// bytes, plus runts and oversized frames) to a file in dir.
func benchCapture(b *testing.B, dir, name string) string {
	b.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if strings.HasSuffix(name, ".pcapng") {
		err = pcapgen.WritePcapng(w, benchFrames, 1)
	} else {
		err = pcapgen.WritePcap(w, benchFrames, 1)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// benchCommand runs 'bpfscope ARGS' b.N times and reports per packet of
// the capture: CPU nanoseconds (user and system time, which a busy
// machine's waiting does not inflate), packets per CPU second and
// allocations. Loading the program and the first packets are part of
// every command, spread over benchFrames packets.
func benchCommand(b *testing.B, args ...string) {
	benchCommands(b, 1, args...)
}

// benchCommands is benchCommand with n commands run at once, each over
// the whole capture: the packets are n times the capture's.
func benchCommands(b *testing.B, n int, args ...string) {
	e := &env{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader("")}
	if code := run(args, e); code != 0 {
		b.Fatalf("bpfscope %s: exit status %d", strings.Join(args, " "), code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	mallocs := mallocCount()
	start := cpuTime()
	for range b.N {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { run(args, e) })
		}
		wg.Wait()
	}
	el := cpuTime() - start
	pkts := float64(b.N) * benchFrames * float64(n)
	b.ReportMetric(float64(mallocCount()-mallocs)/pkts, "allocs/packet")
	b.ReportMetric(float64(el.Nanoseconds())/pkts, "cpu-ns/packet")
	b.ReportMetric(pkts/el.Seconds(), "packets/cpu-s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pkts, "ns/packet")
}

// mallocCount is the number of heap allocations so far.
func mallocCount() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// cpuTime is the process's user and system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRunPcap is 'bpfscope run -q --pcap' of the bundled firewall,
// untraced, over a pcap and a pcapng capture, on one worker; over the
// pcap also with --pcap-out, and on two workers (whose wall time per
// packet, ns/packet, is the figure to compare with one worker's). jobs1x2
// is two one-worker commands at once, each over the whole capture: its
// wall time per packet is the best two workers can do on this machine,
// with nothing shared between them.
func BenchmarkRunPcap(b *testing.B) {
	dir := b.TempDir()
	for _, name := range []string{"mixed.pcap", "mixed.pcapng"} {
		path := benchCapture(b, dir, name)
		b.Run(strings.TrimPrefix(name, "mixed."), func(b *testing.B) {
			benchCommand(b, "run", "-q", "--jobs", "1", "--pcap", path)
		})
		if name != "mixed.pcap" {
			continue
		}
		b.Run("pcap-out", func(b *testing.B) {
			benchCommand(b, "run", "-q", "--jobs", "1", "--pcap", path, "--pcap-out", filepath.Join(dir, "out.pcap"))
		})
		b.Run("jobs2", func(b *testing.B) {
			benchCommand(b, "run", "-q", "--jobs", "2", "--pcap", path)
		})
		b.Run("jobs1x2", func(b *testing.B) {
			benchCommands(b, 2, "run", "-q", "--jobs", "1", "--pcap", path)
		})
	}
}

// BenchmarkRunLoop is the packet loop of 'bpfscope run -q' alone, the
// bundled firewall loaded once, over an in-memory capture: what each
// packet costs once the command is under way. Stages: read only reads
// the capture; run also runs the program (context, run, outputs); all
// also counts verdicts as -q does.
func BenchmarkRunLoop(b *testing.B) {
	var buf bytes.Buffer
	if err := pcapgen.WritePcap(&buf, benchFrames, 1); err != nil {
		b.Fatal(err)
	}
	capBytes := buf.Bytes()
	var in inputFlags
	p, err := in.load(nil)
	if err != nil {
		b.Fatal(err)
	}
	coll, err := p.collection()
	if err != nil {
		b.Fatal(err)
	}
	inst, err := p.instantiate(coll, helpers.NewDefaultEnv())
	if err != nil {
		b.Fatal(err)
	}
	open := func() sharedSource {
		c, err := openCapture(io.NopCloser(bytes.NewReader(capBytes)), "bench")
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	runCtx := context.Background()
	var insns uint64
	stages := []struct {
		name string
		loop func(src sharedSource)
	}{
		{"read", func(src sharedSource) {
			for _, err := src.NextShared(); err == nil; _, err = src.NextShared() {
			}
		}},
		{"run", func(src sharedSource) {
			var r result
			for pk, err := src.NextShared(); err == nil; pk, err = src.NextShared() {
				inst.executeShared(runCtx, p.typ, pk, nil, 0, outSizes{}, true, &r)
				insns += r.Insns
			}
		}},
		{"all", func(src sharedSource) {
			out := &runOutput{w: io.Discard, typ: p.typ, quiet: true}
			if _, err := runSerial(runCtx, inst, p.typ, src, nil, 0, outSizes{}, out, nil); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, st := range stages {
		b.Run(st.name, func(b *testing.B) {
			st.loop(open()) // warm up
			b.ReportAllocs()
			b.ResetTimer()
			srcs := make([]sharedSource, b.N)
			for i := range srcs {
				srcs[i] = open()
			}
			insns = 0
			mallocs := mallocCount()
			start := cpuTime()
			for _, src := range srcs {
				st.loop(src)
			}
			el := cpuTime() - start
			pkts := float64(b.N) * benchFrames
			b.ReportMetric(float64(mallocCount()-mallocs)/pkts, "allocs/packet")
			b.ReportMetric(float64(el.Nanoseconds())/pkts, "cpu-ns/packet")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pkts, "ns/packet")
			b.ReportMetric(pkts/b.Elapsed().Seconds(), "packets/s")
			if insns > 0 {
				b.ReportMetric(float64(insns)/pkts, "insns/packet")
			}
		})
	}
}
