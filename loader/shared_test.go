package loader

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	bpfctx "github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	bpfmaps "github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
)

// TestSharedMaps runs testdata/shared.o, which touches a map of every type,
// on eight machines on eight goroutines sharing one collection's maps (as
// one program runs on many CPUs), while another goroutine uses the maps'
// API the way user space does. Run under -race it checks that map
// operations, atomics, spin locks, ring buffers, tail calls and inner maps
// are safe to share; the counters the program updates with atomics (or
// under its spin lock) must come out exact.
func TestSharedMaps(t *testing.T) {
	const workers, runs = 8, 300
	c, err := Load("testdata/shared.o", Options{PossibleCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	perf := c.Maps["perf"].(*bpfmaps.PerfEventArrayMap)
	perf.OpenAll()
	ring := c.Maps["ringbuf"].(*bpfmaps.RingBufMap)
	locked := make([]byte, c.Maps["locked_hash"].ValueSize())
	if err := c.Maps["locked_hash"].Put(make([]byte, 4), locked, bpfmaps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, workers+1)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := helpers.NewDefaultEnv()
			env.CPUID = uint32(g % 2)
			m, err := c.Machine("shared", vm.Config{Helpers: helpers.New(env)})
			if err != nil {
				errs <- err
				return
			}
			pkt := make([]byte, 64)
			for i := range runs {
				binary.NativeEndian.PutUint32(pkt, uint32(g))
				binary.NativeEndian.PutUint32(pkt[4:], uint32(i))
				m.Reset()
				x, err := bpfctx.NewXDP(m, pkt, nil)
				if err != nil {
					errs <- err
					return
				}
				if r0, err := m.Run(context.Background(), x.Arg()); err != nil || r0 != 2 {
					errs <- &runFailure{g, i, r0, err}
					return
				}
			}
		}()
	}
	// User space, meanwhile: reads, writes and iterates every kind of map.
	var api sync.WaitGroup
	api.Add(1)
	go func() {
		defer api.Done()
		hash, lpm := c.Maps["hash"], c.Maps["lpm"]
		q := c.Maps["queue"].(*bpfmaps.QueueMap)
		outer := c.Maps["outer_hash"].(*bpfmaps.HashOfMapsMap)
		val := make([]byte, 8)
		for n := uint32(0); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			k := binary.NativeEndian.AppendUint32(nil, 5000+n%64)
			hash.Put(k, val, bpfmaps.UpdateAny)
			hash.Get(k, val)
			for range hash.Keys() {
			}
			hash.Remove(k)
			c.Maps["array"].Get(binary.NativeEndian.AppendUint32(nil, 2), val)
			c.Maps["array"].Put(binary.NativeEndian.AppendUint32(nil, 2), val, bpfmaps.UpdateAny)
			pv := make([]byte, c.Maps["percpu_hash"].UserValueSize())
			c.Maps["percpu_hash"].Get(binary.NativeEndian.AppendUint32(nil, n%workers), pv)
			for range c.Maps["lru_hash"].Keys() {
			}
			lk := binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, 24), 0x0a000000|n%256<<8)
			lpm.Put(lk, val[:4], bpfmaps.UpdateAny)
			lpm.Remove(lk)
			q.Push(val, bpfmaps.UpdateExist)
			q.Pop(val)
			ring.Drain()
			perf.Drain()
			outer.SetMap(binary.NativeEndian.AppendUint32(nil, 1), c.Maps["inner1"], bpfmaps.UpdateAny)
			c.Maps["devmap"].Put(make([]byte, 4), binary.NativeEndian.AppendUint32(nil, 1), bpfmaps.UpdateAny)
			c.Maps["devmap"].Remove(make([]byte, 4))
			c.Maps["devmap_hash"].Put(make([]byte, 4), binary.NativeEndian.AppendUint32(nil, 1), bpfmaps.UpdateAny)
		}
	}()
	wg.Wait()
	close(stop)
	api.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const total = workers * runs
	get := func(name string, key uint32) uint64 {
		v := make([]byte, c.Maps[name].UserValueSize())
		if err := c.Maps[name].Get(binary.NativeEndian.AppendUint32(nil, key), v); err != nil {
			t.Fatalf("%s[%d]: %v", name, key, err)
		}
		var sum uint64
		for i := 0; i < len(v); i += 8 { // per-CPU values: sum the CPUs
			sum += binary.NativeEndian.Uint64(v[i:])
		}
		return sum
	}
	for _, want := range []struct {
		name string
		key  uint32
	}{{"array", 0}, {"array", 1}, {"percpu_array", 0}, {"hash", 7}, {"inner0", 0}, {"inner1", 0}} {
		if got := get(want.name, want.key); got != total {
			t.Errorf("%s[%d] = %d, want %d", want.name, want.key, got, total)
		}
	}
	var perG uint64
	for g := range uint32(workers) {
		perG += get("percpu_hash", g)
	}
	if perG != total {
		t.Errorf("percpu_hash counts %d, want %d", perG, total)
	}
	v := make([]byte, len(locked))
	if err := c.Maps["locked_hash"].Get(make([]byte, 4), v); err != nil {
		t.Fatal(err)
	}
	if a, b := binary.NativeEndian.Uint64(v[8:]), binary.NativeEndian.Uint64(v[16:]); a != total || b != 2*total {
		t.Errorf("spin-locked counters %d and %d, want %d and %d", a, b, total, 2*total)
	}
}

type runFailure struct {
	g, i int
	r0   uint64
	err  error
}

func (f *runFailure) Error() string {
	if f.err != nil {
		return "goroutine " + itoa(f.g) + " run " + itoa(f.i) + ": " + f.err.Error()
	}
	return "goroutine " + itoa(f.g) + " run " + itoa(f.i) + ": r0 " + itoa(int(f.r0))
}

func itoa(i int) string { return fmt.Sprint(i) }
