package ctx_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// compareOps runs insns, which call helpers that change the packet or its
// context, in the kernel and in bpfscope (with the helpers of package
// helpers), and compares r0, the result slots, data_out and ctx_out.
func compareOps(t *testing.T, name string, typ ebpf.ProgramType, insns asm.Instructions, data, ctxIn []byte, ctxOutLen int) {
	t.Helper()
	p, m, err := kernelProg(t, typ, insns, 0)
	if err != nil {
		t.Fatalf("%s: kernel rejects: %v", name, err)
	}
	defer p.Close()
	defer m.Close()
	want := kernelRun(t, p, m, data, ctxIn, ctxOutLen)
	got := scope(t, typ, insns, data, ctxIn, helpers.New(helpers.NewDefaultEnv()))
	if (want.Err != nil) != (got.Err != nil) {
		t.Fatalf("%s: kernel err %v, bpfscope err %v", name, want.Err, got.Err)
	}
	if want.Err != nil {
		return
	}
	if want.R0 != got.R0 || want.Vals != got.Vals {
		t.Errorf("%s: kernel r0=%d %d, bpfscope r0=%d %d", name, want.R0, want.Vals, got.R0, got.Vals)
	}
	if !bytes.Equal(want.Out.Data, got.Out.Data) {
		t.Errorf("%s: data_out\nkernel   %x\nbpfscope %x", name, want.Out.Data, got.Out.Data)
	}
	if ctxOutLen > 0 && !bytes.Equal(want.Out.Ctx, got.Out.Ctx) {
		t.Errorf("%s: ctx_out\nkernel   %x\nbpfscope %x", name, want.Out.Ctx, got.Out.Ctx)
	}
}

// noGSO is skbCtxIn without gso_segs and gso_size: a plain skb.
func noGSO() []byte {
	b := skbCtxIn()
	clear(b[164:168])
	clear(b[176:180])
	return b
}

// callRecord calls fn with r1 = the context and r2..r5 as given, records
// its result in slot 0 and, for skb programs, skb->len in slot 1, and
// returns ret.
func callRecord(fn asm.BuiltinFunc, skb bool, ret int32, args ...int64) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1), asm.Mov.Reg(asm.R1, asm.R6)}
	for i, a := range args {
		insns = append(insns, asm.LoadImm(asm.R2+asm.Register(i), a, asm.DWord))
	}
	insns = append(insns, fn.Call(),
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord))
	if skb {
		insns = append(insns, asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), asm.StoreMem(asm.R7, 8, asm.R2, asm.DWord))
	}
	return append(insns, asm.Mov.Imm(asm.R0, ret), asm.Return())
}

