package ctx_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// regions records the structured region of every access.
type regions []hooks.Region

func (r *regions) Access(a *hooks.Access) hooks.Action {
	*r = append(*r, a.Region)
	return hooks.Continue
}

// TestAccessRegion checks that accesses carry their region as data, with
// the same offsets the text (Where) shows: packet offsets from data (the
// metadata before it negative), stack offsets from the frame pointer.
func TestAccessRegion(t *testing.T) {
	p, err := vm.FromInstructions("t", asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),  // xdp_md.data
		asm.LoadMem(asm.R3, asm.R1, 8, asm.Word),  // xdp_md.data_meta
		asm.LoadMem(asm.R4, asm.R2, 14, asm.Byte), // pkt+14
		asm.LoadMem(asm.R5, asm.R3, 0, asm.Byte),  // first metadata byte
		asm.StoreMem(asm.RFP, -16, asm.R4, asm.DWord),
		asm.Mov.Imm(asm.R0, 2),
		asm.Return(),
	})
	if err != nil {
		t.Fatal(err)
	}
	counters, err := maps.New(&maps.Spec{Name: "counters", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	rodata, err := maps.New(&maps.Spec{Name: ".rodata", Type: maps.Array, KeySize: 4, ValueSize: 16, MaxEntries: 1, Flags: maps.FlagRdOnlyProg})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p, vm.Config{Maps: []vm.Map{counters, rodata}})
	if err != nil {
		t.Fatal(err)
	}
	ctxIn := make([]byte, 24)
	binary.LittleEndian.PutUint32(ctxIn[0:], 4)                         // data: 4 bytes of metadata
	binary.LittleEndian.PutUint32(ctxIn[4:], uint32(4+len(udpFrame()))) // data_end
	x, err := ctx.NewXDP(m, append(make([]byte, 4), udpFrame()...), ctxIn)
	if err != nil {
		t.Fatal(err)
	}
	var got regions
	m.Attach(&got)
	if _, err := m.Run(context.Background(), x.Arg()); err != nil {
		t.Fatal(err)
	}
	want := regions{
		{Kind: hooks.RegionCtx, Name: "xdp_md", Offset: 0},
		{Kind: hooks.RegionCtx, Name: "xdp_md", Offset: 8},
		{Kind: hooks.RegionPacket, Name: "pkt", Offset: 14},
		{Kind: hooks.RegionPacket, Name: "pkt", Offset: -4},
		{Kind: hooks.RegionStack, Name: "stack", Offset: -16},
	}
	if len(got) != len(want) {
		t.Fatalf("regions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("access %d: region %+v, want %+v", i, got[i], want[i])
		}
	}
	for addr, want := range map[uint64]hooks.Region{
		m.MapValue(counters, 8+4): {Kind: hooks.RegionMapValue, Name: "counters", Offset: 12},
		m.MapValue(rodata, 4):     {Kind: hooks.RegionGlobal, Name: ".rodata", Offset: 4},
		0:                         {Kind: hooks.RegionOther},
	} {
		if got := m.Locate(addr); got != want {
			t.Errorf("Locate(%s) = %+v, want %+v", m.Describe(addr), got, want)
		}
	}
}
