package helpers

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"

	"github.com/bpfscope/bpfscope/maps"
	"github.com/cilium/ebpf/asm"
)

// Differential tests: each program runs in bpfscope and in the kernel and
// must give the same r0 and output map contents.

// printfArg is a bpf_snprintf/trace_vprintk argument: a number, or a
// string placed on the stack and passed by address.
type printfArg struct {
	n   uint64
	str string
}

func num(n uint64) printfArg    { return printfArg{n: n} }
func str(s string) printfArg    { return printfArg{str: s} }
func (a printfArg) isStr() bool { return a.str != "" }

// Stack layout of the printf programs.
const (
	outOff  = -64  // output buffer, 64 bytes
	argsOff = -160 // u64 args, up to 12
	strOff  = -416 // string args, 32 bytes each, up to 8
)

// argSetup stores the argument array at argsOff and the strings they point
// to at strOff.
func argSetup(args []printfArg) asm.Instructions {
	var insns asm.Instructions
	for i, a := range args {
		if a.isStr() {
			so := int16(strOff + 32*i)
			insns = append(insns, storeBytes(so, append([]byte(a.str), make([]byte, 32-len(a.str))...))...)
			insns = append(insns,
				asm.Mov.Reg(asm.R1, asm.RFP),
				asm.Add.Imm(asm.R1, int32(so)),
				asm.StoreMem(asm.RFP, int16(argsOff+8*i), asm.R1, asm.DWord))
			continue
		}
		insns = append(insns,
			asm.LoadImm(asm.R1, int64(a.n), asm.DWord),
			asm.StoreMem(asm.RFP, int16(argsOff+8*i), asm.R1, asm.DWord))
	}
	return insns
}

// snprintfCases are run in both; invalid formats the verifier refuses at
// load time (bpf_snprintf's format is constant), so for those bpfscope
// must answer -EINVAL at run time.
var snprintfCases = []struct {
	format  string
	args    []printfArg
	size    int32
	invalid bool
}{
	{"hello", nil, 64, false},
	{"%d %i %u", []printfArg{num(1<<32 - 5), num(42), num(1<<32 - 1)}, 64, false},
	{"%ld %lld %lu", []printfArg{num(1<<64 - 5), num(1 << 40), num(1<<64 - 1)}, 64, false},
	{"%x %X %lx %llx", []printfArg{num(0xdeadbeef), num(0xabc), num(1<<64 - 1), num(0x1234)}, 64, false},
	{"[%5d][%-5d][%05d][%+d][% d]", []printfArg{num(42), num(42), num(1<<32 - 42), num(7), num(7)}, 64, false},
	{"[%08lx][%-8x][%3u]", []printfArg{num(0xabc), num(0xabc), num(12345)}, 64, false},
	{"%s and %s!", []printfArg{str("first"), str("second")}, 64, false},
	{"[%10s][%-10s]", []printfArg{str("abc"), str("xyz")}, 64, false},
	{"%c%c%c", []printfArg{num('a'), num('b'), num('c')}, 64, false},
	{"100%% %d", []printfArg{num(5)}, 64, false},
	{"%px %pK", []printfArg{num(0x1234), num(0)}, 64, false},
	{"truncated output %d", []printfArg{num(123456)}, 8, false},
	{"nothing fits", nil, 0, false},
	{"long %d", []printfArg{num(1)}, 1, false},
	{"%d", nil, 64, true},                          // too few args: -EINVAL
	{"%hd", []printfArg{num(1)}, 64, true},         // unsupported length
	{"%.2d", []printfArg{num(1)}, 64, true},        // precision
	{"%sx", []printfArg{str("a")}, 64, true},       // %s followed by a letter
	{"%pI4", []printfArg{num(0)}, 64, false},       // unreadable address: zeros
	{"%z", []printfArg{num(1)}, 64, true},          // unknown conversion
	{"tab\there", nil, 64, false},                  // whitespace is allowed
	{"%d %d", []printfArg{num(1)}, 64, true},       // more specs than args
	{"%d", []printfArg{num(1), num(2)}, 64, false}, // more args than specs: fine
	{"%", []printfArg{num(1)}, 64, true},
	{"%-+ 07d|", []printfArg{num(1<<32 - 3)}, 64, false},
}

