package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// Snapshot reads the target's maps (from its map_ids) from user space.
// afterRun is the number of runs written so far. Runs go on meanwhile:
// the result is not atomic with them, and says so.
func (c *Capture) Snapshot(afterRun int) (*Snapshot, error) {
	return SnapshotProgram(c.t.Info, afterRun)
}

// SnapshotProgram reads the maps of the program info describes.
func SnapshotProgram(info *ebpf.ProgramInfo, afterRun int) (*Snapshot, error) {
	s := &Snapshot{AfterRun: afterRun, Taken: time.Now().UTC()}
	ids, ok := info.MapIDs()
	if !ok {
		return nil, errors.New("the kernel does not list the program's maps (map_ids)")
	}
	for _, id := range ids {
		d, err := dumpMap(id)
		if err != nil {
			return nil, fmt.Errorf("snapshot of map %d: %w", id, err)
		}
		s.Maps = append(s.Maps, d)
	}
	s.Done = time.Now().UTC()
	return s, nil
}

func dumpMap(id ebpf.MapID) (MapDump, error) {
	m, err := ebpf.NewMapFromID(id)
	if err != nil {
		return MapDump{}, err
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		return MapDump{}, err
	}
	d := MapDump{
		ID: uint32(id), Name: info.Name, Type: info.Type.String(),
		KeySize: info.KeySize, ValueSize: info.ValueSize, MaxEntries: info.MaxEntries, Flags: info.Flags,
		Entries: []Entry{},
	}
	switch info.Type {
	case ebpf.Array, ebpf.Hash, ebpf.LRUHash, ebpf.LPMTrie:
		if d.Entries, err = batchDump(m, info); err == nil {
			return d, nil
		}
		d.Entries, err = iterDump(m, info, false)
	case ebpf.PerCPUArray, ebpf.PerCPUHash, ebpf.LRUCPUHash:
		d.PerCPU = true
		d.Entries, err = iterDump(m, info, true)
	default:
		d.Skipped = fmt.Sprintf("%s maps are not snapshotted", info.Type)
	}
	return d, err
}

// batchDump reads a map with BPF_MAP_LOOKUP_BATCH, 256 entries a call.
func batchDump(m *ebpf.Map, info *ebpf.MapInfo) ([]Entry, error) {
	const chunk = 256
	ks, vs := int(info.KeySize), int(info.ValueSize)
	keys := make([]byte, chunk*ks)
	vals := make([]byte, chunk*vs)
	var cur ebpf.MapBatchCursor
	out := []Entry{}
	for {
		n, err := m.BatchLookup(&cur, keys, vals, nil)
		for i := 0; i < n; i++ {
			out = append(out, Entry{
				Key:   append([]byte(nil), keys[i*ks:(i+1)*ks]...),
				Value: append([]byte(nil), vals[i*vs:(i+1)*vs]...),
			})
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// iterDump walks a map key by key.
func iterDump(m *ebpf.Map, info *ebpf.MapInfo, perCPU bool) ([]Entry, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	out := []Entry{}
	var cur any
	for {
		next := make([]byte, info.KeySize)
		if err := m.NextKey(cur, &next); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return out, nil
			}
			return nil, err
		}
		cur = next
		e := Entry{Key: next}
		if perCPU {
			vals := make([][]byte, ncpu)
			if err := m.Lookup(next, vals); err != nil {
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					continue
				}
				return nil, err
			}
			for _, v := range vals {
				e.PerCPU = append(e.PerCPU, v)
			}
		} else {
			var v []byte
			if err := m.Lookup(next, &v); err != nil {
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					continue // deleted meanwhile
				}
				return nil, err
			}
			e.Value = v
		}
		out = append(out, e)
	}
}
