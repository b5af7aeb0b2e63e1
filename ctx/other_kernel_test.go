package ctx_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// compare runs insns in both and checks retval, map slots, data_out and
// ctx_out. ctxOutLen 0 means the kernel returns no ctx.
func compare(t *testing.T, name string, typ ebpf.ProgramType, flags uint32, insns asm.Instructions, data, ctxIn []byte, ctxOutLen int) {
	t.Helper()
	p, m, err := kernelProg(t, typ, insns, flags)
	if err != nil {
		t.Fatalf("%s: kernel rejects: %v", name, err)
	}
	defer p.Close()
	defer m.Close()
	want := kernelRun(t, p, m, data, ctxIn, ctxOutLen)
	got := scope(t, typ, insns, data, ctxIn, nil)
	if (want.Err != nil) != (got.Err != nil) {
		t.Fatalf("%s: kernel err %v, bpfscope err %v", name, want.Err, got.Err)
	}
	if want.Err != nil {
		return
	}
	if want.R0 != got.R0 || want.Vals != got.Vals {
		t.Errorf("%s: kernel r0=%d %x, bpfscope r0=%d %x", name, want.R0, want.Vals, got.R0, got.Vals)
	}
	if len(data) > 0 && !bytes.Equal(want.Out.Data, got.Out.Data) {
		t.Errorf("%s: data_out\nkernel   %x\nbpfscope %x", name, want.Out.Data, got.Out.Data)
	}
	if ctxOutLen > 0 && !bytes.Equal(want.Out.Ctx, got.Out.Ctx) {
		t.Errorf("%s: ctx_out\nkernel   %x\nbpfscope %x", name, want.Out.Ctx, got.Out.Ctx)
	}
}

func TestFlowDissectorKernel(t *testing.T) {
	needKernel(t)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R8, asm.R6, 144, asm.DWord), // flow_keys
		asm.LoadMem(asm.R0, asm.R8, 0, asm.Half),    // nhoff
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R8, 10, asm.Half), // n_proto
		asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R8, 48, asm.Word), // flags
		asm.StoreMem(asm.R7, 16, asm.R0, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, 76, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, 80, asm.Word),
		asm.Sub.Reg(asm.R3, asm.R2),
		asm.StoreMem(asm.R7, 24, asm.R3, asm.DWord),
		// clang tests the 32-bit data field for NULL in 32 bits.
		asm.Mov.Imm(asm.R5, 1),
		asm.JNE.Imm32(asm.R2, 0, "nonnull"),
		asm.Mov.Imm(asm.R5, 0),
		asm.StoreMem(asm.R7, 32, asm.R5, asm.DWord).WithSymbol("nonnull"),
		asm.StoreImm(asm.R8, 2, 2000, asm.Half), // thoff beyond the packet: clamped
		asm.StoreImm(asm.R8, 9, 17, asm.Byte),   // ip_proto
		asm.StoreImm(asm.R8, 0, 4, asm.Half),    // nhoff below 14: clamped
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
	flags := make([]byte, 56)
	flags[48] = 1
	compare(t, "no ctx", ebpf.FlowDissector, 0, insns, udpFrame(), nil, 0)
	compare(t, "flags", ebpf.FlowDissector, 0, insns, udpFrame(), flags, 56)
	bad := make([]byte, 56)
	bad[0] = 1
	compare(t, "bad ctx", ebpf.FlowDissector, 0, insns, udpFrame(), bad, 56)
	compare(t, "short", ebpf.FlowDissector, 0, insns, udpFrame()[:13], nil, 0)
}

func TestSkLookupKernel(t *testing.T) {
	needKernel(t)
	var insns asm.Instructions
	insns = append(insns, asm.Mov.Reg(asm.R6, asm.R1), asm.LoadMapValue(asm.R7, resultMap, 0))
	for i, f := range []struct {
		off  int16
		size asm.Size
	}{{8, asm.Word}, {12, asm.Half}, {16, asm.Word}, {36, asm.Word}, {37, asm.Byte}, {60, asm.Word}, {24, asm.Word}, {64, asm.Word}} {
		insns = append(insns, asm.LoadMem(asm.R0, asm.R6, f.off, f.size), asm.StoreMem(asm.R7, int16(8*i), asm.R0, asm.DWord))
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 1), asm.Return())
	mk := func(family, port uint32, v6 bool) []byte {
		b := make([]byte, 72)
		binary.LittleEndian.PutUint32(b[8:], family)
		binary.LittleEndian.PutUint32(b[12:], 6)
		copy(b[16:], []byte{10, 0, 0, 1})
		copy(b[20:], []byte{0x20, 1, 0xd, 0xb8, 4: 1, 5: 2, 6: 3, 7: 4})
		binary.LittleEndian.PutUint32(b[36:], 0x3039)
		copy(b[40:], []byte{10, 0, 0, 2})
		binary.LittleEndian.PutUint32(b[60:], port)
		return b
	}
	compare(t, "inet", ebpf.SkLookup, 0, insns, nil, mk(2, 80, false), 72)
	compare(t, "inet6", ebpf.SkLookup, 0, insns, nil, mk(10, 443, true), 72)
	compare(t, "unix", ebpf.SkLookup, 0, insns, nil, mk(1, 80, false), 72)
	compare(t, "port", ebpf.SkLookup, 0, insns, nil, mk(2, 70000, false), 72)
	withIf := mk(2, 80, false)
	withIf[64] = 1
	compare(t, "ifindex", ebpf.SkLookup, 0, insns, nil, withIf, 72)
}

func TestRawTracepointKernel(t *testing.T) {
	needKernel(t)
	insns := asm.Instructions{
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R0, asm.R1, 8, asm.DWord),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R1, 4, asm.Word),
		asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 3),
		asm.Return(),
	}
	args := make([]byte, 16)
	binary.LittleEndian.PutUint64(args[0:], 0x1122334455667788)
	binary.LittleEndian.PutUint64(args[8:], 42)
	compare(t, "args", ebpf.RawTracepoint, 0, insns, nil, args, 0)
}

func TestSyscallKernel(t *testing.T) {
	needKernel(t)
	insns := asm.Instructions{
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R0, asm.R1, 0, asm.Word),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.Add.Imm(asm.R0, 1),
		asm.StoreMem(asm.R1, 4, asm.R0, asm.Word),
		asm.Mov.Imm(asm.R0, 7),
		asm.Return(),
	}
	const sleepable = 1 << 4 // BPF_F_SLEEPABLE
	// The kernel writes the ctx back into ctx_in, which cilium/ebpf does
	// not return: compare what the program read and stored.
	compare(t, "ctx", ebpf.Syscall, sleepable, insns, nil, []byte{41, 0, 0, 0, 0, 0, 0, 0}, 0)
	got := scope(t, ebpf.Syscall, insns, nil, []byte{41, 0, 0, 0, 0, 0, 0, 0}, nil)
	if want := []byte{41, 0, 0, 0, 42, 0, 0, 0}; !bytes.Equal(got.Out.Ctx, want) {
		t.Errorf("ctx_out %x, want %x", got.Out.Ctx, want)
	}
}

func TestNetfilterKernel(t *testing.T) {
	needKernel(t)
	insns := asm.Instructions{
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord), // state
		asm.LoadMem(asm.R0, asm.R2, 0, asm.Byte),  // hook
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R2, 1, asm.Byte), // pf
		asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return(),
	}
	ip := udpFrame()[14:]
	state := func(hook, pf byte) []byte { return append([]byte{hook, pf}, make([]byte, 46)...) }
	compare(t, "local_out", ebpf.Netfilter, 0, insns, ip, nil, 0)
	compare(t, "short", ebpf.Netfilter, 0, insns, ip[:19], nil, 0)
	compare(t, "pre_routing", ebpf.Netfilter, 0, insns, udpFrame(), state(0, 2), 0)
	compare(t, "pre_routing v6 mismatch", ebpf.Netfilter, 0, insns, udpFrame(), state(0, 10), 0)
	compare(t, "bad pf", ebpf.Netfilter, 0, insns, udpFrame(), state(0, 7), 0)
}