func TestSnprintfKernel(t *testing.T) {
	for _, tc := range snprintfCases {
		t.Run(fmt.Sprintf("%q", tc.format), func(t *testing.T) {
			o := oracle{
				maps: []oracleMap{outMap(64), rodata(tc.format)},
				build: func(fd func(int) int) asm.Instructions {
					insns := storeBytes(outOff, make([]byte, 64))
					insns = append(insns, argSetup(tc.args)...)
					insns = append(insns,
						asm.Mov.Reg(asm.R1, asm.RFP),
						asm.Add.Imm(asm.R1, outOff),
						asm.Mov.Imm(asm.R2, tc.size),
						asm.LoadMapValue(asm.R3, fd(1), 0),
						asm.Mov.Reg(asm.R4, asm.RFP),
						asm.Add.Imm(asm.R4, argsOff),
						asm.Mov.Imm(asm.R5, int32(8*len(tc.args))),
					)
					if len(tc.args) == 0 {
						insns = append(insns, asm.Mov.Imm(asm.R4, 0))
					}
					insns = append(insns, asm.FnSnprintf.Call())
					return append(insns, copyOut(fd(0), outOff, 64)...)
				},
			}
			if tc.invalid {
				got, _, _, _ := o.runVM(t, nil)
				if int32(got.ret) != -int32(syscall.EINVAL) {
					t.Errorf("r0 %d, want -EINVAL", int32(got.ret))
				}
				if _, _, err := o.kernelLoad(t); err == nil {
					t.Errorf("the kernel accepted format %q", tc.format)
				}
				return
			}
			o.compare(t)
		})
	}
}

// TestTracePrintkKernel compares bpf_trace_printk's return value: the
// length of the formatted line, or -EINVAL.
func TestTracePrintkKernel(t *testing.T) {
	cases := []struct {
		format string
		args   [3]uint64
	}{
		{"hello\n", [3]uint64{}},
		{"a=%d b=%u c=%x\n", [3]uint64{1<<32 - 1, 7, 255}},
		{"%lld %llu %llx", [3]uint64{1<<64 - 1, 1<<64 - 1, 1<<64 - 1}},
		{"%d %d %d %d", [3]uint64{1, 2, 3}}, // four specs: -EINVAL
		{"%5c|%-3c|", [3]uint64{'x', 'y'}},
		{"%p", [3]uint64{0}},
		{"%px", [3]uint64{0xffff}},
		{"%s", [3]uint64{0}}, // NULL string: empty
		{"%q", [3]uint64{}},
		{"%020d", [3]uint64{5}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.format), func(t *testing.T) {
			fmtBytes := append([]byte(tc.format), 0)
			o := oracle{
				maps: []oracleMap{outMap(8)},
				build: func(fd func(int) int) asm.Instructions {
					insns := storeBytes(-64, fmtBytes)
					return append(insns,
						asm.Mov.Reg(asm.R1, asm.RFP),
						asm.Add.Imm(asm.R1, -64),
						asm.Mov.Imm(asm.R2, int32(len(fmtBytes))),
						asm.LoadImm(asm.R3, int64(tc.args[0]), asm.DWord),
						asm.LoadImm(asm.R4, int64(tc.args[1]), asm.DWord),
						asm.LoadImm(asm.R5, int64(tc.args[2]), asm.DWord),
						asm.FnTracePrintk.Call(),
						asm.Return(),
					)
				},
			}
			o.compare(t)
		})
	}
}

