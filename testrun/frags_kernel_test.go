package testrun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestKernelXDPFrags runs examples/progs/xdp_frags.o, frags-aware and not,
// in bpfscope and in the kernel on multi-buffer frames (the linear part
// and 1 to 17 fragments, jumbo frames of 4-9 KB and the largest the kernel
// takes), with commands that make its helpers cross the boundaries between
// linear part and fragments: loads and stores straddling them, tails grown
// to the last byte of the last fragment's page and one past it, shrunk by
// a whole fragment, into the linear part and to one byte short of an
// Ethernet header, heads and metadata moved to their limits.
func TestKernelXDPFrags(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	obj := examples + "/xdp_frags.o"
	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		t.Fatal(err)
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	type layout struct {
		size          int
		meta, dataEnd uint32 // ctx_in; dataEnd 0: none
	}
	layouts := []layout{
		{size: 60}, {size: bpfctx.XDPMaxData}, {size: bpfctx.XDPMaxData + 1}, {size: 4901},
		{size: 8000}, {size: 9018}, {size: bpfctx.XDPMaxFrame},
		{size: 4901, dataEnd: 100}, {size: 9018, meta: 8, dataEnd: bpfctx.XDPMaxData + 8},
		{size: 9018, meta: 32, dataEnd: 64}, {size: 4901, meta: 216, dataEnd: 4901},
		{size: bpfctx.XDPMaxFrame + 32, meta: 32, dataEnd: bpfctx.XDPMaxFrame + 32}, // the largest with metadata
		{size: bpfctx.XDPMaxFrame + 1}, {size: 14}, {size: 4901, dataEnd: 14},       // refused (ENOMEM); the shortest
	}
	for _, prog := range []string{"xdp_frags", "xdp_frags_unaware"} {
		t.Run(prog, func(t *testing.T) {
			d := &differ{t: t, obj: obj, prog: prog, spec: spec, cpus: cpus, fib: &kernelFib{t: t}}
			rng := rand.New(rand.NewPCG(*diffSeed, 7))
			i := 0
			for _, l := range layouts {
				for range 24 {
					in := kernel.Input{Data: fragsFrame(rng, l.size, l.meta, l.dataEnd)}
					if l.dataEnd != 0 {
						in.Ctx = kernel.Marshal(kernel.XDPMd{Data: l.meta, DataEnd: l.dataEnd})
					}
					if !d.compare(i, in) {
						return
					}
					i++
				}
			}
		})
	}
}

// fragsFrame is a UDP frame of size bytes whose last 16 bytes are a
// command for xdp_frags.c, its offsets and deltas picked around the
// boundaries of the layout test_run gives the frame.
func fragsFrame(rng *rand.Rand, size int, meta, dataEnd uint32) []byte {
	b := kernel.UDP4Frame(kernel.IPv4A, kernel.IPv4B, 1000, 53, nil)
	b = append(b, randBytes(rng, max(0, size-len(b)))...)[:size]
	if size < 16 {
		return b // no room for a command: the program aborts
	}
	total := size - int(meta) // bpf_xdp_get_buff_len
	linear := min(size, bpfctx.XDPMaxData+int(meta))
	if dataEnd != 0 {
		linear = min(int(dataEnd), linear)
	}
	linear -= int(meta)
	last := (total - linear) % bpfctx.XDPFragSize // the last fragment's size
	if last == 0 && total > linear {
		last = bpfctx.XDPFragSize
	}
	pick := func(vs ...int) int { return vs[rng.IntN(len(vs))] }
	offsets := func() int {
		return max(0, pick(0, 14, linear-32, linear-1, linear, linear+200, linear+bpfctx.XDPFragSize-40,
			linear+bpfctx.XDPFragSize+200, total-64, total-63, total-1, 65535-64, 65535, rng.IntN(total+1)))
	}
	var c [16]byte
	binary.LittleEndian.PutUint16(c[0:], uint16(offsets()))
	binary.LittleEndian.PutUint16(c[2:], uint16(offsets()))
	binary.LittleEndian.PutUint16(c[4:], uint16(int16(pick(1, 64, bpfctx.XDPFragSize-last, bpfctx.XDPFragSize-last+1,
		-1, -last, -last-1, -bpfctx.XDPFragSize-last, -(total-14), -(total-13), 0, 300))))
	binary.LittleEndian.PutUint16(c[6:], uint16(int16(pick(-16, 14, -(216-int(meta)), -(217-int(meta)), linear-14, linear-13, 0))))
	binary.LittleEndian.PutUint16(c[8:], uint16(int16(pick(-4, -8, -32, -36, -6, -216, -220, 4, 0))))
	binary.LittleEndian.PutUint16(c[10:], uint16(offsets()))
	c[12] = byte(rng.IntN(256))
	c[13] = byte(rng.IntN(256))               // the perf record's payload length
	c[14] = byte(rng.IntN(4))                 // check_mtu, dynptr slice
	at := int(meta) + min(total, 0xffff) - 16 // the helpers reach no further
	copy(b[at:], c[:])
	return b
}

// TestKernelXDPFragsDataOut checks data_out of a fragmented frame against
// the kernel when the buffer is too small: bpf_test_finish keeps every
// fragment and cuts the linear part, and copies nothing when the
// fragments alone do not fit.
func TestKernelXDPFragsDataOut(t *testing.T) {
	if err := kernel.Available(); err != nil {
		t.Skipf("bpf() unavailable, no kernel to compare with: %v", err)
	}
	pass := asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()} // XDP_PASS
	kp, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: pass})
	if err != nil {
		t.Fatal(err)
	}
	defer kp.Close()
	p, err := loader.Raw("pass", isa.Encode([]isa.Insn{{Op: 0xb7, Imm: 2}, {Op: 0x95}}), ebpf.XDP)
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p.Prog, vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 9018)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	// 3520 linear bytes, fragments of 4096 and 1402.
	for _, size := range []int{9017, 8000, 5498, 5497, 100, 1} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			out := make([]byte, size)
			_, kerr := kp.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
			res, err := Run(m, ebpf.XDP, Options{Data: frame, DataSizeOut: size})
			if !errors.Is(kerr, syscall.ENOSPC) || !errors.Is(err, ErrNoSpace) {
				t.Fatalf("errors: bpfscope %v, kernel %v", err, kerr)
			}
			got := make([]byte, size) // the kernel leaves what it does not copy
			copy(got, res.DataOut)
			if !bytes.Equal(got, out) {
				t.Errorf("data_out of %d bytes differs\n  got    %s\n  kernel %s", size, short(got), short(out))
			}
		})
	}
}
