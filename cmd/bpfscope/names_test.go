package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// The objects of testdata/names (build.sh) hold one program built four
// ways. The sample's first packet is 10.0.0.2:40000 > 10.0.0.53:53 UDP, 71
// bytes; names.c says what the program does with it.

func traceNames(t *testing.T, obj string, extra ...string) string {
	t.Helper()
	args := append([]string{"trace", "--pcap", "../../examples/progs/sample.pcap", "--packet", "1"}, extra...)
	out, errs, code := bpfscope(t, append(args, filepath.Join("testdata", "names", obj))...)
	if code != 0 || errs != "" {
		t.Fatalf("%s: exit status %d, stderr:\n%s", obj, code, errs)
	}
	return out
}

func TestNamesFromBTF(t *testing.T) {
	key := "{saddr=10.0.0.2, daddr=10.0.0.53, sport=40000, dport=53, proto=17}"
	for _, obj := range []string{"names.o", "names-nodwarf.o"} {
		out := traceNames(t, obj)
		for _, want := range []string{
			"  global .rodata {cfg={max_frame_len=1500, ports=[53, 80, 0, 0]}}",
			"  global .data.hits {hits=7}",
			"load u32 cfg.max_frame_len = 1500",
			"store u64 bytes_seen: 0 -> 71",
			"store u64 counters[3].bytes: 0 -> 71",
			"store u32 hits: 7 -> 8",
			"load u8 pkt+23 ipv4.protocol = 17",
			"load u32 pkt+26 ipv4.src = 33554442",
			"load u16 pkt+36 udp.dst_port = 13568",
			"map flows lookup key=" + key + " miss",
			"map flows update key=" + key + " value={packets=0, bytes=0, last=V_PASS, mac=02:00:00:00:00:02, flags=0, kind=5}",
			"store u64 map flows[" + key + "].packets: 0 -> 1",
			"store u64 map flows[" + key + "].bytes: 0 -> 71",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in the trace:\n%s", obj, want, out)
			}
		}
	}
}

// TestNamesWithoutBTF: no BTF (built without -g, or removed) leaves the raw
// names, without an error or a wrong name; packets are still dissected
// (and names-nobtf.o's DWARF still names its locals: "key.saddr").
func TestNamesWithoutBTF(t *testing.T) {
	for _, obj := range []string{"names-nog.o", "names-nobtf.o"} {
		out := traceNames(t, obj)
		for _, want := range []string{
			"load u32 map .rodata[0] = 1500",
			"store u32 map .data.hits[0]: 7 -> 8",
			"map flows lookup key=0a0000020a0000359c40003511000000 miss",
			"store u64 map flows{0a0000020a0000359c40003511000000}: 0 -> 1",
			"load u32 pkt+26 ipv4.src = 33554442",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in the trace:\n%s", obj, want, out)
			}
		}
		for _, wrong := range []string{"global ", "{saddr=", "max_frame_len", "counters"} {
			if strings.Contains(out, wrong) {
				t.Errorf("%s: %q in a trace without BTF:\n%s", obj, wrong, out)
			}
		}
	}
}

func TestNamesJSON(t *testing.T) {
	out := traceNames(t, "names.o", "--format", "json")
	var sawKey, sawName, sawPkt bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		switch {
		case ev["ev"] == "map" && ev["map"] == "flows":
			k, ok := ev["key_decoded"].(map[string]any)
			if !ok || k["saddr"] != "10.0.0.2" || k["dport"] != 53.0 || ev["key"] != "0a0000020a0000359c40003511000000" {
				t.Errorf("map event: %s", line)
			}
			sawKey = true
		case ev["ev"] == "access" && ev["where"] == "map .bss[0]":
			sawName = sawName || ev["name"] == "bytes_seen"
		case ev["ev"] == "access" && ev["where"] == "pkt+36":
			sawPkt = ev["name"] == "udp.dst_port"
		}
	}
	if !sawKey || !sawName || !sawPkt {
		t.Errorf("decoded key %v, global name %v, packet field %v in:\n%s", sawKey, sawName, sawPkt, out)
	}
}

// TestNamesRecorded: a trace file keeps the names and the maps' BTF, so
// dump prints what trace printed.
func TestNamesRecorded(t *testing.T) {
	file := filepath.Join(t.TempDir(), "names.bpft")
	traceNames(t, "names.o", "--record", file)
	out, errs, code := bpfscope(t, "dump", file)
	if code != 0 {
		t.Fatalf("dump: %d %s", code, errs)
	}
	for _, want := range []string{
		"store u64 counters[3].bytes: 0 -> 71",
		"load u16 pkt+36 udp.dst_port = 13568",
		"map flows lookup key={saddr=10.0.0.2, daddr=10.0.0.53, sport=40000, dport=53, proto=17} miss",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the dump:\n%s", want, out)
		}
	}
}

// TestLocalsFromDWARF: with -g, the text trace names C variables next to
// registers and stack slots; stripped DWARF or --locals=false names none,
// and --raw turns every name off.
func TestLocalsFromDWARF(t *testing.T) {
	out := traceNames(t, "names.o")
	for _, want := range []string{
		"r7=71 (len)",
		"store u32 fp-16 (key.saddr): 0 -> 33554442",
		"store u32 fp-12 (key.daddr): 0 -> 889192458",
		"store u8 fp-23 (init.mac[5]): 0 -> 2",
		"helper load 16B fp-16 (key) = ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the trace:\n%s", want, out)
		}
	}
	for _, c := range []struct {
		obj  string
		args []string
	}{
		{"names-nodwarf.o", nil},
		{"names.o", []string{"--locals=false"}},
		{"names.o", []string{"--raw"}},
	} {
		out := traceNames(t, c.obj, c.args...)
		if strings.Contains(out, "(len)") || strings.Contains(out, "(key)") {
			t.Errorf("%s %v: variable names:\n%s", c.obj, c.args, out)
		}
		if !strings.Contains(out, "r7=71\n") && !strings.Contains(out, "r7=71 ") {
			t.Errorf("%s %v: no r7=71:\n%s", c.obj, c.args, out)
		}
	}
	raw := traceNames(t, "names.o", "--raw")
	for _, want := range []string{"load u32 map .rodata[0] = 1500", "load u16 pkt+36 = 13568", "key=0a0000020a0000359c40003511000000"} {
		if !strings.Contains(raw, want) {
			t.Errorf("--raw: no %q:\n%s", want, raw)
		}
	}
}
