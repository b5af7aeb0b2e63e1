package helpers_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
)

// A differential harness for helpers that take buffers: every call may
// pass pointers into a 64-byte stack buffer, which starts with the
// case's bytes; r0 of each call, then the buffer, land in the output map.
const (
	bufSize  = 64
	bufOff   = -64
	outSlots = 16
	scratch  = 8*outSlots + bufSize // map value scratch area, 64 bytes
	outSize  = scratch + 64
)

// bcall is one helper call. r1 is the context unless noCtx; args[i] is
// an immediate, or an offset into the buffer when ptr has bit i.
type bcall struct {
	fn    asm.BuiltinFunc
	args  [5]int64
	ptr   uint8 // bit i: args[i] (r2+i) is buf+args[i]
	mptr  uint8 // bit i: args[i] is the output map value's scratch+args[i]
	pmap  uint8 // bit i: args[i] is the perf event array (2 slots, none open)
	noCtx bool  // r1 is args[0], r2.. the rest (helpers without ctx)
}

func bufProgram(calls []bcall, buf []byte, fd, perfFD int) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	var b [bufSize]byte
	copy(b[:], buf)
	for i := 0; i < bufSize; i += 8 {
		insns = append(insns,
			asm.LoadImm(asm.R1, int64(binary.LittleEndian.Uint64(b[i:])), asm.DWord),
			asm.StoreMem(asm.RFP, int16(bufOff+i), asm.R1, asm.DWord))
	}
	for i, c := range calls {
		first := asm.R2
		if c.noCtx {
			first = asm.R1
		} else {
			insns = append(insns, asm.Mov.Reg(asm.R1, asm.R6))
		}
		for j, v := range c.args {
			r := first + asm.Register(j)
			if r > asm.R5 {
				break
			}
			if c.pmap&(1<<j) != 0 {
				insns = append(insns, asm.LoadMapPtr(r, perfFD))
				continue
			}
			if c.mptr&(1<<j) != 0 {
				insns = append(insns, asm.LoadMapValue(r, fd, uint32(scratch+v)))
				continue
			}
			if c.ptr&(1<<j) != 0 {
				insns = append(insns, asm.Mov.Reg(r, asm.RFP), asm.Add.Imm(r, int32(bufOff+v)))
			} else {
				insns = append(insns, asm.LoadImm(r, v, asm.DWord))
			}
		}
		insns = append(insns, c.fn.Call(),
			asm.LoadMapValue(asm.R7, fd, 0),
			asm.StoreMem(asm.R7, int16(8*i), asm.R0, asm.DWord))
	}
	insns = append(insns, asm.LoadMapValue(asm.R7, fd, 0))
	for i := 0; i < bufSize; i += 8 {
		insns = append(insns,
			asm.LoadMem(asm.R0, asm.RFP, int16(bufOff+i), asm.DWord),
			asm.StoreMem(asm.R7, int16(8*outSlots+i), asm.R0, asm.DWord))
	}
	return append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
}

type bufOutcome struct {
	out  [outSize]byte
	data []byte
}

func kernelBuf(t *testing.T, typ ebpf.ProgramType, calls []bcall, buf, frame []byte) bufOutcome {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: outSize, MaxEntries: 1})
	if err != nil {
		t.Skipf("bpf() unavailable: %v", err)
	}
	defer m.Close()
	// cilium/ebpf clamps a perf event array to the possible CPUs: keep
	// within 2.
	pm, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	if err != nil {
		t.Skipf("bpf() unavailable: %v", err)
	}
	defer pm.Close()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: typ, Instructions: bufProgram(calls, buf, m.FD(), pm.FD()), License: "GPL"})
	if err != nil {
		t.Fatalf("kernel rejects: %v", err)
	}
	defer p.Close()
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+4096)}
	if _, err := p.Run(opts); err != nil {
		t.Fatal(err)
	}
	var o bufOutcome
	if err := m.Lookup(uint32(0), o.out[:]); err != nil {
		t.Fatal(err)
	}
	o.data = opts.DataOut
	return o
}

