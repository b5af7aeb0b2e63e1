package tracefile

import (
	"bytes"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/bpfscope/bpfscope/hooks"
	"github.com/cilium/ebpf/btf"
)

// The types section (kind 8, optional, after the input section) keeps the
// BTF of the maps' keys and values, so that a file read elsewhere still
// prints keys, values and globals by their C types: a raw BTF blob, then
// for each map of the maps section its key and value type ids (0: none).

const secTypes = 8

var _ hooks.Namer = (*Reader)(nil)

func init() { sectionNames[secTypes] = "types" }

// encodeTypes returns the types section of r's maps, or nil when none of
// them has BTF.
func encodeTypes(r *refs) []byte {
	var b btf.Builder
	ids := make([]btf.TypeID, 0, 2*len(r.maps))
	any := false
	for _, m := range r.maps {
		spec := m.Spec()
		for _, t := range []btf.Type{spec.Key, spec.Value} {
			var id btf.TypeID
			if t != nil {
				var err error
				if id, err = b.Add(t); err != nil {
					id = 0 // BTF the builder refuses: the map shows raw bytes
				}
				any = any || id != 0
			}
			ids = append(ids, id)
		}
	}
	if !any {
		return nil
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		return nil
	}
	e := enc(nil).bytes(raw).u(uint64(len(ids)))
	for _, id := range ids {
		e = e.u(uint64(id))
	}
	return e
}

// decodeTypes gives the maps read so far their key and value types. BTF
// that does not parse, or a type whose size is not the map's, is dropped:
// names are a convenience, never a reason to refuse a file.
func (t *Reader) decodeTypes(d *dec) {
	raw := d.bytes()
	n := d.n(len(d.b))
	ids := make([]btf.TypeID, 0, min(n, len(d.b)))
	for range n {
		ids = append(ids, btf.TypeID(d.u()))
	}
	if d.err != nil {
		return
	}
	if n != 2*len(t.maps) {
		d.fail("types for %d maps, %d maps stored", n/2, len(t.maps))
		return
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return
	}
	typ := func(id btf.TypeID, size uint32) btf.Type {
		if id == 0 {
			return nil
		}
		ty, err := spec.TypeByID(id)
		if err != nil || btfvalue.Size(ty) != int(size) {
			return nil
		}
		return ty
	}
	for i := range t.maps {
		s := t.maps[i].Spec
		s.Key, s.Value = typ(ids[2*i], s.KeySize), typ(ids[2*i+1], s.ValueSize)
	}
}
