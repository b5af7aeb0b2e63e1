package ctx_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

var sizes = map[int]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word, 8: asm.DWord}

// skbCtxIn sets every field a test run accepts.
func skbCtxIn() []byte {
	b := make([]byte, 192)
	binary.LittleEndian.PutUint32(b[8:], 7)  // mark
	binary.LittleEndian.PutUint32(b[32:], 3) // priority
	binary.LittleEndian.PutUint32(b[36:], 4) // ingress_ifindex
	binary.LittleEndian.PutUint32(b[40:], 1) // ifindex
	for i := range 20 {                      // cb
		b[48+i] = byte(i + 1)
	}
	binary.LittleEndian.PutUint64(b[152:], 0x1000) // tstamp
	binary.LittleEndian.PutUint32(b[164:], 2)      // gso_segs
	binary.LittleEndian.PutUint32(b[176:], 1400)   // gso_size
	binary.LittleEndian.PutUint64(b[184:], 5)      // hwtstamp
	return b
}

func loadField(off int16, size asm.Size) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R0, asm.R6, off, size),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return(),
	}
}

func storeField(off int16, size asm.Size, v int64, readback *asm.Instruction) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadImm(asm.R2, v, asm.DWord),
		asm.StoreMem(asm.R6, off, asm.R2, size),
	}
	if readback != nil {
		insns = append(insns, *readback, asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord))
	}
	return append(insns, asm.Mov.Imm(asm.R0, 1), asm.Return())
}

// isPointerField reports whether the loaded value is an address, which
// differs between the kernel and bpfscope.
func isPointerField(off int) bool {
	return off >= 76 && off < 84 || off >= 140 && off < 152 || off >= 168 && off < 176
}

// TestSkbFieldMatrixKernel checks every (offset, size) load and store of
// __sk_buff for every skb program type: bpfscope must refuse exactly the
// accesses the verifier rejects and read the same values.
func TestSkbFieldMatrixKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("loads about 5000 programs")
	}
	needKernel(t)
	frames := map[string][]byte{"udp4": udpFrame(), "tcp6": tcp6Frame()}
	var fails []string
	fail := func(f string, a ...any) {
		fails = append(fails, fmt.Sprintf(f, a...))
	}
	for _, typ := range skbTypes {
		for _, size := range []int{1, 2, 4, 8} {
			for off := 0; off < 192; off += size {
				// Loads.
				insns := loadField(int16(off), sizes[size])
				p, m, kerr := kernelProg(t, typ, insns, 0)
				if kerr != nil {
					got := scope(t, typ, insns, udpFrame(), nil, nil)
					if !errors.Is(got.Err, vm.ErrContextAccess) {
						fail("%s load off=%d size=%d: kernel rejects, bpfscope: %v", typ, off, size, got.Err)
					}
				} else {
					for name, frame := range frames {
						for _, in := range [][]byte{nil, skbCtxIn()} {
							want := kernelRun(t, p, m, frame, in, 192)
							got := scope(t, typ, insns, frame, in, nil)
							if want.Err != nil || got.Err != nil {
								fail("%s load off=%d size=%d %s ctx=%v: kernel %v, bpfscope %v", typ, off, size, name, in != nil, want.Err, got.Err)
								continue
							}
							if isPointerField(off) {
								if (want.Vals[0] == 0) != (got.Vals[0] == 0) {
									fail("%s load off=%d size=%d %s: pointer nil-ness differs", typ, off, size, name)
								}
							} else if want.Vals[0] != got.Vals[0] {
								fail("%s load off=%d size=%d %s ctx=%v: kernel %#x, bpfscope %#x", typ, off, size, name, in != nil, want.Vals[0], got.Vals[0])
							}
						}
					}
					p.Close()
					m.Close()
				}

				// Stores.
				insns = storeField(int16(off), sizes[size], -0x5e4d3c2b1a0f0e01, nil)
				p, m, kerr = kernelProg(t, typ, insns, 0)
				if kerr != nil {
					got := scope(t, typ, insns, udpFrame(), nil, nil)
					if !errors.Is(got.Err, vm.ErrContextAccess) {
						fail("%s store off=%d size=%d: kernel rejects, bpfscope: %v", typ, off, size, got.Err)
					}
					continue
				}
				p.Close()
				m.Close()
				for _, v := range []int64{5, -0x5e4d3c2b1a0f0e01} {
					start, rsize := off&^3, asm.Word
					if off >= 152 && off < 160 {
						start, rsize = 152, asm.DWord
					}
					rb := asm.LoadMem(asm.R0, asm.R6, int16(start), rsize)
					insns = storeField(int16(off), sizes[size], v, &rb)
					want := kernel(t, typ, insns, udpFrame(), skbCtxIn(), 192)
					if want.Err != nil {
						continue // the field is write-only for this type
					}
					got := scope(t, typ, insns, udpFrame(), skbCtxIn(), nil)
					switch {
					case got.Err != nil:
						fail("%s store off=%d size=%d: bpfscope %v", typ, off, size, got.Err)
					case want.Vals[0] != got.Vals[0]:
						fail("%s store off=%d size=%d v=%#x: read back kernel %#x, bpfscope %#x", typ, off, size, v, want.Vals[0], got.Vals[0])
					case !bytes.Equal(want.Out.Ctx, got.Out.Ctx):
						fail("%s store off=%d size=%d: ctx_out kernel %x, bpfscope %x", typ, off, size, want.Out.Ctx, got.Out.Ctx)
					}
				}
			}
		}
	}
	for i, f := range fails {
		if i == 60 {
			t.Errorf("... and %d more", len(fails)-i)
			break
		}
		t.Error(f)
	}
}