func scopeBuf(t *testing.T, env helpers.Env, typ ebpf.ProgramType, calls []bcall, buf, frame []byte) (bufOutcome, *helpers.RunState) {
	t.Helper()
	var code bytes.Buffer
	if err := bufProgram(calls, buf, 0, 1).Marshal(&code, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	p, err := vm.Load("buf", code.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	mp, err := maps.New(&maps.Spec{Name: "out", Type: maps.Array, KeySize: 4, ValueSize: outSize, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := maps.New(&maps.Spec{Name: "perf", Type: maps.PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	hs := helpers.New(env)
	m, err := vm.New(p, vm.Config{Helpers: hs, Maps: []vm.Map{mp, pm}})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := ctx.Lookup(typ)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := prov.New(m, ctx.Input{Data: frame})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(context.Background(), inst.Arg()); err != nil {
		t.Fatal(err)
	}
	var o bufOutcome
	if err := mp.Get([]byte{0, 0, 0, 0}, o.out[:]); err != nil {
		t.Fatal(err)
	}
	o.data = inst.Output().Data
	return o, hs.State(m)
}

// hostEnv answers device questions as this host's network namespace does:
// the kernel side of the differential tests runs there.
type hostEnv struct{ *helpers.DefaultEnv }

func (hostEnv) Netdev(ifindex uint32) (helpers.Netdev, bool) {
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		read := func(f string) string {
			b, _ := os.ReadFile("/sys/class/net/" + e.Name() + "/" + f)
			return strings.TrimSpace(string(b))
		}
		if read("ifindex") != strconv.Itoa(int(ifindex)) {
			continue
		}
		mtu, _ := strconv.Atoi(read("mtu"))
		flags, _ := strconv.ParseUint(read("flags"), 0, 32)
		return helpers.Netdev{Ifindex: ifindex, Name: e.Name(), MTU: uint32(mtu), HardHeaderLen: 14, Up: flags&1 != 0}, true
	}
	return helpers.Netdev{}, false
}

func needKernel(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bpf() unavailable: not root")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skip(err)
	}
}

func frameTOS(tos byte) []byte {
	f := udp4()
	// Rewrite TOS and recompute the IPv4 header checksum.
	f[15] = tos
	f[24], f[25] = 0, 0
	var sum uint32
	for i := 14; i < 34; i += 2 {
		sum += uint32(f[i])<<8 | uint32(f[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(f[24:], ^uint16(sum))
	return f
}

func udp6(tclass byte) []byte {
	f := make([]byte, 14+40+8+8)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd})
	f[14] = 0x60 | tclass>>4
	f[15] = tclass << 4
	binary.BigEndian.PutUint16(f[18:], 16)
	f[20], f[21] = 17, 64
	f[37], f[53] = 1, 2
	binary.BigEndian.PutUint16(f[54:], 1234)
	binary.BigEndian.PutUint16(f[56:], 80)
	binary.BigEndian.PutUint16(f[58:], 16)
	return f
}

// TestNetHelpersKernel compares the redirect, MTU, ECN, checksum-level,
// tunnel, socket-id and cgroup helpers with BPF_PROG_TEST_RUN.
func TestNetHelpersKernel(t *testing.T) {
	needKernel(t)
	key := make([]byte, 44)
	binary.LittleEndian.PutUint32(key[0:], 42)         // tunnel_id
	binary.LittleEndian.PutUint32(key[4:], 0x0a000001) // remote_ipv4
	key[20], key[21] = 3, 64                           // tos, ttl
	binary.LittleEndian.PutUint32(key[28:], 0x0a000002)
	mtu := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	th := make([]byte, 64)
	th[20+12] = 5 << 4 // a TCP header at buf+20, doff 5
	th[0] = 0x45
	cases := []struct {
		name  string
		typ   ebpf.ProgramType
		frame []byte
		buf   []byte
		calls []bcall
	}{
		{"redirect_neigh", ebpf.SchedCLS, udp4(), nil, []bcall{
			{fn: asm.FnRedirectNeigh, args: [5]int64{1, 0, 0, 0}, ptr: 2, noCtx: true},
			{fn: asm.FnRedirectNeigh, args: [5]int64{1, 0, 19, 0}, ptr: 2, noCtx: true},
			{fn: asm.FnRedirectNeigh, args: [5]int64{1, 0, 20, 0}, ptr: 2, noCtx: true},
			{fn: asm.FnRedirectNeigh, args: [5]int64{1, 0, 0, 1}, ptr: 2, noCtx: true},
		}},
		{"redirect_peer", ebpf.SchedCLS, udp4(), nil, []bcall{
			{fn: asm.FnRedirectPeer, args: [5]int64{1, 0}, noCtx: true},
			{fn: asm.FnRedirectPeer, args: [5]int64{1, 1}, noCtx: true},
		}},
		{"clone_redirect", ebpf.SchedCLS, udp4(), nil, []bcall{
			{fn: asm.FnCloneRedirect, args: [5]int64{1, 0}},
			{fn: asm.FnCloneRedirect, args: [5]int64{1, 2}},
			{fn: asm.FnCloneRedirect, args: [5]int64{1 << 20, 0}},
		}},
		{"ecn/not_ect", ebpf.SchedCLS, frameTOS(0x10), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"ecn/ect1", ebpf.SchedCLS, frameTOS(0x11), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"ecn/ect0", ebpf.SchedCLS, frameTOS(0x12), nil, []bcall{{fn: asm.FnSkbEcnSetCe}, {fn: asm.FnSkbEcnSetCe}}},
		{"ecn/ce", ebpf.SchedCLS, frameTOS(0x13), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"ecn/ipv6", ebpf.SchedCLS, udp6(0x02), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"ecn/ipv6_not_ect", ebpf.SchedCLS, udp6(0x20), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"ecn/vlan", ebpf.SchedCLS, vlanFrame(), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"ecn/vlan_ect", ebpf.SchedCLS, func() []byte { f := vlanFrame(); f[19] = 0x12; return f }(), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"ecn/arp", ebpf.SchedCLS, func() []byte { f := frameTOS(2); f[13] = 6; return f }(), nil, []bcall{{fn: asm.FnSkbEcnSetCe}}},
		{"check_mtu/skb", ebpf.SchedCLS, udp4(), mtu(0), []bcall{
			{fn: asm.FnCheckMtu, args: [5]int64{0, 0, 0, 0}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{0, 0, 65536, 0}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{1, 0, -20, 0}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{1 << 20, 0, 0, 0}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{0, 0, 0, 2}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{0, 0, 1, 1}, ptr: 2},
		}},
		{"check_mtu/xdp", ebpf.XDP, udp4(), mtu(1500), []bcall{
			{fn: asm.FnCheckMtu, args: [5]int64{0, 0, 0, 0}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{0, 0, 70000, 0}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{0, 0, 0, 1}, ptr: 2},
			{fn: asm.FnCheckMtu, args: [5]int64{1 << 20, 0, 0, 0}, ptr: 2},
		}},
		{"csum_level", ebpf.SchedCLS, udp4(), nil, []bcall{
			{fn: asm.FnCsumLevel, args: [5]int64{0}},
			{fn: asm.FnCsumLevel, args: [5]int64{1}},
			{fn: asm.FnCsumLevel, args: [5]int64{0}},
			{fn: asm.FnCsumLevel, args: [5]int64{1}},
			{fn: asm.FnCsumLevel, args: [5]int64{1}},
			{fn: asm.FnCsumLevel, args: [5]int64{1}},
			{fn: asm.FnCsumLevel, args: [5]int64{1}},
			{fn: asm.FnCsumLevel, args: [5]int64{0}},
			{fn: asm.FnCsumLevel, args: [5]int64{2}},
			{fn: asm.FnCsumLevel, args: [5]int64{0}},
			{fn: asm.FnCsumLevel, args: [5]int64{3}},
			{fn: asm.FnCsumLevel, args: [5]int64{0}},
			{fn: asm.FnCsumLevel, args: [5]int64{4}},
		}},
		{"tunnel_key", ebpf.SchedCLS, udp4(), key, []bcall{
			{fn: asm.FnSkbGetTunnelOpt, args: [5]int64{48, 16}, ptr: 1},
			{fn: asm.FnSkbSetTunnelOpt, args: [5]int64{48, 8}, ptr: 1},
			{fn: asm.FnSkbSetTunnelKey, args: [5]int64{0, 44, 1 << 5}, ptr: 1},
			{fn: asm.FnSkbSetTunnelKey, args: [5]int64{0, 40, 0}, ptr: 1},
			{fn: asm.FnSkbSetTunnelKey, args: [5]int64{0, 44, 1<<2 | 1<<3}, ptr: 1},
			{fn: asm.FnSkbSetTunnelOpt, args: [5]int64{48, 6}, ptr: 1},
			{fn: asm.FnSkbGetTunnelOpt, args: [5]int64{48, 16}, ptr: 1},
			{fn: asm.FnSkbSetTunnelOpt, args: [5]int64{44, 8}, ptr: 1},
			{fn: asm.FnSkbGetTunnelOpt, args: [5]int64{48, 4}, ptr: 1},
			{fn: asm.FnSkbGetTunnelOpt, args: [5]int64{48, 16}, ptr: 1},
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{0, 44, 1}, ptr: 1},
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{0, 44, 1 << 4}, ptr: 1},
		}},
		{"tunnel_key/get_none", ebpf.SchedCLS, udp4(), key, []bcall{
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{0, 44, 0}, ptr: 1},
		}},
		{"tunnel_key/compat", ebpf.SchedCLS, udp4(), key, []bcall{
			{fn: asm.FnSkbSetTunnelKey, args: [5]int64{0, 28, 0}, ptr: 1},
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{0, 8, 0}, ptr: 1},
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{16, 24, 0}, ptr: 1},
		}},
		{"tunnel_key/ipv6", ebpf.SchedCLS, udp4(), key, []bcall{
			{fn: asm.FnSkbSetTunnelKey, args: [5]int64{0, 44, 1}, ptr: 1},
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{0, 44, 0}, ptr: 1},
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{0, 8, 1}, ptr: 1},
			{fn: asm.FnSkbGetTunnelKey, args: [5]int64{0, 44, 1 | 1<<4}, ptr: 1},
		}},
		{"xfrm_state", ebpf.SchedCLS, udp4(), key, []bcall{
			{fn: asm.FnSkbGetXfrmState, args: [5]int64{0, 0, 20, 0}, ptr: 2},
		}},
		{"skb_ids", ebpf.SchedCLS, udp4(), nil, []bcall{
			{fn: asm.FnGetRouteRealm},
			{fn: asm.FnGetSocketUid},
			{fn: asm.FnSkbCgroupClassid},
			{fn: asm.FnSkbAncestorCgroupId, args: [5]int64{0}},
			{fn: asm.FnSkbAncestorCgroupId, args: [5]int64{1}},
			{fn: asm.FnSkbSetTstamp, args: [5]int64{0, 0}},
			{fn: asm.FnSkbSetTstamp, args: [5]int64{0, 1}},
			{fn: asm.FnSkbSetTstamp, args: [5]int64{5, 2}},
			{fn: asm.FnSkbSetTstamp, args: [5]int64{5, 3}},
		}},
		{"syncookie_raw", ebpf.XDP, udp4(), th, []bcall{
			{fn: asm.FnTcpRawGenSyncookieIpv4, args: [5]int64{0, 20, 19}, ptr: 3, noCtx: true},
			{fn: asm.FnTcpRawGenSyncookieIpv4, args: [5]int64{0, 20, 24}, ptr: 3, noCtx: true},
			{fn: asm.FnTcpRawCheckSyncookieIpv4, args: [5]int64{0, 20}, ptr: 3, noCtx: true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := kernelBuf(t, c.typ, c.calls, c.buf, c.frame)
			got, _ := scopeBuf(t, hostEnv{helpers.NewDefaultEnv()}, c.typ, c.calls, c.buf, c.frame)
			if want.out != got.out {
				t.Errorf("results and buffer\nkernel   %x\nbpfscope %x", want.out, got.out)
			}
			if !bytes.Equal(want.data, got.data) {
				t.Errorf("data_out\nkernel   %x\nbpfscope %x", want.data, got.data)
			}
		})
	}
}