func TestStrtolKernel(t *testing.T) {
	cases := []struct {
		in    string
		flags uint64
	}{
		{"123", 0}, {"  -42xyz", 10}, {"0x1f", 0}, {"0x1f", 16}, {"1f", 16}, {"017", 0},
		{"019", 0}, {"-", 0}, {"", 0}, {"abc", 10}, {"99999999999999999999", 10},
		{"9223372036854775807", 0}, {"9223372036854775808", 0}, {"-9223372036854775808", 0},
		{"-9223372036854775809", 0}, {"18446744073709551615", 10}, {"10", 2}, {"10", 1 << 5},
		{"0x", 16}, {"0xg", 0}, {"\t\n 7", 0}, {"12\x0034", 0}, {"-0", 0}, {"0X1A", 0},
	}
	for _, signed := range []bool{true, false} {
		for _, tc := range cases {
			name := fmt.Sprintf("strtoul(%q,%d)", tc.in, tc.flags)
			fn := asm.FnStrtoul
			if signed {
				name, fn = "strtol"+name[7:], asm.FnStrtol
			}
			t.Run(name, func(t *testing.T) {
				buf := []byte(tc.in)
				size := len(buf)
				if size == 0 {
					size = 1 // ARG_CONST_SIZE must not be 0; buf is then "\0"
				}
				o := oracle{
					maps: []oracleMap{outMap(8)},
					build: func(fd func(int) int) asm.Instructions {
						insns := storeBytes(-64, buf)
						if len(buf) == 0 {
							insns = storeBytes(-64, make([]byte, 8))
						}
						insns = append(insns, stDW(asm.RFP, -8, 0x5555))
						insns = append(insns,
							asm.Mov.Reg(asm.R1, asm.RFP),
							asm.Add.Imm(asm.R1, -64),
							asm.Mov.Imm(asm.R2, int32(size)),
							asm.LoadImm(asm.R3, int64(tc.flags), asm.DWord),
							asm.Mov.Reg(asm.R4, asm.RFP),
							asm.Add.Imm(asm.R4, -8),
							fn.Call(),
						)
						return append(insns, copyOut(fd(0), -8, 8)...)
					},
				}
				o.compare(t)
			})
		}
	}
}

func TestStrncmpKernel(t *testing.T) {
	cases := []struct{ s1, s2 string }{
		{"abc", "abc"}, {"abd", "abc"}, {"abb", "abc"}, {"ab", "abc"}, {"abcd", "abc"}, {"", ""}, {"a\x00z", "a"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q,%q", tc.s1, tc.s2), func(t *testing.T) {
			s1 := append([]byte(tc.s1), 0)
			o := oracle{
				maps: []oracleMap{outMap(8), rodata(tc.s2)},
				build: func(fd func(int) int) asm.Instructions {
					return append(storeBytes(-64, s1),
						asm.Mov.Reg(asm.R1, asm.RFP),
						asm.Add.Imm(asm.R1, -64),
						asm.Mov.Imm(asm.R2, int32(len(s1))),
						asm.LoadMapValue(asm.R3, fd(1), 0),
						asm.FnStrncmp.Call(),
						asm.Return(),
					)
				},
			}
			o.compare(t)
		})
	}
}

// TestLoopKernel runs bpf_loop with a callback that counts its calls in
// ctx and stops at index stop.
func TestLoopKernel(t *testing.T) {
	cases := []struct {
		nr, stop int64
		flags    int32
	}{
		{0, -1, 0}, {5, -1, 0}, {5, 2, 0}, {1000, 999, 0}, {3, -1, 1}, {8<<20 + 1, -1, 0}, {100000, -1, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("nr=%d,stop=%d,flags=%d", tc.nr, tc.stop, tc.flags), func(t *testing.T) {
			o := oracle{
				maps: []oracleMap{outMap(8)},
				build: func(fd func(int) int) asm.Instructions {
					insns := asm.Instructions{
						stDW(asm.RFP, -8, 0),
						asm.LoadImm(asm.R1, tc.nr, asm.DWord),
						funcPtr(asm.R2, "cb"),
						asm.Mov.Reg(asm.R3, asm.RFP),
						asm.Add.Imm(asm.R3, -8),
						asm.Mov.Imm(asm.R4, tc.flags),
						asm.FnLoop.Call(),
					}
					insns = append(insns, copyOut(fd(0), -8, 8)...)
					return append(insns,
						// cb(i, ctx): *ctx += 1; return i == stop
						asm.LoadMem(asm.R3, asm.R2, 0, asm.DWord).WithSymbol("cb"),
						asm.Add.Imm(asm.R3, 1),
						asm.StoreMem(asm.R2, 0, asm.R3, asm.DWord),
						asm.Mov.Imm(asm.R0, 0),
						asm.JNE.Imm(asm.R1, int32(tc.stop), "ret"),
						asm.Mov.Imm(asm.R0, 1),
						asm.Return().WithSymbol("ret"),
					)
				},
			}
			o.compare(t)
		})
	}
}

