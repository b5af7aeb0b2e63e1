package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"runtime"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/examples"
	"github.com/bpfscope/bpfscope/internal/watchdog"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// readPackets reads every packet of a pcap or pcapng image, as run --pcap
// does, and returns how many it read and the error that ended it.
func readPackets(b []byte) (int, error) {
	c, err := openCapture(io.NopCloser(bytes.NewReader(b)), "fuzz")
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		if _, err := c.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// captureSeeds are the bundled capture as pcap and as pcapng.
func captureSeeds(t testing.TB) [][]byte {
	pcap, err := fs.ReadFile(examples.Progs, examples.SamplePcap)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return [][]byte{pcap, ng.Bytes()}
}

// FuzzCapture feeds mutated pcap and pcapng files to the capture reader of
// run --pcap: it must return packets or an error, in time and memory
// linear in the input: the watchdog allows 16 MiB (the process's other
// goroutines allocate too) plus 64 bytes per input byte, and 2 s.
func FuzzCapture(f *testing.F) {
	for _, s := range captureSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		watchdog.Run(t, watchdog.Limits{Wall: 2 * time.Second, Alloc: 16<<20 + 64*uint64(len(b))}, func() {
			readPackets(b)
		})
	})
}

// TestHostileCapture: captures whose headers claim gigabytes (a snap
// length and a packet of 4 GiB, a pcapng block of 4 GiB) in a few dozen
// bytes are refused without allocating what they claim.
func TestHostileCapture(t *testing.T) {
	le := binary.LittleEndian
	pcap := le.AppendUint32(nil, 0xa1b2c3d4)
	pcap = le.AppendUint16(pcap, 2)
	pcap = le.AppendUint16(pcap, 4)
	pcap = le.AppendUint32(pcap, 0)
	pcap = le.AppendUint32(pcap, 0)
	pcap = le.AppendUint32(pcap, 0xffffffff) // snaplen
	pcap = le.AppendUint32(pcap, 1)
	pcap = le.AppendUint32(pcap, 0) // a packet of 4 GiB - 1
	pcap = le.AppendUint32(pcap, 0)
	pcap = le.AppendUint32(pcap, 0xffffffff)
	pcap = le.AppendUint32(pcap, 0xffffffff)
	pcap = append(pcap, make([]byte, 64)...)

	ng := captureSeeds(t)[1]
	ng = bytes.Clone(ng[:le.Uint32(ng[4:])]) // the section header block alone
	ng = le.AppendUint32(ng, 6)              // an enhanced packet block
	ng = le.AppendUint32(ng, 0xfffffff0)     // of 4 GiB
	ng = append(ng, make([]byte, 64)...)

	for name, b := range map[string][]byte{"pcap": pcap, "pcapng": ng} {
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		n, err := readPackets(b)
		runtime.ReadMemStats(&ms1)
		if err == nil || n != 0 {
			t.Errorf("%s: %d packets, error %v; want an error", name, n, err)
		}
		if got := ms1.TotalAlloc - ms0.TotalAlloc; got > 16<<20 {
			t.Errorf("%s: a %d-byte file made the reader allocate %d bytes", name, len(b), got)
		}
		t.Logf("%s: %v", name, err)
	}
}
