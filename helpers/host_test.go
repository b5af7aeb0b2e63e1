package helpers

import (
	"encoding/binary"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// bench is a machine with a scratch region for calling helpers directly.
type bench struct {
	t   *testing.T
	s   *Set
	m   *vm.Machine
	buf []byte
	at  uint64 // address of buf
}

func newBench(t *testing.T, env Env, ms ...vm.Map) *bench {
	t.Helper()
	p, err := vm.FromInstructions("bench", asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})
	if err != nil {
		t.Fatal(err)
	}
	s := New(env)
	m, err := vm.New(p, vm.Config{Helpers: s, Maps: ms})
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, s: s, m: m, buf: make([]byte, 256)}
	b.at = m.Map(&vm.Region{Name: "buf", Data: b.buf})
	return b
}

func (b *bench) call(id asm.BuiltinFunc, args ...uint64) (uint64, error) {
	b.t.Helper()
	h, ok := b.s.Helper(int32(id))
	if !ok {
		b.t.Fatalf("%v not implemented", id)
	}
	var a vm.Args
	copy(a[:], args)
	return h.Fn(b.m, a)
}

func (b *bench) ret(id asm.BuiltinFunc, args ...uint64) int64 {
	b.t.Helper()
	r, err := b.call(id, args...)
	if err != nil {
		b.t.Fatalf("%v: %v", id, err)
	}
	return int64(r)
}

func errno(e syscall.Errno) int64 { return -int64(e) }

type testEnv struct {
	*DefaultEnv
	TaskInfo
	Memory
}

func TestTimeAndCPU(t *testing.T) {
	env := &DefaultEnv{Start: 5_000_000_000, Step: 10, Seed: 7, CPUID: 3}
	b := newBench(t, env)
	if got := b.ret(asm.FnKtimeGetNs); got != 5_000_000_000 {
		t.Errorf("ktime_get_ns = %d", got)
	}
	if got := b.ret(asm.FnKtimeGetBootNs); got != 5_000_000_010 {
		t.Errorf("ktime_get_boot_ns = %d", got)
	}
	if got := b.ret(asm.FnJiffies64); got != 5_000_000_020/jiffyNs {
		t.Errorf("jiffies64 = %d", got)
	}
	if got := b.ret(asm.FnGetSmpProcessorId); got != 3 {
		t.Errorf("cpu = %d", got)
	}
	if got := b.ret(asm.FnGetNumaNodeId); got != 0 {
		t.Errorf("numa = %d", got)
	}
	r1, r2 := b.ret(asm.FnGetPrandomU32), b.ret(asm.FnGetPrandomU32)
	again := newBench(t, &DefaultEnv{Seed: 7})
	if again.ret(asm.FnGetPrandomU32) != r1 || again.ret(asm.FnGetPrandomU32) != r2 || r1 == r2 {
		t.Errorf("prandom not reproducible from the seed: %d %d", r1, r2)
	}
}

func TestCurrentTask(t *testing.T) {
	env := testEnv{DefaultEnv: NewDefaultEnv(), TaskInfo: TaskInfo{Pid: 12, Tgid: 10, Uid: 1000, Gid: 100, Name: "averyveryverylongname", Addr: 0xffff0000}}
	b := newBench(t, env)
	if got := b.ret(asm.FnGetCurrentPidTgid); got != 10<<32|12 {
		t.Errorf("pid_tgid = %#x", got)
	}
	if got := b.ret(asm.FnGetCurrentUidGid); got != 100<<32|1000 {
		t.Errorf("uid_gid = %#x", got)
	}
	if got := b.ret(asm.FnGetCurrentTask); got != 0xffff0000 {
		t.Errorf("task = %#x", got)
	}
	// strscpy_pad: at most 15 bytes of comm, NUL-terminated, zero-padded.
	for i := range b.buf {
		b.buf[i] = 0xff
	}
	if got := b.ret(asm.FnGetCurrentComm, b.at, 20); got != 0 {
		t.Errorf("comm ret %d", got)
	}
	if want := "averyveryverylo\x00\x00\x00\x00\x00"; string(b.buf[:20]) != want || b.buf[20] != 0xff {
		t.Errorf("comm = %q", b.buf[:21])
	}
	b.ret(asm.FnGetCurrentComm, b.at, 4)
	if string(b.buf[:4]) != "ave\x00" {
		t.Errorf("short comm = %q", b.buf[:4])
	}
	if got := newBench(t, nil).ret(asm.FnGetCurrentPidTgid); got != int64(DefaultTask.PidTgid()) {
		t.Errorf("default pid_tgid = %#x", got)
	}
}

