package ctx

import (
	"fmt"
	"testing"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
)

// exitMachine is a machine for contexts to be mapped into: its program
// only exits.
func exitMachine(t *testing.T) *vm.Machine {
	t.Helper()
	p, err := vm.NewProgram("exit", []isa.Insn{{Op: isa.ClassJMP | isa.JmpExit}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.New(p, vm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Traces name each packet access; after its first use a name must come
// from the shared table, so tracing does not allocate per access.
func TestPacketNamesDoNotAllocate(t *testing.T) {
	m := exitMachine(t)
	x, err := NewXDP(m, make([]byte, 64), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := x.pkt + uint64(x.data)
	for _, tc := range []struct {
		off  uint64
		want string
	}{{0, "pkt+0"}, {14, "pkt+14"}, {63, "pkt+63"}} {
		if got := m.Describe(base + tc.off); got != tc.want {
			t.Errorf("Describe(data+%d) = %q, want %q", tc.off, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.Describe(base + 14) }); n != 0 {
		t.Errorf("naming a packet offset allocates %.0f times", n)
	}
}

// The machine's NameSpan of a packet address answers as Name does, and
// so does every address of its span, in XDP and skb packets (a frame
// whose headers end before its payload).
func TestPacketNameSpans(t *testing.T) {
	m := exitMachine(t)
	frame := make([]byte, 200) // Ethernet, IPv4 (ihl 5), then payload
	frame[12], frame[13], frame[14] = 0x08, 0x00, 0x45
	x, err := NewXDP(m, frame, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSKB(m, ebpf.SchedCLS, frame, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []uint64{x.pkt + uint64(x.data), s.pkt + uint64(s.data)} {
		wide := 0
		for off := uint64(0); off < uint64(len(frame))+8; off++ {
			for _, size := range []int{1, 2, 4} {
				name, lo, hi := m.NameSpan(base+off, size)
				if want := m.Name(base+off, size); name != want {
					t.Fatalf("NameSpan(data+%d, %d) = %q, Name %q", off, size, name, want)
				}
				if lo > base+off || base+off >= hi {
					t.Fatalf("NameSpan(data+%d, %d): span [%#x, %#x) does not hold it", off, size, lo, hi)
				}
				for a := lo; a < hi; a++ {
					if got := m.Name(a, size); got != name {
						t.Fatalf("NameSpan(data+%d, %d) = %q over [%#x, %#x), but Name(%#x) = %q", off, size, name, lo, hi, a, got)
					}
				}
				if hi-lo > 1 {
					wide++
				}
			}
		}
		if wide == 0 {
			t.Errorf("no span covers the payload")
		}
	}
}

// The machine's LocateSpan answers as Locate does, and over its span
// Locate moves the offset alike and Describe reads as the span's where
// and signed offset: packet bytes of XDP (its metadata too) and skb
// (before its data too), the stack, a region named by the default
// Name+offset, the context.
func TestLocateSpans(t *testing.T) {
	m := exitMachine(t)
	frame := make([]byte, 200)
	x, err := NewXDP(m, frame, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSKB(m, ebpf.SchedCLS, frame, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 8 bytes of metadata before the frame: data 8, data_end 208.
	md := make([]byte, 24)
	md[0], md[4] = 8, 208
	xm, err := NewXDP(m, make([]byte, 208), md)
	if err != nil {
		t.Fatal(err)
	}
	plain := m.Map(&vm.Region{Name: "map .bss", Data: make([]byte, 64)})
	addrs := []uint64{0, 8, 1<<32 + 512, plain, plain + 1, plain + 63, x.ctxAddr, x.ctxAddr + 4}
	for _, base := range []uint64{x.pkt + uint64(x.data), s.pkt + uint64(s.data), xm.pkt + uint64(xm.data)} {
		addrs = append(addrs, base-2, base, base+14, base+199)
	}
	addrs = append(addrs, xm.pkt+uint64(xm.meta), xm.pkt+uint64(xm.meta)+7)
	forms := 0
	for _, addr := range addrs {
		r, where, base, lo, hi := m.LocateSpan(addr)
		if want := m.Locate(addr); r != want {
			t.Fatalf("LocateSpan(%#x) = %+v, Locate %+v", addr, r, want)
		}
		if lo > addr || addr >= hi {
			t.Fatalf("LocateSpan(%#x): span [%#x, %#x) does not hold it", addr, lo, hi)
		}
		if where != "" {
			forms++
		}
		// The span's ends and the addresses near addr.
		for _, a := range []uint64{lo, lo + 1, addr - 3, addr - 1, addr, addr + 1, addr + 300, hi - 1} {
			if a < lo || a >= hi {
				continue
			}
			want := r
			want.Offset += int64(a - addr)
			if got := m.Locate(a); got != want {
				t.Fatalf("LocateSpan(%#x) over [%#x, %#x): Locate(%#x) = %+v, want %+v", addr, lo, hi, a, got, want)
			}
			if where == "" {
				continue
			}
			if got, want := m.Describe(a), where+fmt.Sprintf("%+d", int64(a-base)); got != want {
				t.Fatalf("LocateSpan(%#x) over [%#x, %#x): Describe(%#x) = %q, the span says %q", addr, lo, hi, a, got, want)
			}
		}
	}
	if forms < 14 {
		t.Errorf("only %d of %d addresses have a span with a where", forms, len(addrs))
	}
}
