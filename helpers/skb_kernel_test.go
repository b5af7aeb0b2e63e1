package helpers_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
)

// call is one helper call: r2..r5 are immediates, except that buf (when
// set) passes fp-16, an 8-byte stack buffer preset to 0x0102030405060708.
type call struct {
	fn   asm.BuiltinFunc
	args [4]int64
	buf  int // argument index (2..5) that gets the stack buffer, 0: none
}

const slots = 16

// skbProgram calls each helper in turn and stores r0 in slot i and the
// stack buffer in slot 15.
func skbProgram(calls []call, fd int) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadImm(asm.R1, 0x0102030405060708, asm.DWord),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
	}
	for i, c := range calls {
		insns = append(insns, asm.Mov.Reg(asm.R1, asm.R6))
		for j, v := range c.args {
			r := asm.R2 + asm.Register(j)
			if c.buf == j+2 {
				insns = append(insns, asm.Mov.Reg(r, asm.RFP), asm.Add.Imm(r, -16))
			} else {
				insns = append(insns, asm.LoadImm(r, v, asm.DWord))
			}
		}
		insns = append(insns, c.fn.Call(),
			asm.LoadMapValue(asm.R7, fd, 0),
			asm.StoreMem(asm.R7, int16(8*i), asm.R0, asm.DWord))
	}
	return append(insns,
		asm.LoadMapValue(asm.R7, fd, 0),
		asm.LoadMem(asm.R0, asm.RFP, -16, asm.DWord),
		asm.StoreMem(asm.R7, 8*(slots-1), asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R6, 0, asm.Word), // len
		asm.StoreMem(asm.R7, 8*(slots-2), asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R6, 16, asm.Word), // protocol
		asm.StoreMem(asm.R7, 8*(slots-3), asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return())
}

type outcome struct {
	vals [slots]uint64
	data []byte
}

func kernelSkb(t *testing.T, typ ebpf.ProgramType, calls []call, frame []byte) (outcome, bool) {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8 * slots, MaxEntries: 1})
	if err != nil {
		t.Skipf("bpf() unavailable: %v", err)
	}
	defer m.Close()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: typ, Instructions: skbProgram(calls, m.FD()), License: "GPL"})
	if err != nil {
		t.Logf("kernel rejects: %v", err)
		return outcome{}, false
	}
	defer p.Close()
	out := make([]byte, len(frame)+4096)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	if _, err := p.Run(opts); err != nil {
		t.Fatal(err)
	}
	var o outcome
	v := make([]byte, 8*slots)
	if err := m.Lookup(uint32(0), v); err != nil {
		t.Fatal(err)
	}
	for i := range o.vals {
		o.vals[i] = binary.LittleEndian.Uint64(v[8*i:])
	}
	o.data = opts.DataOut
	return o, true
}