// TestForEachMapElemKernel sums values in a callback, stopping at a key.
func TestForEachMapElemKernel(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	array := oracleMap{spec: maps.Spec{Name: "arr", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 6}}
	for i := range uint32(6) {
		array.entries = append(array.entries, [2][]byte{u32(i), u64(uint64(i) * 10)})
	}
	hash := oracleMap{spec: maps.Spec{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16}}
	for _, k := range []uint32{3, 9, 27} {
		hash.entries = append(hash.entries, [2][]byte{u32(k), u64(uint64(k))})
	}
	cases := []struct {
		name  string
		m     oracleMap
		stop  int32
		flags int32
	}{
		{"array-all", array, -1, 0},
		{"array-stop", array, 2, 0},
		{"array-flags", array, -1, 1},
		{"hash-all", hash, -1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := oracle{
				maps: []oracleMap{outMap(8), tc.m},
				build: func(fd func(int) int) asm.Instructions {
					insns := asm.Instructions{
						stDW(asm.RFP, -8, 0),
						asm.LoadMapPtr(asm.R1, fd(1)),
						funcPtr(asm.R2, "cb"),
						asm.Mov.Reg(asm.R3, asm.RFP),
						asm.Add.Imm(asm.R3, -8),
						asm.Mov.Imm(asm.R4, tc.flags),
						asm.FnForEachMapElem.Call(),
					}
					insns = append(insns, copyOut(fd(0), -8, 8)...)
					return append(insns,
						// cb(map, key, value, ctx): *ctx += *value; return *key == stop
						asm.LoadMem(asm.R5, asm.R3, 0, asm.DWord).WithSymbol("cb"),
						asm.LoadMem(asm.R0, asm.R4, 0, asm.DWord),
						asm.Add.Reg(asm.R0, asm.R5),
						asm.StoreMem(asm.R4, 0, asm.R0, asm.DWord),
						asm.LoadMem(asm.R1, asm.R2, 0, asm.Word),
						asm.Mov.Imm(asm.R0, 0),
						asm.JNE.Imm(asm.R1, tc.stop, "ret"),
						asm.Mov.Imm(asm.R0, 1),
						asm.Return().WithSymbol("ret"),
					)
				},
			}
			o.compare(t)
		})
	}
}

// TestRingbufKernel reserves, submits, discards and outputs, then records
// each helper's result and the ring's positions.
func TestRingbufKernel(t *testing.T) {
	rb := oracleMap{spec: maps.Spec{Name: "rb", Type: maps.RingBuf, MaxEntries: 4096}}
	o := oracle{
		maps: []oracleMap{outMap(80), rb},
		build: func(fd func(int) int) asm.Instructions {
			res := func(slot int16) asm.Instruction { return asm.StoreMem(asm.RFP, -80+8*slot, asm.R0, asm.DWord) }
			insns := storeBytes(-80, make([]byte, 80))
			insns = append(insns, storeBytes(-144, []byte("payload!payload2"))...)
			insns = append(insns,
				// reserve(rb, 24, 0) -> write, submit
				asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Imm(asm.R2, 24), asm.Mov.Imm(asm.R3, 0),
				asm.FnRingbufReserve.Call(),
				asm.JEq.Imm(asm.R0, 0, "fail"),
				stDW(asm.R0, 0, 0x11),
				stDW(asm.R0, 8, 0x22),
				stDW(asm.R0, 16, 0x33),
				asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R2, 0),
				asm.FnRingbufSubmit.Call(),
			)
			// reserve with flags 1 -> NULL
			insns = append(insns, reserveResult(fd(1), 8, 1, res(0), "null1")...)
			insns = append(insns,
				// reserve 5 and discard
				asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Imm(asm.R2, 5), asm.Mov.Imm(asm.R3, 0),
				asm.FnRingbufReserve.Call(),
				asm.JEq.Imm(asm.R0, 0, "fail"),
				asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R2, 1),
				asm.FnRingbufDiscard.Call(),
				// output 16 bytes, then with a bad flag
				asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -144),
				asm.Mov.Imm(asm.R3, 16), asm.Mov.Imm(asm.R4, 0),
				asm.FnRingbufOutput.Call(),
				res(1),
				asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -144),
				asm.Mov.Imm(asm.R3, 16), asm.Mov.Imm(asm.R4, 4),
				asm.FnRingbufOutput.Call(),
				res(2),
			)
			// too large for the ring: NULL
			insns = append(insns, reserveResult(fd(1), 4096, 0, res(3), "null2")...)
			for i, q := range []int32{0, 1, 2, 3, 9} {
				insns = append(insns,
					asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Imm(asm.R2, q),
					asm.FnRingbufQuery.Call(),
					res(int16(4+i)))
			}
			insns = append(insns, asm.Mov.Imm(asm.R0, 2))
			insns = append(insns, copyOut(fd(0), -80, 80)...)
			return append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("fail"), asm.Return())
		},
	}
	got := o.compare(t)
	if got.ret != 2 {
		t.Errorf("ret %d, want 2", got.ret)
	}
}