// TestNetfilterSkbKernel reads the modelled struct sk_buff fields and the
// nf_hook_state pointers through bpf_nf_ctx, at the kernel BTF's offsets,
// in both; the fields that are not modelled must fail the bpfscope run.
func TestNetfilterSkbKernel(t *testing.T) {
	needKernel(t)
	types, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("kernel BTF: %v", err)
	}
	var skb *btf.Struct
	if err := types.TypeByName("sk_buff", &skb); err != nil {
		t.Fatal(err)
	}
	type read struct {
		off  int16
		size asm.Size
	}
	field := func(name string) (read, bool) {
		off, size, ok := memberOf(skb.Members, name, 0)
		if !ok {
			return read{}, false
		}
		sizes := map[uint32]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word, 8: asm.DWord}
		return read{int16(off), sizes[size]}, true
	}
	var reads []read
	for _, name := range []string{"next", "prev", "sk", "tstamp", "_skb_refdst", "destructor", "_nfct",
		"len", "data_len", "mac_len", "hdr_len", "queue_mapping", "active_extensions",
		"tc_index", "csum", "priority", "skb_iif", "hash", "vlan_all", "napi_id", "secmark", "mark",
		"inner_protocol", "inner_transport_header", "inner_network_header", "inner_mac_header",
		"protocol", "transport_header", "network_header", "mac_header", "tail", "end", "truesize", "users"} {
		r, ok := field(name)
		if !ok {
			t.Fatalf("no sk_buff.%s in the kernel BTF", name)
		}
		reads = append(reads, r)
	}
	// The bitfield bytes (cloned.., pkt_type.., tstamp_type.., ...) and cb.
	cloned, _ := field("queue_mapping")
	pktType, _ := field("tc_index")
	cb, _ := field("tstamp")
	reads = append(reads, read{cloned.off + 2, asm.Byte}, read{pktType.off - 4, asm.Byte}, read{pktType.off - 3, asm.Byte},
		read{pktType.off - 2, asm.Byte}, read{pktType.off - 1, asm.Byte}, read{cb.off + 8, asm.DWord}, read{cb.off + 48, asm.DWord})

	ip := udpFrame()[14:]
	state := func(hook, pf byte) []byte { return append([]byte{hook, pf}, make([]byte, 46)...) }
	bcast := udpFrame()
	copy(bcast, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	long := append(udpFrame(), make([]byte, 3000)...)
	cases := []struct {
		name      string
		data, ctx []byte
	}{
		{"local_out", ip, nil},
		{"local_out long", append(ip, make([]byte, 200)...), nil},
		{"local_out v6", make([]byte, 40), state(3, 10)},
		{"pre_routing", udpFrame(), state(0, 2)},
		{"local_in broadcast", bcast, state(1, 2)},
		{"forward v6", tcp6Frame(), state(2, 10)},
		{"post_routing long", long, state(4, 2)},
	}
	for i := 0; i < len(reads); i += 8 {
		insns := asm.Instructions{asm.LoadMapValue(asm.R7, resultMap, 0), asm.LoadMem(asm.R2, asm.R1, 8, asm.DWord)}
		for j, r := range reads[i:min(i+8, len(reads))] {
			insns = append(insns, asm.LoadMem(asm.R0, asm.R2, r.off, r.size), asm.StoreMem(asm.R7, int16(8*j), asm.R0, asm.DWord))
		}
		insns = append(insns, asm.Mov.Imm(asm.R0, 1), asm.Return())
		p, m, err := kernelProg(t, ebpf.Netfilter, insns, 0)
		if err != nil {
			t.Fatalf("reads %d-: kernel rejects: %v", i, err)
		}
		for _, c := range cases {
			want := kernelRun(t, p, m, c.data, c.ctx, 0)
			got := scope(t, ebpf.Netfilter, insns, c.data, c.ctx, nil)
			if want.Err != nil || got.Err != nil || want.Vals != got.Vals {
				t.Errorf("%s, reads %d-: kernel %x (err %v), bpfscope %x (err %v)", c.name, i, want.Vals, want.Err, got.Vals, got.Err)
			}
		}
		p.Close()
		m.Close()
	}

	// nf_hook_state.in, and out, which only a ctx_in sets (to loopback).
	hookPtrs := asm.Instructions{
		asm.LoadMapValue(asm.R7, resultMap, 0),
		asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R2, 8, asm.DWord),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.LoadMem(asm.R0, asm.R2, 16, asm.DWord),
		asm.StoreMem(asm.R7, 8, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return(),
	}
	compare(t, "hook pointers", ebpf.Netfilter, 0, hookPtrs, ip, nil, 0)
	unknown := map[string]asm.Instructions{"nf_hook_state.out": hookPtrs}
	for _, name := range []string{"head", "data", "alloc_cpu"} {
		r, ok := field(name)
		if !ok {
			t.Fatalf("no sk_buff.%s in the kernel BTF", name)
		}
		unknown["sk_buff."+name] = asm.Instructions{
			asm.LoadMapValue(asm.R7, resultMap, 0),
			asm.LoadMem(asm.R2, asm.R1, 8, asm.DWord),
			asm.LoadMem(asm.R0, asm.R2, r.off, r.size),
			asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R0, 1),
			asm.Return(),
		}
	}
	for name, insns := range unknown {
		if k := kernel(t, ebpf.Netfilter, insns, udpFrame(), state(0, 2), 0); k.Err != nil {
			t.Fatalf("%s: kernel: %v", name, k.Err)
		}
		got := scope(t, ebpf.Netfilter, insns, udpFrame(), state(0, 2), nil)
		if got.Err == nil || !strings.Contains(got.Err.Error(), name) || !strings.Contains(got.Err.Error(), "not modelled") {
			t.Errorf("%s: bpfscope returned %d, err %v; want a not-modelled error naming it", name, got.R0, got.Err)
		}
	}
}

// memberOf finds a member by name, looking into anonymous structs and
// unions, and returns its byte offset and size.
func memberOf(ms []btf.Member, name string, base uint32) (off, size uint32, ok bool) {
	for _, m := range ms {
		o := base + m.Offset.Bytes()
		if m.Name == "" {
			var inner []btf.Member
			switch t := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				inner = t.Members
			case *btf.Union:
				inner = t.Members
			}
			if off, size, ok = memberOf(inner, name, o); ok {
				return off, size, true
			}
			continue
		}
		if m.Name == name {
			n, err := btf.Sizeof(m.Type)
			return o, uint32(n), err == nil
		}
	}
	return 0, 0, false
}