// TestSkbOpsKernel compares the helpers that reshape an skb with the
// kernel: room at the network or MAC layer, a protocol change, VLAN tags,
// tail and head changes, stores into the packet.
func TestSkbOpsKernel(t *testing.T) {
	needKernel(t)
	const (
		adjRoomNet = 0
		adjRoomMac = 1
		ethP8021Q  = 0x0081 // htons(0x8100)
		ethPIPv6   = 0xdd86 // htons(0x86dd)
		ethPIPv4   = 0x0008
	)
	for _, tt := range []struct {
		name string
		fn   asm.BuiltinFunc
		args []int64
		data []byte
	}{
		{"adjust_room net +8", asm.FnSkbAdjustRoom, []int64{8, adjRoomNet, 0}, udpFrame()},
		{"adjust_room net -8", asm.FnSkbAdjustRoom, []int64{-8, adjRoomNet, 0}, udpFrame()},
		{"adjust_room mac +4", asm.FnSkbAdjustRoom, []int64{4, adjRoomMac, 0}, udpFrame()},
		{"adjust_room mac -4", asm.FnSkbAdjustRoom, []int64{-4, adjRoomMac, 0}, udpFrame()},
		{"adjust_room bad mode", asm.FnSkbAdjustRoom, []int64{8, 7, 0}, udpFrame()},
		{"adjust_room bad flags", asm.FnSkbAdjustRoom, []int64{8, adjRoomNet, 1 << 20}, udpFrame()},
		{"adjust_room ipv6 +16", asm.FnSkbAdjustRoom, []int64{16, adjRoomNet, 0}, tcp6Frame()},
		{"change_proto to ipv6", asm.FnSkbChangeProto, []int64{ethPIPv6, 0}, udpFrame()},
		{"change_proto to ipv4", asm.FnSkbChangeProto, []int64{ethPIPv4, 0}, tcp6Frame()},
		{"change_proto same", asm.FnSkbChangeProto, []int64{ethPIPv4, 0}, udpFrame()},
		{"change_proto flags", asm.FnSkbChangeProto, []int64{ethPIPv6, 1}, udpFrame()},
		{"vlan_push", asm.FnSkbVlanPush, []int64{ethP8021Q, 5}, udpFrame()},
		{"vlan_push bad proto", asm.FnSkbVlanPush, []int64{ethPIPv4, 5}, udpFrame()},
		{"vlan_pop untagged", asm.FnSkbVlanPop, nil, udpFrame()},
		{"vlan_pop tagged", asm.FnSkbVlanPop, nil, vlanFrame()},
		{"vlan_push on tagged", asm.FnSkbVlanPush, []int64{ethP8021Q, 9}, vlanFrame()},
		{"adjust_room tagged", asm.FnSkbAdjustRoom, []int64{8, adjRoomNet, 0}, vlanFrame()},
		{"change_tail longer", asm.FnSkbChangeTail, []int64{100, 0}, udpFrame()},
		{"change_tail shorter", asm.FnSkbChangeTail, []int64{40, 0}, udpFrame()},
		{"change_tail too short", asm.FnSkbChangeTail, []int64{10, 0}, udpFrame()},
		{"change_tail flags", asm.FnSkbChangeTail, []int64{100, 1}, udpFrame()},
		{"change_head", asm.FnSkbChangeHead, []int64{14, 0}, udpFrame()},
		{"change_head flags", asm.FnSkbChangeHead, []int64{14, 1}, udpFrame()},
		{"pull_data", asm.FnSkbPullData, []int64{30}, udpFrame()},
		{"pull_data past end", asm.FnSkbPullData, []int64{1000}, udpFrame()},
		{"change_type", asm.FnSkbChangeType, []int64{1}, udpFrame()},
		{"change_type bad", asm.FnSkbChangeType, []int64{9}, udpFrame()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// With gso_size set, as the kernel's skb then is GSO (not TCP:
			// test_run sets no gso_type), and without.
			compareOps(t, tt.name+" gso", ebpf.SchedCLS, callRecord(tt.fn, true, 0, tt.args...), tt.data, skbCtxIn(), 192)
			compareOps(t, tt.name, ebpf.SchedCLS, callRecord(tt.fn, true, 0, tt.args...), tt.data, noGSO(), 192)
		})
	}
	// A tag pushed, then popped: the frame comes back as it was.
	pushPop := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R2, ethP8021Q), asm.Mov.Imm(asm.R3, 7), asm.FnSkbVlanPush.Call(),
		asm.LoadMapValue(asm.R7, resultMap, 0), asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), asm.StoreMem(asm.R7, 8, asm.R2, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, 20, asm.Word), asm.StoreMem(asm.R7, 16, asm.R2, asm.DWord), // vlan_present
		asm.LoadMem(asm.R2, asm.R6, 24, asm.Word), asm.StoreMem(asm.R7, 24, asm.R2, asm.DWord), // vlan_tci
		asm.Mov.Reg(asm.R1, asm.R6), asm.FnSkbVlanPop.Call(),
		asm.LoadMapValue(asm.R7, resultMap, 0), asm.StoreMem(asm.R7, 32, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0), asm.Return(),
	}
	compareOps(t, "vlan push pop", ebpf.SchedCLS, pushPop, udpFrame(), skbCtxIn(), 192)
	// bpf_skb_store_bytes from the stack, with and without a recomputed hash.
	for _, flags := range []int64{0, 2 /* BPF_F_INVALIDATE_HASH */, 1 << 8 /* bad */} {
		store := asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.LoadImm(asm.R2, 0x1122334455667788, asm.DWord), asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R6), asm.Mov.Imm(asm.R2, 42),
			asm.Mov.Reg(asm.R3, asm.RFP), asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 8), asm.LoadImm(asm.R5, flags, asm.DWord),
			asm.FnSkbStoreBytes.Call(),
			asm.LoadMapValue(asm.R7, resultMap, 0), asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R0, 0), asm.Return(),
		}
		compareOps(t, "store_bytes", ebpf.SchedCLS, store, udpFrame(), skbCtxIn(), 192)
	}
}