// reserveResult reserves size bytes and stores, with store, 1 if that
// succeeded (discarding the record) and 0 if it returned NULL.
func reserveResult(fd int, size, flags int32, store asm.Instruction, label string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, fd), asm.Mov.Imm(asm.R2, size), asm.Mov.Imm(asm.R3, flags),
		asm.FnRingbufReserve.Call(),
		asm.Mov.Imm(asm.R6, 0),
		asm.JEq.Imm(asm.R0, 0, label),
		asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufDiscard.Call(),
		asm.Mov.Imm(asm.R6, 1),
		asm.Mov.Reg(asm.R0, asm.R6).WithSymbol(label),
		store,
	}
}

// TestQueueKernel pushes past capacity, with and without BPF_EXIST, then
// pops and peeks, for a queue and a stack.
func TestQueueKernel(t *testing.T) {
	for _, typ := range []maps.Type{maps.Queue, maps.Stack} {
		t.Run(typ.String(), func(t *testing.T) {
			q := oracleMap{spec: maps.Spec{Name: "q", Type: typ, ValueSize: 8, MaxEntries: 2}}
			o := oracle{
				maps: []oracleMap{outMap(96), q},
				build: func(fd func(int) int) asm.Instructions {
					res := func(slot int16) asm.Instruction {
						return asm.StoreMem(asm.RFP, -96+8*slot, asm.R0, asm.DWord)
					}
					insns := storeBytes(-96, make([]byte, 96))
					push := func(v, flags int32, slot int16) {
						insns = append(insns,
							stDW(asm.RFP, -104, int64(v)),
							asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -104),
							asm.Mov.Imm(asm.R3, flags),
							asm.FnMapPushElem.Call(), res(slot))
					}
					take := func(fn asm.BuiltinFunc, slot int16) {
						insns = append(insns,
							stDW(asm.RFP, -112, 0x77),
							asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -112),
							fn.Call(), res(slot),
							asm.LoadMem(asm.R0, asm.RFP, -112, asm.DWord), res(slot+1))
					}
					push(1, 0, 0)
					push(2, 0, 1)
					push(3, 0, 2) // full: -E2BIG
					push(4, 2, 3) // BPF_EXIST: drop the oldest
					push(5, 1, 4) // BPF_NOEXIST: -EINVAL
					take(asm.FnMapPeekElem, 5)
					take(asm.FnMapPopElem, 7)
					take(asm.FnMapPopElem, 9)
					// empty now: -ENOENT and a zeroed value
					insns = append(insns,
						stDW(asm.RFP, -112, 0x77),
						asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -112),
						asm.FnMapPopElem.Call(), asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
						asm.LoadMem(asm.R0, asm.RFP, -112, asm.DWord), asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord))
					return append(insns, copyOut(fd(0), -96, 96)...)
				},
			}
			o.compare(t)
		})
	}
}

// TestProbeReadKernel reads NULL and an address in the program's stack
// with bpf_probe_read_kernel(_str).
func TestProbeReadKernel(t *testing.T) {
	for _, fn := range []asm.BuiltinFunc{asm.FnProbeReadKernel, asm.FnProbeReadKernelStr} {
		t.Run(fn.String(), func(t *testing.T) {
			o := oracle{
				maps: []oracleMap{outMap(32)},
				build: func(fd func(int) int) asm.Instructions {
					insns := storeBytes(-32, []byte("0123456789abcdefXXXXXXXXXXXXXXXX"))
					insns = append(insns, storeBytes(-48, []byte("stack str\x00zzzzzz"))...)
					insns = append(insns,
						// NULL: -ERANGE on x86-64 (below the kernel half), dst zeroed
						asm.Mov.Reg(asm.R1, asm.RFP), asm.Add.Imm(asm.R1, -32), asm.Mov.Imm(asm.R2, 8), asm.Mov.Imm(asm.R3, 0),
						fn.Call(),
						asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord),
						// from the stack: a copy, or the string with its NUL
						asm.Mov.Reg(asm.R1, asm.RFP), asm.Add.Imm(asm.R1, -16), asm.Mov.Imm(asm.R2, 16),
						asm.Mov.Reg(asm.R3, asm.RFP), asm.Add.Imm(asm.R3, -48),
						fn.Call(),
					)
					return append(insns, copyOut(fd(0), -32, 32)...)
				},
			}
			o.compare(t)
		})
	}
}

