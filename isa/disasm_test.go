package isa

import (
	"strings"
	"testing"
)

// disasmCases pairs encodings with the text kernel/bpf/disasm.c prints for
// them (print_bpf_insn's format strings), and bpftool's print_imm for the
// ld_imm64 pseudo sources.
var disasmCases = []struct {
	insns []Insn
	text  string
}{
	// ALU: "%c%d %s %d" and "%c%d %s %s%c%d".
	{[]Insn{{Op: 0xb7, Dst: 0, Imm: 1}}, "r0 = 1"},
	{[]Insn{{Op: 0xb7, Dst: 2, Imm: -1}}, "r2 = -1"},
	{[]Insn{{Op: 0x0f, Dst: 0, Src: 1}}, "r0 += r1"},
	{[]Insn{{Op: 0x04, Dst: 0, Imm: 1}}, "w0 += 1"},
	{[]Insn{{Op: 0x1c, Dst: 3, Src: 4}}, "w3 -= w4"},
	{[]Insn{{Op: 0x27, Dst: 1, Imm: 3}}, "r1 *= 3"},
	{[]Insn{{Op: 0x37, Dst: 1, Imm: 3}}, "r1 /= 3"},
	{[]Insn{{Op: 0x4f, Dst: 1, Src: 2}}, "r1 |= r2"},
	{[]Insn{{Op: 0x57, Dst: 1, Imm: 255}}, "r1 &= 255"},
	{[]Insn{{Op: 0x67, Dst: 1, Imm: 32}}, "r1 <<= 32"},
	{[]Insn{{Op: 0x77, Dst: 1, Imm: 32}}, "r1 >>= 32"},
	{[]Insn{{Op: 0x9c, Dst: 1, Src: 2}}, "w1 %= w2"},
	{[]Insn{{Op: 0xaf, Dst: 1, Src: 1}}, "r1 ^= r1"},
	{[]Insn{{Op: 0xbc, Dst: 1, Src: 2}}, "w1 = w2"},
	{[]Insn{{Op: 0xc7, Dst: 1, Imm: 63}}, "r1 s>>= 63"},
	{[]Insn{{Op: 0x87, Dst: 0}}, "r0 = -r0"},
	{[]Insn{{Op: 0x84, Dst: 5}}, "w5 = -w5"},
	{[]Insn{{Op: 0x3f, Dst: 0, Src: 1, Off: 1}}, "r0 s/= r1"},
	{[]Insn{{Op: 0x97, Dst: 0, Off: 1, Imm: 3}}, "r0 s%= 3"},
	{[]Insn{{Op: 0x34, Dst: 0, Off: 1, Imm: -3}}, "w0 s/= -3"},
	{[]Insn{{Op: 0xbf, Dst: 0, Src: 1, Off: 8}}, "r0 = (s8)r1"},
	{[]Insn{{Op: 0xbf, Dst: 0, Src: 1, Off: 32}}, "r0 = (s32)r1"},
	{[]Insn{{Op: 0xbc, Dst: 0, Src: 1, Off: 16}}, "w0 = (s16)w1"},
	{[]Insn{{Op: 0xbf, Dst: 1, Src: 2, Off: 1, Imm: 1}}, "r1 = addr_space_cast(r2, 0, 1)"},
	// Byte swaps: "r%d = %s%d r%d" and "r%d = bswap%d r%d".
	{[]Insn{{Op: 0xdc, Dst: 0, Imm: 16}}, "r0 = be16 r0"},
	{[]Insn{{Op: 0xd4, Dst: 0, Imm: 32}}, "r0 = le32 r0"},
	{[]Insn{{Op: 0xd7, Dst: 0, Imm: 64}}, "r0 = bswap64 r0"},
	// Jumps: "if %c%d %s 0x%x goto pc%+d", "goto pc%+d", "gotol pc%+d".
	{[]Insn{{Op: 0x2d, Dst: 1, Src: 2, Off: 3}}, "if r1 > r2 goto pc+3"},
	{[]Insn{{Op: 0xc6, Dst: 1, Off: -2, Imm: 5}}, "if w1 s< 0x5 goto pc-2"},
	{[]Insn{{Op: 0x15, Dst: 1, Imm: -1}}, "if r1 == 0xffffffff goto pc+0"},
	{[]Insn{{Op: 0x45, Dst: 1, Imm: 8}}, "if r1 & 0x8 goto pc+0"},
	{[]Insn{{Op: 0x5e, Dst: 1, Src: 2, Off: 1}}, "if w1 != w2 goto pc+1"},
	{[]Insn{{Op: 0x7d, Dst: 1, Src: 2, Off: 1}}, "if r1 s>= r2 goto pc+1"},
	{[]Insn{{Op: 0xbd, Dst: 1, Src: 2, Off: 1}}, "if r1 <= r2 goto pc+1"},
	{[]Insn{{Op: 0xd5, Dst: 1, Off: 1}}, "if r1 s<= 0x0 goto pc+1"},
	{[]Insn{{Op: 0xa5, Dst: 1, Off: 1, Imm: 10}}, "if r1 < 0xa goto pc+1"},
	{[]Insn{{Op: 0x65, Dst: 1, Off: 1, Imm: 10}}, "if r1 s> 0xa goto pc+1"},
	{[]Insn{{Op: 0x35, Dst: 1, Off: 1, Imm: 10}}, "if r1 >= 0xa goto pc+1"},
	{[]Insn{{Op: 0x05, Off: 1}}, "goto pc+1"},
	{[]Insn{{Op: 0x05, Off: -1}}, "goto pc-1"},
	{[]Insn{{Op: 0x06, Imm: 100}}, "gotol pc+100"},
	{[]Insn{{Op: 0xe5, Off: 2}}, "may_goto pc+2"},
	// Calls: "call %s#%d" and "call pc%s".
	{[]Insn{{Op: 0x85, Imm: 1}}, "call bpf_map_lookup_elem#1"},
	{[]Insn{{Op: 0x85, Imm: 5}}, "call bpf_ktime_get_ns#5"},
	{[]Insn{{Op: 0x85, Imm: 211}}, "call bpf_cgrp_storage_delete#211"},
	{[]Insn{{Op: 0x85, Imm: 212}}, "call unknown#212"},
	{[]Insn{{Op: 0x85, Src: 1, Imm: 5}}, "call pc+5"},
	{[]Insn{{Op: 0x85, Src: 2, Imm: 123}}, "call kernel-function#123"},
	{[]Insn{{Op: 0x8d, Dst: 2}}, "callx r2"},
	{[]Insn{{Op: 0x95}}, "exit"},
	// Loads and stores: "r%d = *(%s *)(r%d %+d)", "*(%s *)(r%d %+d) = ...".
	{[]Insn{{Op: 0x61, Dst: 0, Src: 1, Off: 4}}, "r0 = *(u32 *)(r1 +4)"},
	{[]Insn{{Op: 0x79, Dst: 0, Src: 10, Off: -8}}, "r0 = *(u64 *)(r10 -8)"},
	{[]Insn{{Op: 0x91, Dst: 0, Src: 1, Off: -1}}, "r0 = *(s8 *)(r1 -1)"},
	{[]Insn{{Op: 0x81, Dst: 0, Src: 1}}, "r0 = *(s32 *)(r1 +0)"},
	{[]Insn{{Op: 0x7b, Dst: 10, Src: 1, Off: -8}}, "*(u64 *)(r10 -8) = r1"},
	{[]Insn{{Op: 0x6a, Dst: 10, Off: -2, Imm: 7}}, "*(u16 *)(r10 -2) = 7"},
	{[]Insn{{Op: 0x72, Dst: 1, Imm: -1}}, "*(u8 *)(r1 +0) = -1"},
	// Atomics.
	{[]Insn{{Op: 0xdb, Dst: 10, Src: 1, Off: -8, Imm: 0x00}}, "lock *(u64 *)(r10 -8) += r1"},
	{[]Insn{{Op: 0xc3, Dst: 10, Src: 1, Off: -4, Imm: 0x50}}, "lock *(u32 *)(r10 -4) &= r1"},
	{[]Insn{{Op: 0xdb, Dst: 10, Src: 1, Off: -8, Imm: 0x01}}, "r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)"},
	{[]Insn{{Op: 0xc3, Dst: 10, Src: 3, Off: -8, Imm: 0xa1}}, "r3 = atomic_fetch_xor((u32 *)(r10 -8), r3)"},
	{[]Insn{{Op: 0xdb, Dst: 10, Src: 1, Off: -8, Imm: 0xf1}}, "r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r1)"},
	{[]Insn{{Op: 0xc3, Dst: 2, Src: 1, Imm: 0xe1}}, "r1 = atomic_xchg((u32 *)(r2 +0), r1)"},
	{[]Insn{{Op: 0xdb, Dst: 0, Src: 1, Imm: 0x100}}, "r0 = load_acquire((u64 *)(r1 +0))"},
	{[]Insn{{Op: 0xd3, Dst: 0, Src: 1, Off: 2, Imm: 0x100}}, "r0 = load_acquire((u8 *)(r1 +2))"},
	{[]Insn{{Op: 0xc3, Dst: 1, Src: 2, Imm: 0x110}}, "store_release((u32 *)(r1 +0), r2)"},
	// ld_imm64, with bpftool's spelling of the pseudo sources.
	{[]Insn{{Op: 0x18, Dst: 1, Imm: 0x1234}, {}}, "r1 = 0x1234"},
	{[]Insn{{Op: 0x18, Dst: 1, Imm: -1}, {Imm: -1}}, "r1 = 0xffffffffffffffff"},
	{[]Insn{{Op: 0x18, Dst: 1, Src: 1, Imm: 3}, {}}, "r1 = map[id:3]"},
	{[]Insn{{Op: 0x18, Dst: 1, Src: 2, Imm: 3}, {Imm: 8}}, "r1 = map[id:3][0]+8"},
	{[]Insn{{Op: 0x18, Dst: 1, Src: 4, Imm: 7}, {}}, "r1 = subprog[+7]"},
	{[]Insn{{Op: 0x18, Dst: 1, Src: 3, Imm: 9}, {}}, "r1 = btf_id[9]"},
	{[]Insn{{Op: 0x18, Dst: 1, Src: 5, Imm: 0}, {}}, "r1 = map[idx:0]"},
	{[]Insn{{Op: 0x18, Dst: 1, Src: 6, Imm: 1}, {Imm: 16}}, "r1 = map[idx:1][0]+16"},
	// Packet loads: "r0 = *(%s *)skb[%d]" and "r0 = *(%s *)skb[r%d + %d]".
	{[]Insn{{Op: 0x28, Imm: 12}}, "r0 = *(u16 *)skb[12]"},
	{[]Insn{{Op: 0x50, Src: 7, Imm: 14}}, "r0 = *(u8 *)skb[r7 + 14]"},
	{[]Insn{{Op: 0x40, Src: 7, Imm: -4}}, "r0 = *(u32 *)skb[r7 + -4]"},
	// Encodings Linux rejects.
	{[]Insn{{Op: 0xff}}, ".insn 0x00000000000000ff"},
	{[]Insn{{Op: 0x95, Imm: 1}}, ".insn 0x0000000100000095"},
	{[]Insn{{Op: 0xb7, Src: 1, Imm: 1}}, ".insn 0x00000001000010b7"},
	{[]Insn{{Op: 0x0f, Dst: 1, Src: 2, Imm: 1}}, ".insn 0x000000010000210f"},
	{[]Insn{{Op: 0x8f, Dst: 1, Src: 2}}, ".insn 0x000000000000218f"}, // neg with X
	{[]Insn{{Op: 0xdf, Dst: 1, Imm: 16}}, ".insn 0x00000010000001df"},
	{[]Insn{{Op: 0xd4, Dst: 1, Imm: 8}}, ".insn 0x00000008000001d4"},
	{[]Insn{{Op: 0xbc, Dst: 0, Src: 1, Off: 32}}, ".insn 0x00000000002010bc"}, // w0 = (s32)w1
	{[]Insn{{Op: 0x99, Dst: 0, Src: 1}}, ".insn 0x0000000000001099"},          // ldxsdw
	{[]Insn{{Op: 0xd3, Dst: 1, Src: 2}}, ".insn 0x00000000000021d3"},          // 8-bit atomic add
	{[]Insn{{Op: 0xdb, Dst: 1, Src: 2, Imm: 0x02}}, ".insn 0x00000002000021db"},
	{[]Insn{{Op: 0x85, Src: 3, Imm: 1}}, ".insn 0x0000000100003085"},
	{[]Insn{{Op: 0x0d, Dst: 1}}, ".insn 0x000000000000010d"}, // gotox is Linux 6.19
	{[]Insn{{Op: 0x18, Dst: 1}}, ".insn 0x0000000000000118"}, // no second slot
	{[]Insn{{Op: 0x38, Imm: 1}}, ".insn 0x0000000100000038"}, // LD_ABS of a doubleword
}

