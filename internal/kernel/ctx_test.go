package kernel

import (
	"encoding/binary"
	"testing"
)

func TestContextSizes(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int
	}{
		{XDPMd{}, sizeofXDPMd},
		{SkBuff{}, sizeofSkBuff},
		{FlowKeys{}, sizeofFlowKeys},
		{SkLookup{}, sizeofSkLookupCtx},
	} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("%T: size %d, want %d", c.v, got, c.want)
		}
	}
	// Spot-check offsets that programs rely on.
	b := Marshal(SkBuff{Mark: 1, TCIndex: 2, Data: 3, FlowKeys: 4, Hwtstamp: 5})
	for off, want := range map[int]uint32{8: 1, 44: 2, 76: 3, 144: 4, 184: 5} {
		if got := binary.LittleEndian.Uint32(b[off:]); got != want {
			t.Errorf("__sk_buff offset %d = %d, want %d", off, got, want)
		}
	}
	l := Marshal(SkLookup{LocalPort: 7, IngressIfindex: 8})
	if l[60] != 7 || l[64] != 8 {
		t.Errorf("bpf_sk_lookup offsets wrong: %x", l)
	}
}