func TestProbeReadEnv(t *testing.T) {
	const kaddr, uaddr = 0xffff888000001000, 0x7f0000001000
	env := testEnv{DefaultEnv: NewDefaultEnv(), TaskInfo: DefaultTask, Memory: Memory{
		{Addr: kaddr, Data: []byte("kernel\x00data")},
		{Addr: uaddr, Data: []byte("user string"), User: true},
	}}
	b := newBench(t, env)
	cases := []struct {
		fn   asm.BuiltinFunc
		src  uint64
		size uint64
		ret  int64
		out  string
	}{
		{asm.FnProbeReadKernel, kaddr, 4, 0, "kern"},
		{asm.FnProbeReadKernel, kaddr + 8, 8, errno(syscall.EFAULT), "\x00\x00\x00\x00\x00\x00\x00\x00"}, // past the mapping
		{asm.FnProbeReadKernel, uaddr, 4, errno(syscall.ERANGE), "\x00\x00\x00\x00"},                     // a user address
		{asm.FnProbeReadUser, uaddr, 4, 0, "user"},
		{asm.FnProbeReadUser, kaddr, 4, errno(syscall.EFAULT), "\x00\x00\x00\x00"},
		{asm.FnProbeRead, uaddr, 4, 0, "user"},
		{asm.FnProbeRead, kaddr, 4, 0, "kern"},
		{asm.FnProbeReadKernelStr, kaddr, 16, 7, "kernel\x00"},
		{asm.FnProbeReadKernelStr, kaddr, 4, 4, "ker\x00"},
		{asm.FnProbeReadUserStr, uaddr, 32, errno(syscall.EFAULT), "\x00\x00\x00\x00"}, // runs off the mapping
		{asm.FnProbeReadUserStr, uaddr, 5, 5, "user\x00"},
		{asm.FnProbeReadStr, kaddr, 3, 3, "ke\x00"},
		{asm.FnProbeReadUserStr, uaddr, 0, 0, ""},
	}
	for _, tc := range cases {
		for i := range b.buf {
			b.buf[i] = 0xaa
		}
		if got := b.ret(tc.fn, b.at, tc.size, tc.src); got != tc.ret || string(b.buf[:len(tc.out)]) != tc.out {
			t.Errorf("%v(%#x, %d) = %d %q, want %d %q", tc.fn, tc.src, tc.size, got, b.buf[:len(tc.out)], tc.ret, tc.out)
		}
	}
}

// printkHook collects output events.
type printkHook struct{ out []*hooks.Output }

func (h *printkHook) Output(o *hooks.Output) {
	c := *o
	h.out = append(h.out, &c)
}

func TestTracePrintkOutput(t *testing.T) {
	b := newBench(t, nil)
	var h printkHook
	b.m.Attach(&h)
	copy(b.buf, "x=%d s=%s c=%c\x00name\x00")
	n := b.ret(asm.FnTracePrintk, b.at, 15, uint64(1<<32-3), b.at+15, 'Z')
	want := "x=-3 s=name c=Z"
	if n != int64(len(want)) {
		t.Errorf("ret %d, want %d", n, len(want))
	}
	if st := b.s.State(b.m); len(st.Printk) != 1 || st.Printk[0] != want {
		t.Errorf("Printk = %q", st.Printk)
	}
	if len(h.out) != 1 || h.out[0].Kind != "trace_printk" || string(h.out[0].Data) != want {
		t.Errorf("events = %+v", h.out)
	}
	// Not NUL-terminated within fmt_size: -EINVAL.
	if got := b.ret(asm.FnTracePrintk, b.at, 4); got != errno(syscall.EINVAL) {
		t.Errorf("unterminated fmt: %d", got)
	}
	// A long line is cut at 1023 bytes but the length is all of it.
	copy(b.buf, "%02000d\x00")
	if got := b.ret(asm.FnTracePrintk, b.at, 8, 1); got != 2000 {
		t.Errorf("long line ret %d", got)
	}
	if st := b.s.State(b.m); len(st.Printk[1]) != maxBprintfBuf-1 {
		t.Errorf("long line kept %d bytes", len(st.Printk[1]))
	}
	b.s.ResetState(b.m)
	if len(b.s.State(b.m).Printk) != 0 {
		t.Error("ResetState kept lines")
	}
}