func scopeSkb(t *testing.T, typ ebpf.ProgramType, calls []call, frame []byte) outcome {
	t.Helper()
	var code bytes.Buffer
	if err := skbProgram(calls, 0).Marshal(&code, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	p, err := vm.Load("skb", code.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	mp, err := maps.New(&maps.Spec{Name: "out", Type: maps.Array, KeySize: 4, ValueSize: 8 * slots, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p, vm.Config{Helpers: helpers.New(nil), Maps: []vm.Map{mp}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ctx.NewSKB(m, typ, frame, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(context.Background(), k.Arg()); err != nil {
		t.Fatal(err)
	}
	var o outcome
	v := make([]byte, 8*slots)
	if err := mp.Get([]byte{0, 0, 0, 0}, v); err != nil {
		t.Fatal(err)
	}
	for i := range o.vals {
		o.vals[i] = binary.LittleEndian.Uint64(v[8*i:])
	}
	o.data = k.Output().Data
	return o
}

func udp4() []byte {
	f := make([]byte, 60)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0x66, 0xbc, 10, 0, 0, 1, 10, 0, 0, 2,
		0x04, 0xd2, 0, 80, 0, 26, 0x12, 0x34})
	copy(f[42:], "hello, bpfscope!")
	return f
}

func vlanFrame() []byte {
	f := udp4()
	return append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0x00, 0x2a), f[12:]...)
}

// TestSkbHelpersKernel runs the skb helpers in BPF_PROG_TEST_RUN and in
// bpfscope and compares their return values, the packet and len/protocol.
func TestSkbHelpersKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bpf() unavailable: not root")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skip(err)
	}
	be16 := func(v uint16) int64 { return int64(v>>8 | v<<8) }
	cases := []struct {
		name  string
		typ   ebpf.ProgramType
		frame []byte
		calls []call
	}{
		{"load_bytes", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbLoadBytes, args: [4]int64{10, 0, 8}, buf: 3},
			{fn: asm.FnSkbLoadBytes, args: [4]int64{55, 0, 8}, buf: 3},
			{fn: asm.FnSkbLoadBytes, args: [4]int64{52, 0, 8}, buf: 3},
		}},
		{"load_bytes_relative", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbLoadBytesRelative, args: [4]int64{2, 0, 8, 1}, buf: 3},
			{fn: asm.FnSkbLoadBytesRelative, args: [4]int64{0, 0, 4, 0}, buf: 3},
			{fn: asm.FnSkbLoadBytesRelative, args: [4]int64{44, 0, 4, 1}, buf: 3},
			{fn: asm.FnSkbLoadBytesRelative, args: [4]int64{0, 0, 4, 2}, buf: 3},
		}},
		{"load_bytes_relative/l3", ebpf.CGroupSKB, udp4(), []call{
			{fn: asm.FnSkbLoadBytesRelative, args: [4]int64{0, 0, 8, 0}, buf: 3},
			{fn: asm.FnSkbLoadBytesRelative, args: [4]int64{12, 0, 8, 1}, buf: 3},
			{fn: asm.FnSkbLoadBytes, args: [4]int64{0, 0, 8}, buf: 3},
		}},
		{"store_bytes", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbStoreBytes, args: [4]int64{42, 0, 8, 0}, buf: 3},
			{fn: asm.FnSkbStoreBytes, args: [4]int64{56, 0, 8, 0}, buf: 3},
			{fn: asm.FnSkbStoreBytes, args: [4]int64{0, 0, 4, 3}, buf: 3},
			{fn: asm.FnSkbStoreBytes, args: [4]int64{0, 0, 4, 4}, buf: 3},
		}},
		{"l3_csum_replace", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnL3CsumReplace, args: [4]int64{24, 0x0100000a, 0x0200000a, 4}},
			{fn: asm.FnL3CsumReplace, args: [4]int64{24, be16(64 << 8), be16(63 << 8), 2}},
			{fn: asm.FnL3CsumReplace, args: [4]int64{24, 0, 0x1234, 0}},
			{fn: asm.FnL3CsumReplace, args: [4]int64{24, 1, 0x1234, 0}},
			{fn: asm.FnL3CsumReplace, args: [4]int64{25, 0, 0, 4}},
			{fn: asm.FnL3CsumReplace, args: [4]int64{24, 0, 0, 3}},
			{fn: asm.FnL3CsumReplace, args: [4]int64{24, 0, 0, 0x10}},
			{fn: asm.FnL3CsumReplace, args: [4]int64{60, 0, 0, 4}},
		}},
		{"l4_csum_replace", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnL4CsumReplace, args: [4]int64{40, 0x0100000a, 0x0200000a, 4 | 0x10}},
			{fn: asm.FnL4CsumReplace, args: [4]int64{40, be16(1234), be16(4321), 2}},
			{fn: asm.FnL4CsumReplace, args: [4]int64{40, 0, 0x77, 0x20}},
			{fn: asm.FnL4CsumReplace, args: [4]int64{40, 0, 0, 0x100}},
			{fn: asm.FnL4CsumReplace, args: [4]int64{41, 0, 0, 4}},
		}},
		{"l4_csum_mangled", ebpf.SchedCLS, func() []byte { f := udp4(); f[40], f[41] = 0, 0; return f }(), []call{
			{fn: asm.FnL4CsumReplace, args: [4]int64{40, 0, 5, 0x20 | 4}},
			{fn: asm.FnL4CsumReplace, args: [4]int64{40, 0, 0xffff, 0x20 | 0x40 | 2}},
			{fn: asm.FnL4CsumReplace, args: [4]int64{40, 0, 0xfffe, 0x20 | 0x40 | 2}},
		}},
		{"csum_update", ebpf.SchedCLS, udp4(), []call{{fn: asm.FnCsumUpdate, args: [4]int64{5}}}},
		{"change_tail", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbChangeTail, args: [4]int64{70, 0}},
			{fn: asm.FnSkbChangeTail, args: [4]int64{40, 0}},
			{fn: asm.FnSkbChangeTail, args: [4]int64{13, 0}},
			{fn: asm.FnSkbChangeTail, args: [4]int64{14, 1}},
			{fn: asm.FnSkbChangeTail, args: [4]int64{70000, 0}},
		}},
		{"change_tail/l3", ebpf.LWTXmit, udp4(), []call{
			{fn: asm.FnSkbChangeTail, args: [4]int64{0, 0}},
		}},
		{"change_head", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbChangeHead, args: [4]int64{14, 0}},
			{fn: asm.FnSkbChangeHead, args: [4]int64{100, 0}},
			{fn: asm.FnSkbChangeHead, args: [4]int64{1, 1}},
			{fn: asm.FnSkbChangeHead, args: [4]int64{-1, 0}},
		}},
		{"change_head/lwt", ebpf.LWTXmit, udp4(), []call{{fn: asm.FnSkbChangeHead, args: [4]int64{14, 0}}}},
		{"adjust_room", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{8, 0, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{-8, 0, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{4, 1, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{-4, 1, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{4, 2, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{0x1000, 0, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{-30, 0, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{-26, 0, 0}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{20, 1, 1 << 1}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{20, 1, 1<<1 | 1<<2}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{20, 1, 1 << 9}},
		}},
		{"adjust_room/decap", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{8, 0, 1 << 7}},
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{-8, 1, 1 << 8}},
		}},
		{"adjust_room/arp", ebpf.SchedCLS, func() []byte { f := udp4(); f[13] = 6; return f }(), []call{
			{fn: asm.FnSkbAdjustRoom, args: [4]int64{8, 0, 0}},
		}},
		{"change_proto", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbChangeProto, args: [4]int64{be16(0x86dd), 0}},
			{fn: asm.FnSkbChangeProto, args: [4]int64{be16(0x86dd), 0}},
			{fn: asm.FnSkbChangeProto, args: [4]int64{be16(0x0800), 1}},
			{fn: asm.FnSkbChangeProto, args: [4]int64{be16(0x0800), 0}},
			{fn: asm.FnSkbChangeProto, args: [4]int64{be16(0x0806), 0}},
		}},
		{"change_type", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbChangeType, args: [4]int64{0}},
			{fn: asm.FnSkbChangeType, args: [4]int64{4}},
			{fn: asm.FnSkbChangeType, args: [4]int64{2}},
		}},
		{"pull_data", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbPullData, args: [4]int64{0}},
			{fn: asm.FnSkbPullData, args: [4]int64{60}},
			{fn: asm.FnSkbPullData, args: [4]int64{61}},
		}},
		{"hash", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSetHash, args: [4]int64{0x1234}},
			{fn: asm.FnGetHashRecalc},
			{fn: asm.FnSetHashInvalid},
		}},
		{"cgroup_classid", ebpf.SchedCLS, udp4(), []call{{fn: asm.FnGetCgroupClassid}}},
		{"vlan", ebpf.SchedCLS, udp4(), []call{
			{fn: asm.FnSkbVlanPush, args: [4]int64{be16(0x8100), 7}},
			{fn: asm.FnSkbVlanPush, args: [4]int64{be16(0x88a8), 9}},
			{fn: asm.FnSkbVlanPop},
			{fn: asm.FnSkbVlanPush, args: [4]int64{be16(0x1234), 5}},
		}},
		{"vlan_pop", ebpf.SchedCLS, vlanFrame(), []call{
			{fn: asm.FnSkbVlanPop},
			{fn: asm.FnSkbVlanPop},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, ok := kernelSkb(t, c.typ, c.calls, c.frame)
			if !ok {
				t.Fatal("kernel rejects the program")
			}
			got := scopeSkb(t, c.typ, c.calls, c.frame)
			t.Logf("kernel %x len=%d", want.vals[:len(c.calls)], len(want.data))
			if want.vals != got.vals {
				t.Errorf("results\nkernel   %x\nbpfscope %x", want.vals, got.vals)
			}
			if !bytes.Equal(want.data, got.data) {
				t.Errorf("data_out\nkernel   %x\nbpfscope %x", want.data, got.data)
			}
		})
	}
}
