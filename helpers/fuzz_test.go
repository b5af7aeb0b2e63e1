package helpers

import (
	"testing"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// FuzzSnprintf feeds arbitrary formats and arguments to the bprintf
// engine; arguments may point into a scratch region holding data.
func FuzzSnprintf(f *testing.F) {
	f.Add("%d %s %pI4 %c", uint64(1), uint64(0), []byte("abc\x00"), 16)
	f.Add("%-08lld|%+5x|%pks", uint64(1<<63), uint64(7), []byte{}, 3)
	f.Fuzz(func(t *testing.T, format string, a0, a1 uint64, data []byte, limit int) {
		b := newBench(t, nil)
		copy(b.buf, data)
		args := []uint64{a0, a1, b.at + a0%256, b.at}
		out, n, errno := bprintf([]byte(format), args, memReader{b.s, b.m}, max(limit, 0)%2048)
		if errno == 0 && (len(out) > n || len(out) > max(limit, 0)%2048) {
			t.Fatalf("output %d bytes, length %d", len(out), n)
		}
	})
}

// FuzzPrintk runs bpf_trace_printk with an arbitrary format buffer and
// fmt_size.
func FuzzPrintk(f *testing.F) {
	f.Add([]byte("x=%d\x00"), uint32(5), uint64(3))
	f.Add([]byte("%s%s%s%s\x00"), uint32(9), uint64(0))
	f.Fuzz(func(t *testing.T, format []byte, size uint32, arg uint64) {
		b := newBench(t, nil)
		n := copy(b.buf, format)
		size %= uint32(len(b.buf)) + 1
		_, err := b.call(asm.FnTracePrintk, b.at, uint64(size), arg, b.at+uint64(n/2), arg>>8)
		if err != nil && size <= uint32(len(b.buf)) {
			t.Fatalf("in-bounds printk failed: %v", err)
		}
	})
}

// FuzzStrtol checks the strtol parser on arbitrary input and flags.
func FuzzStrtol(f *testing.F) {
	f.Add([]byte(" -0x1f"), uint64(0))
	f.Add([]byte("99999999999999999999"), uint64(10))
	f.Fuzz(func(t *testing.T, in []byte, flags uint64) {
		for _, signed := range []bool{true, false} {
			v, n, errno := parseInteger(in, flags, signed)
			if errno == 0 && (n <= 0 || n > len(in)) {
				t.Fatalf("consumed %d of %d bytes", n, len(in))
			}
			if errno != 0 && (v != 0 || n != 0) {
				t.Fatalf("error with value %d", v)
			}
		}
	})
}

// newHelpers are the helpers and kfuncs of the network, base and dynptr
// families, which FuzzNewHelpers calls with arbitrary arguments.
var newHelpers = []asm.BuiltinFunc{
	asm.FnRedirectNeigh, asm.FnRedirectPeer, asm.FnCloneRedirect, asm.FnCheckMtu, asm.FnSkbEcnSetCe,
	asm.FnCsumLevel, asm.FnSkbSetTstamp, asm.FnSkbGetTunnelKey, asm.FnSkbSetTunnelKey, asm.FnSkbGetTunnelOpt,
	asm.FnSkbSetTunnelOpt, asm.FnSkbGetXfrmState, asm.FnSkAssign, asm.FnSkLookupTcp, asm.FnSkFullsock,
	asm.FnTcpRawGenSyncookieIpv4, asm.FnTcpRawCheckSyncookieIpv6, asm.FnGetNsCurrentPidTgid,
	asm.FnPerfEventReadValue, asm.FnCopyFromUser, asm.FnKptrXchg, asm.FnTimerInit, asm.FnTimerSetCallback,
	asm.FnTimerStart, asm.FnTimerCancel, asm.FnDynptrFromMem, asm.FnDynptrRead, asm.FnDynptrWrite,
	asm.FnDynptrData, asm.FnRingbufSubmitDynptr,
	asm.FnSnprintfBtf, asm.FnBtfFindByNameKind, asm.FnKallsymsLookupName, asm.FnSysBpf, asm.FnSysClose,
	asm.FnDPath, asm.FnSockFromFile, asm.FnSkbOutput, asm.FnXdpOutput, asm.FnLwtPushEncap, asm.FnGetLocalStorage,
}

// FuzzNewHelpers calls a helper or kfunc with arguments that point into a
// scratch region holding data, or anywhere: a result or a Go error, never
// a panic.
func FuzzNewHelpers(f *testing.F) {
	f.Add(uint16(0), []byte("\x01\x00\x00\x00\x00\x00\x00\x00\x10"), uint64(8), uint64(16), uint64(20), uint64(0))
	f.Add(uint16(200), make([]byte, 64), uint64(0), uint64(12), uint64(16), uint64(16))
	f.Fuzz(func(t *testing.T, which uint16, data []byte, a1, a2, a3, a4 uint64) {
		b := newBench(t, nil)
		copy(b.buf, data)
		arg := func(v uint64) uint64 {
			if v&1 == 0 { // a pointer into the scratch region
				return b.at + v%uint64(len(b.buf))
			}
			return v >> 1
		}
		kfuncs := Kfuncs()
		n := len(newHelpers) + len(kfuncs)
		i := int(which) % n
		args := vm.Args{arg(a1), arg(a2), arg(a3), arg(a4), arg(a1 ^ a4)}
		if i < len(newHelpers) {
			b.call(newHelpers[i], args[:]...)
			return
		}
		id, _ := KfuncID(kfuncs[i-len(newHelpers)])
		h, _ := b.s.Helper(id)
		h.Fn(b.m, args)
	})
}
