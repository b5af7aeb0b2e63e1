package text

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
)

// putAccess writes, word by word, what the general path appends: the
// access's head, where, its offset and values, whatever their lengths,
// with and without the separator, and a where too long for its words.
func TestPutAccessAsAppended(t *testing.T) {
	var st staticText
	for _, where := range []string{"pkt", "fp", "map counters", "map " + strings.Repeat("x", 30)} {
		for _, acc := range []hooks.Access{
			{Kind: hooks.Load, Size: 1, Value: 7},
			{Kind: hooks.Load, Size: 8, Value: 0xffffffffffffffff},
			{Kind: hooks.Store, Size: 4, Old: 1 << 40, Value: 1<<63 | 5},
			{Kind: hooks.Atomic, Size: 8, Old: 4294967295, Value: 1<<32 + 3},
			{Kind: hooks.Store, Size: 2, Old: 0, Value: 65535},
		} {
			for _, off := range []int64{0, 9, 123456, 1 << 40} {
				for _, sep := range []bool{true, false} {
					want := appendAccessHead(nil, &acc)
					if sep {
						want = append([]byte(" | "), want...)
					}
					want = append(append(want, where...), '+')
					want = appendAccessValues(strconv.AppendInt(want, off, 10), &acc)
					got := st.putAccess([]byte("x"), &acc, where, off, sep)
					if string(got) != "x"+string(want) {
						t.Errorf("putAccess(%+v, %q, %d, %v) = %q, want %q", acc, where, off, sep, got[1:], want)
					}
				}
			}
		}
	}
}
