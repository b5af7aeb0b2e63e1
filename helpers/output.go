package helpers

import (
	"fmt"
	"slices"
	"syscall"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Ring buffer and perf event output. Records land in the maps (the
// embedder drains them with RingBufMap.Drain and PerfEventArrayMap.Drain)
// and are reported as hooks.Output events when committed.

func init() {
	register(asm.FnRingbufOutput, "bpf_ringbuf_output", ringbufOutput)
	register(asm.FnRingbufReserve, "bpf_ringbuf_reserve", ringbufReserve)
	register(asm.FnRingbufSubmit, "bpf_ringbuf_submit", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return ringbufCommit(s, m, a, false)
	})
	register(asm.FnRingbufDiscard, "bpf_ringbuf_discard", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return ringbufCommit(s, m, a, true)
	})
	register(asm.FnRingbufQuery, "bpf_ringbuf_query", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		rb, err := ringbufArg(m, a[0])
		if err != nil {
			return 0, err
		}
		return rb.Query(a[1]), nil
	})
	register(asm.FnPerfEventOutput, "bpf_perf_event_output", perfEventOutput)
}

func ringbufArg(m *vm.Machine, addr uint64) (*maps.RingBufMap, error) {
	mp, err := mapArg(m, addr)
	if err != nil {
		return nil, err
	}
	rb, ok := mp.(*maps.RingBufMap)
	if !ok {
		return nil, fmt.Errorf("map %s is a %v, not a ring buffer", mp.Name(), mp.Type())
	}
	return rb, nil
}

// ringbufOutput implements bpf_ringbuf_output(ringbuf, data, size, flags):
// 0, -EINVAL for flags other than the wakeup ones, -EAGAIN when full.
func ringbufOutput(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	rb, err := ringbufArg(m, a[0])
	if err != nil {
		return 0, err
	}
	data, err := m.Bytes(a[1], int(a[2]), false)
	if err != nil {
		return 0, err
	}
	if err := output(m, len(data)); err != nil {
		return 0, err
	}
	ret, err := errnoRet(rb.Output(data, a[3]))
	if err == nil && ret == 0 {
		m.ReportOutput(&hooks.Output{Kind: "ringbuf", Map: rb.Name(), Data: slices.Clone(data)})
	}
	return ret, err
}

// ringbufReserve implements bpf_ringbuf_reserve(ringbuf, size, flags): a
// pointer to size bytes in the ring, or NULL (flags not 0, ring full).
func ringbufReserve(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	rb, err := ringbufArg(m, a[0])
	if err != nil {
		return 0, err
	}
	st := s.run(m)
	if len(st.reserved) >= maxReserved {
		return 0, fmt.Errorf("%s: %d records reserved and not committed in one run (a bpfscope limit; the verifier would bound them by the program's references)", rb.Name(), maxReserved)
	}
	off, ok := rb.Reserve(a[1], a[2])
	if !ok {
		return 0, nil
	}
	// The program gets exactly the bytes it reserved, as the verifier
	// allows: not the record's header, nor its neighbours.
	size := int(a[1])
	addr := m.Map(&vm.Region{Name: "ringbuf " + rb.Name() + " record", Data: rb.Memory()[off : off+size : off+size]})
	if st.reserved == nil {
		st.reserved = map[uint64]reservation{}
	}
	st.reserved[addr] = reservation{rb: rb, off: off, size: size}
	return addr, nil
}

// ringbufCommit implements bpf_ringbuf_submit and bpf_ringbuf_discard
// (data, flags). The verifier only lets a reserved pointer reach them, once;
// anything else ends the run.
func ringbufCommit(s *Set, m *vm.Machine, a vm.Args, discard bool) (uint64, error) {
	st := s.run(m)
	r, ok := st.reserved[a[0]]
	if !ok {
		return 0, fmt.Errorf("%#x (%s) is not a ring buffer record reserved in this run (the verifier rejects this)", a[0], m.Describe(a[0]))
	}
	delete(st.reserved, a[0])
	m.Unmap(a[0]) // the verifier invalidates the pointer
	if discard {
		r.rb.Discard(r.off, a[1])
		return 0, nil
	}
	if err := output(m, r.size); err != nil {
		r.rb.Discard(r.off, maps.RingBufNoWakeup)
		return 0, err
	}
	data := slices.Clone(r.rb.Memory()[r.off : r.off+r.size])
	r.rb.Submit(r.off, a[1])
	m.ReportOutput(&hooks.Output{Kind: "ringbuf", Map: r.rb.Name(), Data: data})
	return 0, nil
}

// output counts n bytes of output against the run's limit
// (vm.Config.MaxOutput), and the copying as work against its budget.
func output(m *vm.Machine, n int) error {
	if err := m.ChargeOutput(n); err != nil {
		return err
	}
	return chargeBytes(m, n)
}

// chargeBytes charges a helper's pass over n bytes against the run's
// budget: one instruction per 8 bytes, about what a program doing the
// same work would pay.
func chargeBytes(m *vm.Machine, n int) error {
	return m.Charge(uint64(n) / 8)
}

// BPF_F_CTXLEN_MASK: the upper 32 bits of perf_event_output's flags ask
// to append that many bytes of the packet (skb and XDP programs).
const perfCtxLenMask = 0xfffff << 32

// packetCtx is a context whose packet bytes helpers can read, as
// ctx.XDP's are.
type packetCtx interface {
	Bytes(off, n uint32) ([]byte, bool)
}

func packetArg(m *vm.Machine, addr uint64) (packetCtx, bool) {
	r, off, ok := m.RegionAt(addr)
	if !ok || off != 0 {
		return nil, false
	}
	p, ok := r.View.(packetCtx)
	return p, ok
}

// perfEventOutput implements bpf_perf_event_output(ctx, map, flags, data,
// size). For packet programs the flags' ctx length appends that many
// packet bytes after data, as bpf_xdp_event_output and
// bpf_skb_event_output do (-EFAULT beyond the packet).
func perfEventOutput(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mp, err := mapArg(m, a[1])
	if err != nil {
		return 0, err
	}
	pm, ok := mp.(*maps.PerfEventArrayMap)
	if !ok {
		return 0, fmt.Errorf("map %s is a %v, not a perf event array", mp.Name(), mp.Type())
	}
	data, err := m.Bytes(a[3], int(a[4]), false)
	if err != nil {
		return 0, err
	}
	flags := a[2]
	if flags&^(perfCtxLenMask|maps.PerfIndexMask) != 0 {
		return neg(syscall.EINVAL), nil
	}
	if ctxLen := uint32(flags >> 32); ctxLen != 0 {
		// Tracing programs may not set a ctx length; packet programs
		// append that many packet bytes.
		pkt, ok := packetArg(m, a[0])
		if !ok {
			return neg(syscall.EINVAL), nil
		}
		b, ok := pkt.Bytes(0, ctxLen)
		if !ok {
			return neg(syscall.EFAULT), nil
		}
		data = append(slices.Clone(data), b...)
		flags &= maps.PerfIndexMask
	}
	if err := output(m, len(data)); err != nil {
		return 0, err
	}
	ret, err := errnoRet(pm.Output(int(s.env.CPU()), flags, data))
	if err == nil && ret == 0 {
		rec := maps.Record{Data: slices.Clone(data)}
		m.ReportOutput(&hooks.Output{Kind: "perf_event", Map: pm.Name(), Data: rec.Data, RawSample: rec.RawSample()})
	}
	return ret, err
}