// TestXDPOpsKernel compares the helpers that move an XDP frame's head,
// tail and metadata, and the loads and stores that follow them.
func TestXDPOpsKernel(t *testing.T) {
	needKernel(t)
	// Move fn by delta, then write 0xaa at the new data and read the
	// first metadata byte when there is one.
	moved := func(fn asm.BuiltinFunc, delta int64) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.LoadImm(asm.R2, delta, asm.DWord), fn.Call(),
			asm.LoadMapValue(asm.R7, resultMap, 0), asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
			asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // data
			asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // data_end
			asm.LoadMem(asm.R4, asm.R6, 8, asm.Word), // data_meta
			asm.Mov.Reg(asm.R5, asm.R2), asm.Add.Imm(asm.R5, 1),
			asm.JGT.Reg(asm.R5, asm.R3, "out"),
			asm.StoreImm(asm.R2, 0, 0xaa, asm.Byte),
			asm.Mov.Reg(asm.R5, asm.R4), asm.Add.Imm(asm.R5, 1),
			asm.JGT.Reg(asm.R5, asm.R2, "out"),
			asm.LoadMem(asm.R0, asm.R4, 0, asm.Byte), asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
			asm.StoreImm(asm.R4, 0, 0x5a, asm.Byte),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), asm.Return(),
		}
	}
	for _, tt := range []struct {
		name  string
		fn    asm.BuiltinFunc
		delta int64
	}{
		{"adjust_head -14", asm.FnXdpAdjustHead, -14},
		{"adjust_head +14", asm.FnXdpAdjustHead, 14},
		{"adjust_head too far", asm.FnXdpAdjustHead, 60},
		{"adjust_head past headroom", asm.FnXdpAdjustHead, -1000},
		{"adjust_tail -10", asm.FnXdpAdjustTail, -10},
		{"adjust_tail +20", asm.FnXdpAdjustTail, 20},
		{"adjust_tail too short", asm.FnXdpAdjustTail, -55},
		{"adjust_meta -8", asm.FnXdpAdjustMeta, -8},
		{"adjust_meta -3", asm.FnXdpAdjustMeta, -3},
		{"adjust_meta +4", asm.FnXdpAdjustMeta, 4},
		{"adjust_meta -256", asm.FnXdpAdjustMeta, -256},
	} {
		t.Run(tt.name, func(t *testing.T) {
			compareOps(t, tt.name, ebpf.XDP, moved(tt.fn, tt.delta), udpFrame(), nil, 0)
		})
	}
}

// readFields records the given (offset, size) fields of the structure r2
// points to in the result slots, in order.
func readFields(fields [][2]int) asm.Instructions {
	insns := asm.Instructions{asm.LoadMapValue(asm.R7, resultMap, 0)}
	for i, f := range fields {
		insns = append(insns,
			asm.LoadMem(asm.R3, asm.R2, int16(f[0]), sizes[f[1]]),
			asm.StoreMem(asm.R7, int16(8*i), asm.R3, asm.DWord))
	}
	return insns
}

