package hooks_test

import (
	"slices"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
)

// TestHelperArguments: a kernel helper's call has as many arguments as the
// helper takes, zero or not; a helper of the caller's own (another name for
// the id) keeps Args without its trailing zeros.
func TestHelperArguments(t *testing.T) {
	regs := [5]uint64{0x300000000, 0x100000ffc, 0x50000012a, 0, 0}
	for _, tt := range []struct {
		id   int32
		name string
		want []uint64
	}{
		{1, "bpf_map_lookup_elem", regs[:2]},
		{9, "bpf_skb_store_bytes", regs[:5]},
		{5, "bpf_ktime_get_ns", regs[:0]},
		{5, "unwind", regs[:3]},
	} {
		h := hooks.HelperCall{ID: tt.id, Name: tt.name, Args: regs}
		if got := h.Arguments(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: arguments %#x, want %#x", tt.name, got, tt.want)
		}
	}
}