// TestBaseHelpersKernel compares the dynptr helpers over memory and the
// task and snapshot helpers that need no kernel objects.
func TestBaseHelpersKernel(t *testing.T) {
	needKernel(t)
	pattern := make([]byte, 64)
	for i := range pattern {
		pattern[i] = byte(i + 1)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/pid", &st); err != nil {
		t.Skip(err)
	}
	cases := []struct {
		name  string
		calls []bcall
	}{
		{"dynptr", []bcall{
			{fn: asm.FnDynptrFromMem, args: [5]int64{0, 32, 0, -16}, mptr: 1, ptr: 8, noCtx: true},
			{fn: asm.FnDynptrRead, args: [5]int64{32, 8, -16, 4}, ptr: 1 | 4, noCtx: true},
			{fn: asm.FnDynptrRead, args: [5]int64{32, 8, -16, 30}, ptr: 1 | 4, noCtx: true},
			{fn: asm.FnDynptrRead, args: [5]int64{32, 8, -16, 33}, ptr: 1 | 4, noCtx: true},
			{fn: asm.FnDynptrWrite, args: [5]int64{-16, 16, 40, 8}, ptr: 1 | 4, noCtx: true},
			{fn: asm.FnDynptrWrite, args: [5]int64{-16, 28, 40, 8}, ptr: 1 | 4, noCtx: true},
			{fn: asm.FnDynptrRead, args: [5]int64{56, 8, -16, 0}, ptr: 1 | 4, noCtx: true},
		}},
		{"dynptr/flags", []bcall{
			{fn: asm.FnDynptrFromMem, args: [5]int64{0, 32, 1, -16}, mptr: 1, ptr: 8, noCtx: true},
			{fn: asm.FnDynptrRead, args: [5]int64{32, 8, -16, 4}, ptr: 1 | 4, noCtx: true},
			{fn: asm.FnDynptrWrite, args: [5]int64{-16, 0, 40, 8}, ptr: 1 | 4, noCtx: true},
		}},
		{"ns_pid_tgid", []bcall{
			{fn: asm.FnGetNsCurrentPidTgid, args: [5]int64{int64(st.Dev), 1, 0, 8}, ptr: 4, noCtx: true},
			{fn: asm.FnGetNsCurrentPidTgid, args: [5]int64{int64(st.Dev), int64(st.Ino), 8, 4}, ptr: 4, noCtx: true},
			{fn: asm.FnGetNsCurrentPidTgid, args: [5]int64{1 << 40, int64(st.Ino), 16, 8}, ptr: 4, noCtx: true},
		}},
		{"perf_event_read", []bcall{
			{fn: asm.FnPerfEventRead, args: [5]int64{0, 0}, pmap: 1, noCtx: true},
			{fn: asm.FnPerfEventRead, args: [5]int64{0, 1}, pmap: 1, noCtx: true},
			{fn: asm.FnPerfEventRead, args: [5]int64{0, 2}, pmap: 1, noCtx: true},
			{fn: asm.FnPerfEventRead, args: [5]int64{0, 1 << 32}, pmap: 1, noCtx: true},
			{fn: asm.FnPerfEventRead, args: [5]int64{0, 0xffffffff}, pmap: 1, noCtx: true},
			{fn: asm.FnPerfEventReadValue, args: [5]int64{0, 0, 8, 24}, pmap: 1, ptr: 4, noCtx: true},
			{fn: asm.FnPerfEventReadValue, args: [5]int64{0, 9, 32, 24}, pmap: 1, ptr: 4, noCtx: true},
			{fn: asm.FnPerfEventReadValue, args: [5]int64{0, 0, 40, 20}, pmap: 1, ptr: 4, noCtx: true},
		}},
		{"branch_snapshot", []bcall{
			{fn: asm.FnGetBranchSnapshot, args: [5]int64{0, 48, 0}, ptr: 1, noCtx: true},
			{fn: asm.FnGetBranchSnapshot, args: [5]int64{0, 40, 0}, ptr: 1, noCtx: true},
			{fn: asm.FnGetBranchSnapshot, args: [5]int64{0, 48, 1}, ptr: 1, noCtx: true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := kernelBuf(t, ebpf.XDP, c.calls, pattern, udp4())
			got, _ := scopeBuf(t, hostEnv{helpers.NewDefaultEnv()}, ebpf.XDP, c.calls, pattern, udp4())
			if want.out != got.out {
				t.Errorf("results and buffer\nkernel   %x\nbpfscope %x", want.out, got.out)
			}
		})
	}
}