func TestBprintfPointersAndIPs(t *testing.T) {
	b := newBench(t, nil)
	copy(b.buf[200:], []byte{192, 168, 1, 2})
	ip6 := []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	copy(b.buf[208:], ip6)
	cases := []struct {
		format string
		args   []uint64
		want   string
	}{
		{"%pI4", []uint64{b.at + 200}, "192.168.1.2"},
		{"%pi4", []uint64{b.at + 200}, "192.168.001.002"},
		{"%pI6", []uint64{b.at + 208}, "2001:0db8:0000:0000:0000:0000:0000:0001"},
		{"%pi6", []uint64{b.at + 208}, "20010db8000000000000000000000001"},
		{"%pI4", []uint64{0}, "0.0.0.0"},
		{"%px", []uint64{0xabc}, "0000000000000abc"},
		{"%p", []uint64{0}, "0000000000000000"},
		{"%pS", []uint64{0xffffffff81000000}, "0xffffffff81000000"},
		{"%pks", []uint64{b.at + 200 - 200}, ""}, // unmapped region 0 page: empty
	}
	for _, tc := range cases {
		out, _, en := bprintf([]byte(tc.format), tc.args, memReader{b.s, b.m}, 100)
		if en != 0 || string(out) != tc.want {
			t.Errorf("%q: %q (errno %d), want %q", tc.format, out, en, tc.want)
		}
	}
}

func TestRedirect(t *testing.T) {
	b := newBench(t, nil) // no XDP context: tc semantics
	if got := b.ret(asm.FnRedirect, 5, 1); got != tcActRedirect {
		t.Errorf("tc redirect = %d", got)
	}
	if r := b.s.State(b.m).Redirect; r == nil || r.Ifindex != 5 || r.Flags != 1 {
		t.Errorf("redirect state = %+v", r)
	}
	if got := b.ret(asm.FnRedirect, 5, 2); got != tcActShot {
		t.Errorf("tc redirect with bad flags = %d", got)
	}
}

