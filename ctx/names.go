package ctx

import (
	"strconv"
	"sync"
)

// Traces name every packet access ("pkt+14"); building that string anew per
// access would make tracing allocate per instruction. Packet offsets are
// small, so their names are built once, on first use, and shared.
type offsetNames struct {
	prefix string
	once   sync.Once
	names  []string // prefix+"+0", prefix+"+1", ... for offsets in a frame
}

var (
	pktNames  = &offsetNames{prefix: "pkt"}
	metaNames = &offsetNames{prefix: "pkt_meta"}
)

func (t *offsetNames) name(off uint32) string {
	if off >= XDPFrameSize {
		return t.prefix + "+" + strconv.FormatUint(uint64(off), 10)
	}
	t.once.Do(func() {
		t.names = make([]string, XDPFrameSize)
		for i := range t.names {
			t.names[i] = t.prefix + "+" + strconv.Itoa(i)
		}
	})
	return t.names[off]
}