// TestSockKernel reads __sk_buff.sk, the socket a test run attaches to
// its skb, as the kernel builds it from the packet's addresses.
func TestSockKernel(t *testing.T) {
	needKernel(t)
	for _, fields := range [][][2]int{
		{{0, 4}, {4, 4}, {24, 4}, {52, 4}, {44, 4}, {48, 4}, {72, 4}, {76, 4}},   // bound_dev_if family src_ip4 dst_ip4 src_port dst_port state rx_queue_mapping
		{{28, 4}, {32, 4}, {36, 4}, {40, 4}, {56, 4}, {60, 4}, {64, 4}, {68, 4}}, // src_ip6, dst_ip6
		{{4, 2}, {24, 1}, {25, 1}, {26, 2}, {48, 2}, {52, 2}, {72, 1}, {76, 2}},  // narrow loads
	} {
		insns := asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 168, asm.DWord), // skb->sk
			asm.JEq.Imm(asm.R2, 0, "out"),
		}
		insns = append(insns, readFields(fields)...)
		insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
		for _, frame := range [][]byte{udpFrame(), tcp6Frame()} {
			compareOps(t, "sock", ebpf.SchedCLS, insns, frame, nil, 0)
		}
	}
}

// TestXDPCtxKernel reads the xdp_md fields a ctx_in sets, and the packet
// through bpf_xdp_load_bytes and bpf_xdp_store_bytes.
func TestXDPCtxKernel(t *testing.T) {
	needKernel(t)
	frame := udpFrame()
	ctxIn := make([]byte, 24)
	ctxIn[4] = byte(len(frame)) // data_end
	ctxIn[12] = 1               // ingress_ifindex: lo
	fields := asm.Instructions{asm.Mov.Reg(asm.R2, asm.R1)}
	fields = append(fields, readFields([][2]int{{12, 4}, {16, 4}})...)
	fields = append(fields, asm.Mov.Imm(asm.R0, 2), asm.Return())
	compareOps(t, "xdp_md fields", ebpf.XDP, fields, frame, ctxIn, 24)

	for _, tt := range []struct {
		name     string
		off, len int32
	}{{"inside", 10, 8}, {"at the end", int32(len(frame)) - 8, 8}, {"past the end", int32(len(frame)) - 4, 8}} {
		bytesProg := asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.Mov.Reg(asm.R1, asm.R6), asm.Mov.Imm(asm.R2, tt.off),
			asm.Mov.Reg(asm.R3, asm.RFP), asm.Add.Imm(asm.R3, -8), asm.Mov.Imm(asm.R4, tt.len),
			asm.FnXdpLoadBytes.Call(),
			asm.LoadMapValue(asm.R7, resultMap, 0), asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
			asm.JNE.Imm(asm.R0, 0, "out"),
			asm.LoadMem(asm.R2, asm.RFP, -8, asm.DWord), asm.StoreMem(asm.R7, 8, asm.R2, asm.DWord),
			asm.Xor.Imm(asm.R2, -1), asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R6), asm.Mov.Imm(asm.R2, 0),
			asm.Mov.Reg(asm.R3, asm.RFP), asm.Add.Imm(asm.R3, -8), asm.Mov.Imm(asm.R4, 8),
			asm.FnXdpStoreBytes.Call(),
			asm.StoreMem(asm.R7, 16, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), asm.Return(),
		}
		compareOps(t, "xdp bytes "+tt.name, ebpf.XDP, bytesProg, frame, nil, 0)
	}
}

// vlanFrame is udpFrame with an 802.1Q tag (VLAN 5) in the packet.
func vlanFrame() []byte {
	f := udpFrame()
	return append(append(append([]byte{}, f[:12]...), 0x81, 0x00, 0x00, 0x05), f[12:]...)
}

