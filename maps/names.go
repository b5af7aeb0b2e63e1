package maps

import (
	"strconv"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/cilium/ebpf/btf"
)

// Types returns the BTF of the map's keys and values (Spec.Key and
// Spec.Value), nil where unknown.
func (b *base) Types() (key, value btf.Type) { return b.spec.Key, b.spec.Value }

// FieldName names the bytes [off, off+size) of Memory by the value's BTF,
// for traces: the element, by its key decoded, and the member path,
// "counters[3].bytes", "flows[{saddr=10.0.0.2}].packets". A global data
// section names the variable alone, "bytes_seen", "cfg.max_frame_len".
// It returns "" when the map has no BTF for its value or the offset is
// not in an element.
func (a *ArrayMap) FieldName(off uint32, size int) string {
	if a.spec.Value == nil || a.stride == 0 || int(off) >= len(a.mem) {
		return ""
	}
	slot, rel := int(off)/a.stride, off%uint32(a.stride)
	idx, cpu := slot, -1
	if a.percpu {
		idx, cpu = slot/a.cpus, slot%a.cpus
	}
	if _, isSec := btf.UnderlyingType(a.spec.Value).(*btf.Datasec); isSec && a.spec.MaxEntries == 1 {
		p := btfvalue.Path(a.spec.Value, rel, size)
		if p == "" || p[0] == '+' {
			return "" // no variable there: the raw name says more
		}
		return p
	}
	b := append([]byte(a.spec.Name), '[')
	b = strconv.AppendInt(b, int64(idx), 10)
	b = append(b, ']')
	return string(elemPath(b, a.spec.Value, rel, size, cpu))
}

// FieldName is ArrayMap.FieldName for a hash: the element is named by its
// key, decoded by the key's BTF when there is one, in hex otherwise.
func (h *HashMap) FieldName(off uint32, size int) string {
	if h.spec.Value == nil || h.stride == 0 {
		return ""
	}
	slot, rel := int(off)/h.stride, off%uint32(h.stride)
	idx, cpu := slot, -1
	if h.percpu {
		idx, cpu = slot/h.cpus, slot%h.cpus
	}
	h.mu.Lock()
	if idx >= len(h.t.used) || !h.t.used[idx] {
		h.mu.Unlock()
		return ""
	}
	key := h.t.key(int32(idx))
	b := append([]byte(h.spec.Name), '[')
	b = btfvalue.AppendTextOrHex(b, h.spec.Key, key)
	h.mu.Unlock()
	b = append(b, ']')
	return string(elemPath(b, h.spec.Value, rel, size, cpu))
}

func elemPath(b []byte, value btf.Type, rel uint32, size, cpu int) []byte {
	b = btfvalue.AppendPath(b, value, rel, size)
	if cpu >= 0 {
		b = append(b, "@cpu"...)
		b = strconv.AppendInt(b, int64(cpu), 10)
	}
	return b
}