// TestRedirectKernel checks XDP's bpf_redirect and the devmap miss path of
// bpf_redirect_map.
func TestRedirectKernel(t *testing.T) {
	for _, flags := range []int32{0, 1} {
		t.Run(fmt.Sprintf("redirect-flags=%d", flags), func(t *testing.T) {
			o := oracle{build: func(fd func(int) int) asm.Instructions {
				return asm.Instructions{asm.Mov.Imm(asm.R1, 1), asm.Mov.Imm(asm.R2, flags), asm.FnRedirect.Call(), asm.Return()}
			}}
			o.compare(t)
		})
	}
}

// TestRedirectMapKernel calls bpf_redirect_map on a devmap, a cpumap and an
// xskmap with hits, misses, a 64-bit index, broadcast and unknown flags,
// and reads a devmap entry with bpf_map_lookup_elem.
func TestRedirectMapKernel(t *testing.T) {
	dev := oracleMap{spec: maps.Spec{Name: "dev", Type: maps.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 4},
		entries: [][2][]byte{{le32(1), le32(1)}}}
	cpu := oracleMap{spec: maps.Spec{Name: "cpu", Type: maps.CPUMap, KeySize: 4, ValueSize: 8, MaxEntries: 1},
		entries: [][2][]byte{{le32(0), append(le32(64), le32(0)...)}}}
	xsk := oracleMap{spec: maps.Spec{Name: "xsk", Type: maps.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 2}}
	calls := []struct {
		m            int
		index, flags int64
	}{
		{1, 1, 0},             // devmap hit
		{1, 2, 2},             // miss: XDP_PASS
		{1, 1<<32 | 1, 0},     // the index is truncated to the u32 key
		{1, 3, flagBroadcast}, // broadcast: no lookup
		{1, 3, flagBroadcast | flagExcludeIngress | 1},
		{1, 2, flagExcludeIngress | 3}, // miss: XDP_TX
		{1, 1, 1 << 6},                 // unknown flag: XDP_ABORTED
		{2, 0, 0},                      // cpumap hit
		{2, 5, 1},                      // miss: XDP_DROP
		{2, 0, flagBroadcast},          // no broadcast on cpumaps
		{3, 0, 2},                      // empty xskmap: XDP_PASS
		{3, 1, flagExcludeIngress},     // not an xskmap flag
	}
	o := oracle{
		maps: []oracleMap{outMap(8 * 14), dev, cpu, xsk},
		build: func(fd func(int) int) asm.Instructions {
			insns := storeBytes(-112, make([]byte, 112))
			for i, c := range calls {
				insns = append(insns,
					asm.LoadMapPtr(asm.R1, fd(c.m)),
					asm.LoadImm(asm.R2, c.index, asm.DWord),
					asm.LoadImm(asm.R3, c.flags, asm.DWord),
					asm.FnRedirectMap.Call(),
					asm.StoreMem(asm.RFP, int16(-112+8*i), asm.R0, asm.DWord))
			}
			// The devmap entry as a program reads it: struct bpf_devmap_val.
			insns = append(insns,
				asm.StoreImm(asm.RFP, -120, 1, asm.Word),
				asm.LoadMapPtr(asm.R1, fd(1)), asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -120),
				asm.FnMapLookupElem.Call(),
				asm.JEq.Imm(asm.R0, 0, "miss"),
				asm.LoadMem(asm.R0, asm.R0, 0, asm.Word),
				asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord).WithSymbol("miss"),
				asm.Mov.Imm(asm.R0, 4))
			return append(insns, copyOut(fd(0), -112, 112)...)
		},
	}
	o.compare(t)
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