func TestFormat(t *testing.T) {
	for _, c := range disasmCases {
		if got := Format(c.insns, 0); got != c.text {
			t.Errorf("%v: got %q, want %q", c.insns, got, c.text)
		}
	}
}

func TestDisassemble(t *testing.T) {
	prog := []Insn{
		{Op: 0xb7, Dst: 0, Imm: 1},
		{Op: 0x18, Dst: 1, Imm: 0x1234}, {},
		{Op: 0x18, Dst: 2, Imm: 1}, {Op: 0x95}, // bad second slot
		{Op: 0x95},
	}
	want := "0: (b7) r0 = 1\n" +
		"1: (18) r1 = 0x1234\n" +
		"3: (18) .insn 0x0000000100000218\n" +
		"4: (95) exit\n" +
		"5: (95) exit\n"
	if got := Disassemble(prog); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatOutOfRange(t *testing.T) {
	if Format(nil, 0) != "" || Format([]Insn{{Op: 0x95}}, -1) != "" {
		t.Error("out-of-range pc should format as empty text")
	}
}

func TestHelperName(t *testing.T) {
	for id, want := range map[int32]string{
		0: "bpf_unspec", 1: "bpf_map_lookup_elem", 6: "bpf_trace_printk",
		7: "bpf_get_prandom_u32", 10: "bpf_l3_csum_replace", 12: "bpf_tail_call",
		118: "bpf_jiffies64", 136: "bpf_skc_to_tcp6_sock", 147: "bpf_d_path",
		181: "bpf_loop", 204: "bpf_tcp_raw_gen_syncookie_ipv4",
		-1: "unknown", 212: "unknown",
	} {
		if got := HelperName(id); got != want {
			t.Errorf("HelperName(%d) = %q, want %q", id, got, want)
		}
		if id, ok := HelperID(want); want != "unknown" && (!ok || HelperName(id) != want) {
			t.Errorf("HelperID(%q) = %d, %v", want, id, ok)
		}
	}
}

func TestDisassembleAllOpcodesNeverPanics(t *testing.T) {
	var prog []Insn
	for op := 0; op < 256; op++ {
		for _, f := range []Insn{{}, {Dst: 15, Src: 15, Off: -1, Imm: -1}, {Src: 1, Imm: 1}} {
			f.Op = uint8(op)
			prog = append(prog, f)
		}
	}
	if n := strings.Count(Disassemble(prog), "\n"); n == 0 {
		t.Error("no output")
	}
}
