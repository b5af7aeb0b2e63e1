package corpus

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// Run executes the case in bpfscope as BPF_PROG_TEST_RUN executes it in the
// kernel: an XDP context over the packet, the declared maps created and
// filled, and a fresh deterministic helper environment.
func (c *Case) Run(ctx context.Context) (*Result, error) {
	return c.Trace(ctx, nil)
}

// Trace is Run with hook attached (nil for none).
func (c *Case) Trace(ctx context.Context, hook any) (*Result, error) {
	if c.ProgType != "" && c.ProgType != "xdp" {
		return nil, fmt.Errorf("%s: program type %q is not supported by the corpus runner", c.ID, c.ProgType)
	}
	code, err := c.Code()
	if err != nil {
		return nil, err
	}
	pkt, err := c.Packet()
	if err != nil {
		return nil, fmt.Errorf("%s: packet_in: %w", c.ID, err)
	}
	p, err := vm.Load(c.ID, code)
	if err != nil {
		return nil, err
	}
	mps, err := c.makeMaps()
	if err != nil {
		return nil, err
	}
	vmaps := make([]vm.Map, len(mps))
	for i, mp := range mps {
		vmaps[i] = mp
	}
	m, err := vm.New(p, vm.Config{Helpers: helpers.New(nil), Maps: vmaps})
	if err != nil {
		return nil, err
	}
	m.Attach(hook)
	x, err := bpfctx.NewXDP(m, pkt, nil)
	if err != nil {
		return nil, err
	}
	r0, err := m.Run(ctx, x.Arg())
	if err != nil {
		return nil, err
	}
	res := &Result{R0: uint32(r0), PacketOut: hex.EncodeToString(x.Data())}
	for _, mp := range mps {
		res.Maps = append(res.Maps, dump(mp))
	}
	return res, nil
}

func (c *Case) makeMaps() ([]maps.Map, error) {
	var out []maps.Map
	for i, d := range c.Maps {
		typ := map[string]maps.Type{"array": maps.Array, "hash": maps.Hash}[d.Type]
		if typ == 0 && d.Type != "array" {
			return nil, fmt.Errorf("%s: map %d: unsupported type %q", c.ID, i, d.Type)
		}
		mp, err := maps.New(&maps.Spec{Name: fmt.Sprintf("map%d", i), Type: typ,
			KeySize: d.KeySize, ValueSize: d.ValueSize, MaxEntries: d.MaxEntries})
		if err != nil {
			return nil, err
		}
		for _, kv := range d.Init {
			k, err1 := hex.DecodeString(kv.Key)
			v, err2 := hex.DecodeString(kv.Value)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s: map %d: bad init entry", c.ID, i)
			}
			if err := mp.Put(k, v, maps.UpdateAny); err != nil {
				return nil, fmt.Errorf("%s: map %d: init: %w", c.ID, i, err)
			}
		}
		out = append(out, mp)
	}
	return out, nil
}

// dump lists a map as the corpus does: arrays by index, hashes by key hex.
func dump(mp maps.Map) []KV {
	kvs := []KV{}
	val := make([]byte, mp.UserValueSize())
	for k := range mp.Keys() {
		if err := mp.Get(k, val); err != nil {
			continue
		}
		kvs = append(kvs, KV{Key: hex.EncodeToString(k), Value: hex.EncodeToString(val)})
	}
	if mp.Spec().Type != maps.Array {
		slices.SortFunc(kvs, func(a, b KV) int { return bytes.Compare([]byte(a.Key), []byte(b.Key)) })
	}
	return kvs
}

// Diff describes how got differs from want, or returns "".
func Diff(want, got *Result) string {
	if want.R0 != got.R0 {
		return fmt.Sprintf("r0 = %#x, kernel %#x", got.R0, want.R0)
	}
	if !equalHex(want.PacketOut, got.PacketOut) {
		return fmt.Sprintf("packet_out differs:\n  got  %s\n  want %s", got.PacketOut, want.PacketOut)
	}
	if len(want.Maps) != len(got.Maps) {
		return fmt.Sprintf("%d maps, kernel %d", len(got.Maps), len(want.Maps))
	}
	for i := range want.Maps {
		if len(want.Maps[i]) != len(got.Maps[i]) {
			return fmt.Sprintf("map %d has %d entries, kernel %d", i, len(got.Maps[i]), len(want.Maps[i]))
		}
		for j, w := range want.Maps[i] {
			g := got.Maps[i][j]
			if !equalHex(w.Key, g.Key) || !equalHex(w.Value, g.Value) {
				return fmt.Sprintf("map %d entry %d: %s=%s, kernel %s=%s", i, j, g.Key, g.Value, w.Key, w.Value)
			}
		}
	}
	return ""
}

func equalHex(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }
