package ctx

import (
	"strconv"
	"sync"
)

// Traces name every packet access ("pkt+14"); building that string anew per
// access would make tracing allocate per instruction. Packet offsets are
// small, so their names are built once and shared.
const maxNamedOffset = XDPFrameSize

var (
	offsetNamesOnce sync.Once
	offsetNames     [maxNamedOffset]string // "+0", "+1", ...
)

// offsetName returns prefix+"+off", from the shared table when off is small
// and prefix is one of the packet names.
func offsetName(prefix string, off uint32) string {
	if off >= maxNamedOffset {
		return prefix + "+" + strconv.FormatUint(uint64(off), 10)
	}
	offsetNamesOnce.Do(func() {
		for i := range offsetNames {
			offsetNames[i] = "+" + strconv.Itoa(i)
		}
	})
	switch prefix {
	case "pkt":
		return pktNames.get(off)
	case "pkt_meta":
		return metaNames.get(off)
	}
	return prefix + offsetNames[off]
}

// nameTable caches prefix+"+off" per offset, filled on first use.
type nameTable struct {
	prefix string
	mu     sync.Mutex
	names  [maxNamedOffset]string
}

var (
	pktNames  = &nameTable{prefix: "pkt"}
	metaNames = &nameTable{prefix: "pkt_meta"}
)

func (t *nameTable) get(off uint32) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.names[off] == "" {
		t.names[off] = t.prefix + offsetNames[off]
	}
	return t.names[off]
}