// TestRedirectMap checks what bpf_redirect_map records: the devmap
// entry's device, the full index, and no target after a miss.
func TestRedirectMap(t *testing.T) {
	dm, err := maps.New(&maps.Spec{Name: "tx", Type: maps.DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := dm.Put([]byte{1, 0, 0, 0}, []byte{1, 0, 0, 0}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	b := newBench(t, nil, dm)
	h := b.m.MapHandle(dm)
	if got := b.ret(asm.FnRedirectMap, h, 1<<32|1, 0); got != xdpRedirect {
		t.Fatalf("redirect_map = %d", got)
	}
	want := Redirect{Helper: "bpf_redirect_map", Ifindex: 1, Map: "tx", Key: 1<<32 | 1}
	if r := b.s.State(b.m).Redirect; r == nil || *r != want {
		t.Errorf("redirect state = %+v, want %+v", r, want)
	}
	if got := b.ret(asm.FnRedirectMap, h, 2, 2); got != 2 {
		t.Fatalf("redirect_map miss = %d", got)
	}
	if r := b.s.State(b.m).Redirect; r != nil {
		t.Errorf("redirect state after a miss = %+v, want none", r)
	}
	copy(b.buf, []byte{1, 0, 0, 0})
	if _, err := b.call(asm.FnMapDeleteElem, h, b.at); err == nil || !strings.Contains(err.Error(), "verifier") {
		t.Errorf("bpf_map_delete_elem on a devmap: %v, want the verifier's refusal", err)
	}
}

type fibEnv struct {
	*DefaultEnv
	ifindex uint32
}

func (f fibEnv) FibLookup(p *FibParams, flags uint32) int64 {
	p.Ifindex = f.ifindex
	copy(p.Dmac[:], []byte{1, 2, 3, 4, 5, 6})
	return FibRetSuccess
}

func TestFibLookup(t *testing.T) {
	b := newBench(t, nil)
	b.buf[0] = afInet
	if got := b.ret(asm.FnFibLookup, 0, b.at, 64, 0); got != FibRetNotForwarded {
		t.Errorf("default = %d", got)
	}
	if got := b.ret(asm.FnFibLookup, 0, b.at, 63, 0); got != errno(syscall.EINVAL) {
		t.Errorf("short params = %d", got)
	}
	if got := b.ret(asm.FnFibLookup, 0, b.at, 64, 1<<6); got != errno(syscall.EINVAL) {
		t.Errorf("bad flags = %d", got)
	}
	b.buf[0] = 7
	if got := b.ret(asm.FnFibLookup, 0, b.at, 64, 0); got != errno(syscall.EAFNOSUPPORT) {
		t.Errorf("bad family = %d", got)
	}
	b = newBench(t, fibEnv{NewDefaultEnv(), 9})
	b.buf[0] = afInet6
	if got := b.ret(asm.FnFibLookup, 0, b.at, 64, 0); got != FibRetSuccess {
		t.Errorf("injected = %d", got)
	}
	if binary.LittleEndian.Uint32(b.buf[8:]) != 9 || string(b.buf[58:64]) != "\x01\x02\x03\x04\x05\x06" {
		t.Errorf("params not written back: % x", b.buf[:64])
	}
}

func TestSpinLock(t *testing.T) {
	arr, err := maps.New(&maps.Spec{Name: "locked", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	b := newBench(t, nil, arr)
	l0, l1 := b.m.MapValue(arr, 0), b.m.MapValue(arr, 8)
	if got := b.ret(asm.FnSpinLock, l0); got != 0 || arr.Memory()[0] != 1 {
		t.Errorf("lock: %d, word %d", got, arr.Memory()[0])
	}
	if _, err := b.call(asm.FnSpinLock, l1); err == nil || !strings.Contains(err.Error(), "another lock") {
		t.Errorf("nested lock: %v", err)
	}
	if got := b.ret(asm.FnSpinUnlock, l0); got != 0 || arr.Memory()[0] != 0 {
		t.Errorf("unlock: %d", got)
	}
	if _, err := b.call(asm.FnSpinUnlock, l0); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Errorf("double unlock: %v", err)
	}
	if _, err := b.call(asm.FnSpinLock, b.at); err == nil || !strings.Contains(err.Error(), "map value") {
		t.Errorf("lock outside a map: %v", err)
	}
}

func TestLookupPercpu(t *testing.T) {
	arr, err := maps.New(&maps.Spec{Name: "pc", Type: maps.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}, maps.WithPossibleCPUs(2))
	if err != nil {
		t.Fatal(err)
	}
	arr.Put(make([]byte, 4), []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, 0)
	b := newBench(t, nil, arr)
	h := b.m.MapHandle(arr)
	clear(b.buf[:4])
	for cpu, want := range []byte{1, 2} {
		p := b.ret(asm.FnMapLookupPercpuElem, h, b.at, uint64(cpu))
		v, err := b.m.Bytes(uint64(p), 8, false)
		if err != nil || v[0] != want {
			t.Errorf("cpu %d: %v %v", cpu, v, err)
		}
	}
	if got := b.ret(asm.FnMapLookupPercpuElem, h, b.at, 2); got != 0 {
		t.Errorf("cpu beyond possible: %#x", got)
	}
}

type stackEnv struct{ *DefaultEnv }

func (stackEnv) Stack(user bool) []uint64 { return []uint64{0x10, 0x20, 0x30} }

func TestTracingHelpers(t *testing.T) {
	b := newBench(t, nil)
	if got := b.ret(asm.FnGetFuncIp); got != 0 {
		t.Errorf("func_ip = %d", got)
	}
	if got := b.ret(asm.FnGetAttachCookie); got != 0 {
		t.Errorf("cookie = %d", got)
	}
	if got := b.ret(asm.FnSendSignal, 9); got != 0 {
		t.Errorf("send_signal = %d", got)
	}
	if got := b.ret(asm.FnSendSignal, 65); got != errno(syscall.EINVAL) {
		t.Errorf("send_signal(65) = %d", got)
	}
	if s := b.s.State(b.m).Signals; len(s) != 1 || s[0].Sig != 9 {
		t.Errorf("signals = %+v", s)
	}
	if got := b.ret(asm.FnGetStack, 0, b.at, 16, 0); got != errno(syscall.EFAULT) {
		t.Errorf("get_stack without a call chain = %d", got)
	}
	if got := b.ret(asm.FnGetStackid, 0, 0, 1<<12); got != errno(syscall.EINVAL) {
		t.Errorf("get_stackid bad flags = %d", got)
	}
	b = newBench(t, stackEnv{NewDefaultEnv()})
	for i := range b.buf {
		b.buf[i] = 0xff
	}
	if got := b.ret(asm.FnGetStack, 0, b.at, 32, 1); got != 16 {
		t.Errorf("get_stack skip 1 = %d", got)
	}
	if binary.LittleEndian.Uint64(b.buf) != 0x20 || binary.LittleEndian.Uint64(b.buf[8:]) != 0x30 || binary.LittleEndian.Uint64(b.buf[16:]) != 0 {
		t.Errorf("stack = % x", b.buf[:32])
	}
	if got := b.ret(asm.FnGetStack, 0, b.at, 12, 0); got != errno(syscall.EINVAL) {
		t.Errorf("size not a multiple of 8 = %d", got)
	}
}
