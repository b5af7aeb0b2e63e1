package btfvalue

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cilium/ebpf/btf"
)

var (
	u8    = &btf.Int{Name: "unsigned char", Size: 1}
	char  = &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed | btf.Char}
	u16   = &btf.Int{Name: "unsigned short", Size: 2}
	u32   = &btf.Int{Name: "unsigned int", Size: 4}
	s32   = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	u64   = &btf.Int{Name: "unsigned long long", Size: 8}
	be16  = &btf.Typedef{Name: "__be16", Type: &btf.Typedef{Name: "__u16", Type: u16}}
	be32  = &btf.Typedef{Name: "__be32", Type: &btf.Typedef{Name: "__u32", Type: u32}}
	in6   = &btf.Struct{Name: "in6_addr", Size: 16, Members: []btf.Member{{Name: "in6_u", Type: &btf.Union{Size: 16, Members: []btf.Member{{Name: "u6_addr8", Type: &btf.Array{Type: u8, Index: u32, Nelems: 16}}}}}}}
	verd  = &btf.Enum{Name: "verdict", Size: 4, Values: []btf.EnumValue{{Name: "V_PASS", Value: 1}, {Name: "V_DROP", Value: 2}}}
	flowK = &btf.Struct{Name: "flow_key", Size: 16, Members: []btf.Member{
		{Name: "saddr", Type: be32, Offset: 0},
		{Name: "daddr", Type: be32, Offset: 32},
		{Name: "sport", Type: be16, Offset: 64},
		{Name: "dport", Type: be16, Offset: 80},
		{Name: "proto", Type: u8, Offset: 96},
		{Name: "pad", Type: &btf.Array{Type: u8, Index: u32, Nelems: 3}, Offset: 104},
	}}
	flowV = &btf.Struct{Name: "flow_stats", Size: 40, Members: []btf.Member{
		{Name: "packets", Type: u64, Offset: 0},
		{Name: "bytes", Type: u64, Offset: 64},
		{Name: "last", Type: verd, Offset: 128},
		{Name: "mac", Type: &btf.Array{Type: u8, Index: u32, Nelems: 6}, Offset: 160},
		{Name: "flags", Type: u16, Offset: 208, BitfieldSize: 4},
		{Name: "kind", Type: u16, Offset: 212, BitfieldSize: 12},
		{Name: "delta", Type: s32, Offset: 224},
		{Name: "comm", Type: &btf.Array{Type: char, Index: u32, Nelems: 8}, Offset: 256},
	}}
)

func flowKey() []byte {
	return []byte{10, 0, 0, 2, 10, 0, 0, 53, 0x9c, 0x40, 0, 53, 17, 0, 0, 0}
}

func flowValue() []byte {
	v := make([]byte, 40)
	v[0] = 3                                     // packets
	v[8], v[9] = 0x47, 0x01                      // bytes = 327
	v[16] = 2                                    // last = V_DROP
	copy(v[20:], []byte{2, 0, 0, 0, 0, 0xab})    // mac
	v[26], v[27] = 0x5a, 0x01                    // flags = 0xa, kind = 0x15
	copy(v[28:], []byte{0xfe, 0xff, 0xff, 0xff}) // delta = -2
	copy(v[32:], "curl")
	return v
}

