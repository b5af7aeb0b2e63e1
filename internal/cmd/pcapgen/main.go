// Command pcapgen writes a capture of generated frames (package
// internal/pcapgen) for throughput measurements:
//
//	go run ./internal/cmd/pcapgen -n 100000 -o /tmp/mixed.pcap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/bpfscope/bpfscope/internal/pcapgen"
)

func main() {
	n := flag.Int("n", 100000, "number of `frames`")
	out := flag.String("o", "mixed.pcap", "output `FILE`; pcapng if it ends in .pcapng")
	seed := flag.Uint64("seed", 1, "random `seed`; the same seed gives the same capture")
	flag.Parse()
	if err := write(*out, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(1)
	}
}

func write(path string, n int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if strings.HasSuffix(path, ".pcapng") {
		err = pcapgen.WritePcapng(w, n, seed)
	} else {
		err = pcapgen.WritePcap(w, n, seed)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