// TestSkbRunKernel compares retval, data_out and ctx_out of plain runs,
// and the packet geometry each type sees.
func TestSkbRunKernel(t *testing.T) {
	needKernel(t)
	geometry := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R0, asm.R6, 0, asm.Word), // len
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return(),
	}
	pktInsns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R2, asm.R6, 76, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R6, 80, asm.Word), // data_end
		asm.Mov.Reg(asm.R0, asm.R3),
		asm.Sub.Reg(asm.R0, asm.R2),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 1),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
		asm.LoadMem(asm.R0, asm.R2, 0, asm.Byte),
		asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("out"),
		asm.Return(),
	}
	short := func(n int, f []byte) []byte { return append([]byte(nil), f[:n]...) }
	arp := udpFrame()
	arp[12], arp[13] = 0x08, 0x06
	inputs := map[string][]byte{
		"udp4": udpFrame(), "tcp6": tcp6Frame(), "arp": arp,
		"ip4-33": short(33, udpFrame()), "ip4-34": short(34, udpFrame()),
		"ip6-53": short(53, tcp6Frame()), "ip6-54": short(54, tcp6Frame()),
		"eth-14": short(14, arp), "zero-dst": append(make([]byte, 12), udpFrame()[12:]...),
		"802.2": append(append(make([]byte, 12), 0, 50), make([]byte, 50)...),
		"802.3": append(append(make([]byte, 12), 0, 50, 0xff, 0xff), make([]byte, 50)...),
	}
	ctxs := map[string][]byte{"none": nil, "full": skbCtxIn(), "bad-len": func() []byte {
		b := skbCtxIn()
		b[0] = 1
		return b
	}(), "wire_len-short": func() []byte {
		b := skbCtxIn()
		b[160] = 10
		return b
	}(), "long-zero": append(skbCtxIn(), 0, 0, 0, 0), "long-nonzero": append(skbCtxIn(), 0, 1)}
	for _, typ := range skbTypes {
		for pname, insns := range map[string]asm.Instructions{"len": geometry, "pkt": pktInsns} {
			p, m, err := kernelProg(t, typ, insns, 0)
			if err != nil {
				if _, err2 := vmCheck(t, typ, insns); err2 == nil {
					t.Logf("%s %s: kernel rejects (%v)", typ, pname, err)
				}
				continue
			}
			for iname, data := range inputs {
				for cname, c := range ctxs {
					want := kernelRun(t, p, m, data, c, 192)
					got := scope(t, typ, insns, data, c, nil)
					id := fmt.Sprintf("%s/%s/%s/%s", typ, pname, iname, cname)
					if (want.Err != nil) != (got.Err != nil) {
						t.Errorf("%s: kernel err %v, bpfscope err %v", id, want.Err, got.Err)
						continue
					}
					if want.Err != nil {
						continue
					}
					if want.R0 != got.R0 || want.Vals != got.Vals {
						t.Errorf("%s: kernel r0=%d vals=%v, bpfscope r0=%d vals=%v", id, want.R0, want.Vals[:2], got.R0, got.Vals[:2])
					}
					if !bytes.Equal(want.Out.Data, got.Out.Data) {
						t.Errorf("%s: data_out\nkernel   %x\nbpfscope %x", id, want.Out.Data, got.Out.Data)
					}
					if !bytes.Equal(want.Out.Ctx, got.Out.Ctx) {
						t.Errorf("%s: ctx_out\nkernel   %x\nbpfscope %x", id, want.Out.Ctx, got.Out.Ctx)
					}
				}
			}
			p.Close()
			m.Close()
		}
	}
}

func vmCheck(t testing.TB, typ ebpf.ProgramType, insns asm.Instructions) (result, error) {
	r := scope(t, typ, insns, udpFrame(), nil, nil)
	return r, r.Err
}