func TestText(t *testing.T) {
	for _, c := range []struct {
		t    btf.Type
		data []byte
		want string
	}{
		{flowK, flowKey(), "{saddr=10.0.0.2, daddr=10.0.0.53, sport=40000, dport=53, proto=17}"},
		{flowV, flowValue(), `{packets=3, bytes=327, last=V_DROP, mac=02:00:00:00:00:ab, flags=10, kind=21, delta=-2, comm="curl"}`},
		{be32, []byte{192, 0, 2, 66}, "192.0.2.66"}, // a map's bare __be32 key
		{be16, []byte{0x01, 0xbb}, "443"},
		{u32, []byte{7, 0, 0, 0}, "7"},
		{in6, append([]byte{0x20, 0x01, 0x0d, 0xb8}, append(make([]byte, 11), 1)...), "2001:db8::1"},
		{&btf.Array{Type: u32, Index: u32, Nelems: 6}, []byte{1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "[1, 2, 0 x4]"},
		{verd, []byte{9, 0, 0, 0}, "9"},
		{&btf.Pointer{Target: u8}, []byte{0, 0, 0, 0, 1, 0, 0, 0}, "0x100000000"},
	} {
		got, ok := AppendText(nil, c.t, c.data)
		if !ok || string(got) != c.want {
			t.Errorf("%v: got %q (%v), want %q", c.t, got, ok, c.want)
		}
	}
}

func TestJSON(t *testing.T) {
	got, ok := AppendJSON(nil, flowV, flowValue())
	if !ok || !json.Valid(got) {
		t.Fatalf("%s (%v)", got, ok)
	}
	want := `{"packets":3,"bytes":327,"last":"V_DROP","mac":"02:00:00:00:00:ab","flags":10,"kind":21,"delta":-2,"comm":"curl"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got, _ = AppendJSON(nil, flowK, flowKey())
	if want := `{"saddr":"10.0.0.2","daddr":"10.0.0.53","sport":40000,"dport":53,"proto":17,"pad":[0,0,0]}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	big, _ := AppendJSON(nil, u64, []byte{1, 0, 0, 0, 0, 0, 0, 1})
	if string(big) != `"72057594037927937"` {
		t.Errorf("beyond 2^53: %s", big)
	}
}

func TestSizeMismatch(t *testing.T) {
	if _, ok := AppendText(nil, flowK, make([]byte, 8)); ok {
		t.Error("a 16-byte struct read from 8 bytes")
	}
	if _, ok := AppendJSON(nil, nil, []byte{1}); ok {
		t.Error("nil type decoded")
	}
	if got := AppendTextOrHex(nil, u64, []byte{1, 2}); string(got) != "0102" {
		t.Errorf("got %s", got)
	}
}

func TestPath(t *testing.T) {
	counter := &btf.Struct{Name: "counter", Size: 16, Members: []btf.Member{{Name: "packets", Type: u64}, {Name: "bytes", Type: u64, Offset: 64}}}
	cfg := &btf.Struct{Name: "config", Size: 12, Members: []btf.Member{{Name: "max_frame_len", Type: u32}, {Name: "ports", Type: &btf.Array{Type: u16, Index: u32, Nelems: 4}, Offset: 32}}}
	bss := &btf.Datasec{Name: ".bss", Size: 72, Vars: []btf.VarSecinfo{
		{Type: &btf.Var{Name: "bytes_seen", Type: u64}, Offset: 0, Size: 8},
		{Type: &btf.Var{Name: "counters", Type: &btf.Array{Type: counter, Index: u32, Nelems: 4}}, Offset: 8, Size: 64},
	}}
	rodata := &btf.Datasec{Name: ".rodata", Size: 12, Vars: []btf.VarSecinfo{{Type: &btf.Var{Name: "cfg", Type: cfg}, Offset: 0, Size: 12}}}
	for _, c := range []struct {
		t         btf.Type
		off, size int
		want      string
	}{
		{bss, 0, 8, "bytes_seen"},
		{bss, 8 + 3*16 + 8, 8, "counters[3].bytes"},
		{bss, 8 + 16, 8, "counters[1].packets"},
		{bss, 4, 4, "bytes_seen+4"},
		{rodata, 0, 4, "cfg.max_frame_len"},
		{rodata, 6, 2, "cfg.ports[1]"},
		{flowV, 8, 8, ".bytes"},
		{flowV, 26, 1, ".flags"},
		{flowV, 22, 1, ".mac[2]"},
		{flowK, 0, 8, ".saddr"}, // spans two members: named where it starts
		{flowK, 0, 16, ""},      // the whole key
		{bss, 8 + 16, 16, "counters[1]"},
		{flowK, 100, 1, "+100"},
		{in6, 3, 1, ".in6_u.u6_addr8[3]"},
	} {
		if got := Path(c.t, uint32(c.off), c.size); got != c.want {
			t.Errorf("%v at %d+%d: got %q, want %q", c.t, c.off, c.size, got, c.want)
		}
	}
	// A section whose variables are unknown names nothing.
	if got := Path(&btf.Datasec{Name: ".bss", Size: 16}, 8, 8); got != "+8" {
		t.Errorf("empty DATASEC: %q", got)
	}
}

// marshal encodes types as raw BTF, as an object or a trace file holds it.
func marshal(tb testing.TB, ts ...btf.Type) []byte {
	var b btf.Builder
	for _, t := range ts {
		if _, err := b.Add(t); err != nil {
			tb.Fatal(err)
		}
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// FuzzDecoders reads arbitrary bytes as every type of arbitrary BTF: no
// panic, JSON that parses, text and paths for every offset.
func FuzzDecoders(f *testing.F) {
	f.Add(marshal(f, flowK, flowV, in6), flowValue(), uint16(26), uint8(2))
	f.Add(marshal(f, &btf.Datasec{Name: ".bss", Size: 8, Vars: []btf.VarSecinfo{{Type: &btf.Var{Name: "x", Type: u64}, Size: 8}}}), make([]byte, 8), uint16(0), uint8(8))
	f.Fuzz(func(t *testing.T, raw, data []byte, off uint16, size uint8) {
		spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
		if err != nil {
			return
		}
		for typ := range spec.All() {
			n := Size(typ)
			if n >= 0 && n <= 1<<16 {
				buf := make([]byte, n)
				copy(buf, data)
				if _, ok := AppendText(nil, typ, buf); !ok {
					t.Fatalf("%v: %d bytes refused", typ, n)
				}
				j, ok := AppendJSON(nil, typ, buf)
				if !ok || !json.Valid(j) {
					t.Fatalf("%v: invalid JSON %q", typ, j)
				}
			}
			AppendText(nil, typ, data)
			Path(typ, uint32(off), int(size))
		}
	})
}