// TestVlanStackKernel pushes two tags and pops them again: the second push
// moves the first (accelerated) tag into the packet, as the kernel does.
func TestVlanStackKernel(t *testing.T) {
	needKernel(t)
	const ethP8021Q, ethP8021AD = 0x0081, 0xa888
	step := func(slot int16, call ...asm.Instruction) asm.Instructions {
		out := asm.Instructions{asm.Mov.Reg(asm.R1, asm.R6)}
		out = append(out, call...)
		return append(out,
			asm.LoadMapValue(asm.R7, resultMap, 0), asm.StoreMem(asm.R7, slot, asm.R0, asm.DWord),
			asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), asm.StoreMem(asm.R7, slot+8, asm.R2, asm.DWord))
	}
	for _, outer := range []int32{ethP8021Q, ethP8021AD} {
		insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
		insns = append(insns, step(0, asm.Mov.Imm(asm.R2, ethP8021Q), asm.Mov.Imm(asm.R3, 5), asm.FnSkbVlanPush.Call())...)
		insns = append(insns, step(16, asm.Mov.Imm(asm.R2, outer), asm.Mov.Imm(asm.R3, 9), asm.FnSkbVlanPush.Call())...)
		insns = append(insns, step(32, asm.FnSkbVlanPop.Call())...)
		insns = append(insns,
			asm.LoadMem(asm.R2, asm.R6, 24, asm.Word), asm.StoreMem(asm.R7, 48, asm.R2, asm.DWord), // vlan_tci
			asm.LoadMem(asm.R2, asm.R6, 28, asm.Word), asm.StoreMem(asm.R7, 56, asm.R2, asm.DWord), // vlan_proto
			asm.Mov.Imm(asm.R0, 0), asm.Return())
		compareOps(t, "vlan stack", ebpf.SchedCLS, insns, udpFrame(), noGSO(), 192)
		compareOps(t, "vlan stack on a tagged frame", ebpf.SchedCLS, insns, vlanFrame(), noGSO(), 192)
	}
}

// TestXDPReuseKernel: a context reused for the next packet (as testrun's
// Runner does) is the context the kernel builds for that packet alone.
func TestXDPReuseKernel(t *testing.T) {
	needKernel(t)
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2), asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.LoadMapValue(asm.R7, resultMap, 0), asm.StoreMem(asm.R7, 0, asm.R5, asm.DWord),
		asm.StoreImm(asm.R2, 0, 0x77, asm.Byte),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), asm.Return(),
	}
	second := tcp6Frame()
	want := kernel(t, ebpf.XDP, insns, second, nil, 0)
	if want.Err != nil {
		t.Fatal(want.Err)
	}
	var code bytes.Buffer
	if err := withMap(insns, 0).Marshal(&code, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	p, err := vm.Load("reuse", code.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	mp, err := maps.New(&maps.Spec{Name: "result", Type: maps.Array, KeySize: 4, ValueSize: 64, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p, vm.Config{Maps: []vm.Map{mp}})
	if err != nil {
		t.Fatal(err)
	}
	x, err := ctx.NewXDP(m, udpFrame(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(context.Background(), x.Arg()); err != nil {
		t.Fatal(err)
	}
	m.Reset()
	if err := x.Reuse(ctx.Input{Data: second}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Data(), second) || len(x.Meta()) != 0 || len(x.Frags()) != 0 {
		t.Fatalf("reused context holds %x, meta %x, %d frags; want the second frame alone", x.Data(), x.Meta(), len(x.Frags()))
	}
	r0, err := m.Run(context.Background(), x.Arg())
	if err != nil || uint32(r0) != want.R0 {
		t.Fatalf("r0 %d, %v; kernel %d", r0, err, want.R0)
	}
	v := make([]byte, 64)
	mp.Get([]byte{0, 0, 0, 0}, v)
	if got := binary.LittleEndian.Uint64(v); got != want.Vals[0] {
		t.Errorf("ethertype read %#x, kernel %#x", got, want.Vals[0])
	}
	if got := x.Output().Data; !bytes.Equal(got, want.Out.Data) {
		t.Errorf("data_out\nkernel   %x\nbpfscope %x", want.Out.Data, got)
	}
}
