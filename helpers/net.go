package helpers

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/bpfscope/bpfscope/ctx"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

// Helpers of the tc and XDP programs that act on the packet's way through
// the stack: redirects, MTU checks, tunnel metadata, ECN, checksum level,
// sockets. What they read of kernel state (devices, sockets, cgroups)
// comes from the Env (netenv.go).

// Helper ids cilium/ebpf v0.22 names after the kernel.
const (
	fnCheckMtu = asm.FnCheckMtu
)

func init() {
	skb := func(id asm.BuiltinFunc, name string, fn func(s *Set, m *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error)) {
		register(id, name, func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
			k, err := skbArg(m, a[0])
			if err != nil {
				return 0, err
			}
			return fn(s, m, k, a)
		})
	}
	register(asm.FnRedirectNeigh, "bpf_redirect_neigh", redirectNeigh)
	register(asm.FnRedirectPeer, "bpf_redirect_peer", redirectPeer)
	skb(asm.FnCloneRedirect, "bpf_clone_redirect", cloneRedirect)
	register(fnCheckMtu, "bpf_check_mtu", checkMTU)
	skb(asm.FnSkbEcnSetCe, "bpf_skb_ecn_set_ce", ecnSetCE)
	skb(asm.FnCsumLevel, "bpf_csum_level", csumLevel)
	skb(asm.FnSkbSetTstamp, "bpf_skb_set_tstamp", setTstamp)
	skb(asm.FnGetRouteRealm, "bpf_get_route_realm", func(*Set, *vm.Machine, *ctx.SKB, vm.Args) (uint64, error) {
		return 0, nil // a test-run skb has no route (skb_dst is NULL)
	})
	skb(asm.FnSkbGetTunnelKey, "bpf_skb_get_tunnel_key", getTunnelKey)
	skb(asm.FnSkbSetTunnelKey, "bpf_skb_set_tunnel_key", setTunnelKey)
	skb(asm.FnSkbGetTunnelOpt, "bpf_skb_get_tunnel_opt", getTunnelOpt)
	skb(asm.FnSkbSetTunnelOpt, "bpf_skb_set_tunnel_opt", setTunnelOpt)
	skb(asm.FnSkbGetXfrmState, "bpf_skb_get_xfrm_state", func(_ *Set, m *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
		// No sec_path on a test-run skb.
		return clearRet(m, a[2], a[3], syscall.EINVAL)
	})
	skb(asm.FnGetSocketUid, "bpf_get_socket_uid", func(*Set, *vm.Machine, *ctx.SKB, vm.Args) (uint64, error) {
		// sock_net_uid of the test runner's socket: its sk_uid, 0 as
		// sock_init_data leaves it without a struct socket.
		return 0, nil
	})
	skb(asm.FnSkbCgroupClassid, "bpf_skb_cgroup_classid", func(s *Set, _ *vm.Machine, _ *ctx.SKB, _ vm.Args) (uint64, error) {
		return uint64(s.skbEnv().CgroupClassid()), nil
	})
	skb(asm.FnSkbAncestorCgroupId, "bpf_skb_ancestor_cgroup_id", func(s *Set, _ *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
		return ancestor(s.cgroups(true), int32(a[1])), nil
	})
	skb(asm.FnSkbUnderCgroup, "bpf_skb_under_cgroup", func(_ *Set, m *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
		mp, err := mapArg(m, a[1])
		if err != nil {
			return 0, err
		}
		if uint32(a[2]) >= mp.Spec().MaxEntries {
			return neg(syscall.E2BIG), nil
		}
		return neg(syscall.EAGAIN), nil // a user-space run holds no cgroups in the array
	})
	register(asm.FnGetNetnsCookie, "bpf_get_netns_cookie", func(s *Set, _ *vm.Machine, _ vm.Args) (uint64, error) {
		return s.netnsCookie(), nil
	})
	register(asm.FnSkAssign, "bpf_sk_assign", skAssign)
	register(asm.FnSkCgroupId, "bpf_sk_cgroup_id", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		if !isTestRunSock(m, a[0]) {
			return 0, nil
		}
		p := s.cgroups(true)
		return p[len(p)-1], nil
	})
	register(asm.FnSkAncestorCgroupId, "bpf_sk_ancestor_cgroup_id", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		if !isTestRunSock(m, a[0]) {
			return 0, nil
		}
		return ancestor(s.cgroups(true), int32(a[1])), nil
	})
	for _, l := range []struct {
		id   asm.BuiltinFunc
		name string
	}{{asm.FnSkLookupTcp, "bpf_sk_lookup_tcp"}, {asm.FnSkLookupUdp, "bpf_sk_lookup_udp"}, {asm.FnSkcLookupTcp, "bpf_skc_lookup_tcp"}} {
		register(l.id, l.name, func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) { return skLookup(s, m, a, l.name) })
	}
	register(asm.FnSkRelease, "bpf_sk_release", func(*Set, *vm.Machine, vm.Args) (uint64, error) { return 0, nil })
	register(asm.FnSkFullsock, "bpf_sk_fullsock", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		if isTestRunSock(m, a[0]) {
			return a[0], nil // TCP_CLOSE: a full socket
		}
		return 0, nil
	})
	// The test runner's socket is neither TCP nor listening.
	register(asm.FnTcpSock, "bpf_tcp_sock", func(*Set, *vm.Machine, vm.Args) (uint64, error) { return 0, nil })
	register(asm.FnGetListenerSock, "bpf_get_listener_sock", func(*Set, *vm.Machine, vm.Args) (uint64, error) { return 0, nil })
	register(asm.FnTcpCheckSyncookie, "bpf_tcp_check_syncookie", func(*Set, *vm.Machine, vm.Args) (uint64, error) {
		return neg(syscall.EINVAL), nil
	})
	register(asm.FnTcpGenSyncookie, "bpf_tcp_gen_syncookie", func(*Set, *vm.Machine, vm.Args) (uint64, error) {
		return neg(syscall.EINVAL), nil
	})
	register(asm.FnTcpRawGenSyncookieIpv4, "bpf_tcp_raw_gen_syncookie_ipv4", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return rawGenSyncookie(s, m, a, 20)
	})
	register(asm.FnTcpRawGenSyncookieIpv6, "bpf_tcp_raw_gen_syncookie_ipv6", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return rawGenSyncookie(s, m, a, 40)
	})
	register(asm.FnTcpRawCheckSyncookieIpv4, "bpf_tcp_raw_check_syncookie_ipv4", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return rawCheckSyncookie(s, m, a, 20)
	})
	register(asm.FnTcpRawCheckSyncookieIpv6, "bpf_tcp_raw_check_syncookie_ipv6", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return rawCheckSyncookie(s, m, a, 40)
	})
}

// clearRet zeroes the program's buffer and returns -e, the helpers' usual
// failure path.
func clearRet(m *vm.Machine, addr, size uint64, e syscall.Errno) (uint64, error) {
	b, err := m.Bytes(addr, int(uint32(size)), true)
	if err != nil {
		return 0, err
	}
	clear(b)
	return neg(e), nil
}

// ancestor is cgroup_ancestor's id at level (root 0), 0 past the cgroup.
func ancestor(path []uint64, level int32) uint64 {
	if level < 0 || int(level) >= len(path) {
		return 0
	}
	return path[level]
}

// isTestRunSock reports whether addr is the test runner's socket, as the
// program reads it from __sk_buff.sk.
func isTestRunSock(m *vm.Machine, addr uint64) bool {
	r, off, ok := m.RegionAt(addr)
	return ok && off == 0 && r.Name == "bpf_sock"
}

// skAssign is tc's bpf_sk_assign(skb, sk, flags) and sk_lookup's
// bpf_sk_lookup_assign(ctx, sk, flags).
func skAssign(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	if _, err := skbArg(m, a[0]); err == nil {
		if a[1] == 0 || a[2] != 0 {
			return neg(syscall.EINVAL), nil
		}
		return neg(syscall.EOPNOTSUPP), nil // a test-run skb is not at tc ingress
	}
	const replace, noReuseport = 1 << 0, 1 << 1
	if a[2]&^uint64(replace|noReuseport) != 0 {
		return neg(syscall.EINVAL), nil
	}
	if a[1] != 0 {
		// Only NULL can reach it: the lookups find no socket and
		// socket maps are not modelled.
		return 0, fmt.Errorf("bpf_sk_lookup_assign: sockets are not modelled")
	}
	return 0, nil // no socket selected before or after
}

// Redirect flags of bpf_redirect_neigh and peer (BPF_F_NEIGH, BPF_F_PEER,
// BPF_F_NEXTHOP in bpf_redirect_info).
const (
	redirNeigh   = 1 << 1
	redirPeer    = 1 << 2
	redirNexthop = 1 << 3
	redirNeighSz = 20 // sizeof(struct bpf_redir_neigh)
)

// redirectNeigh is bpf_redirect_neigh(ifindex, params, plen, flags):
// TC_ACT_SHOT for flags or a short params, else TC_ACT_REDIRECT with the
// target (and next hop) in the RunState.
func redirectNeigh(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	plen := uint32(a[2])
	if plen != 0 && plen < redirNeighSz || a[3] != 0 {
		return tcActShot, nil
	}
	r := &Redirect{Helper: "bpf_redirect_neigh", Ifindex: uint32(a[0]), Flags: redirNeigh}
	if plen != 0 {
		nh, err := m.Bytes(a[1], redirNeighSz, false)
		if err != nil {
			return 0, err
		}
		r.Flags |= redirNexthop
		copy(r.Nexthop[:], nh)
	}
	s.State(m).Redirect = r
	return tcActRedirect, nil
}

// redirectPeer is bpf_redirect_peer(ifindex, flags).
func redirectPeer(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	if a[1] != 0 {
		return tcActShot, nil
	}
	s.State(m).Redirect = &Redirect{Helper: "bpf_redirect_peer", Ifindex: uint32(a[0]), Flags: redirPeer}
	return tcActRedirect, nil
}

// cloneRedirect is bpf_clone_redirect(skb, ifindex, flags): -EINVAL for
// flags other than BPF_F_INGRESS or a device the namespace lacks; the
// clone is sent at once, so its result is the device's: 0 when it is up,
// -ENETDOWN (egress) or NET_RX_DROP (ingress) when it is down. The clone
// is recorded in RunState.Clones.
func cloneRedirect(s *Set, m *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
	ifindex, flags := uint32(a[1]), a[2]
	if flags&^flagIngress != 0 {
		return neg(syscall.EINVAL), nil
	}
	dev, ok := s.netdev(ifindex)
	if !ok {
		return neg(syscall.EINVAL), nil
	}
	st := s.State(m)
	st.Clones = append(st.Clones, Clone{Ifindex: ifindex, Flags: flags, Data: append([]byte(nil), k.Data()...)})
	switch {
	case dev.Up:
		return 0, nil
	case flags&flagIngress != 0:
		return 1, nil // NET_RX_DROP
	}
	return neg(syscall.ENETDOWN), nil
}

// MTU check results and flags (BPF_MTU_CHK_*).
const (
	mtuChkSegs       = 1
	mtuRetFragNeeded = 1
)

// checkMTU is bpf_check_mtu(ctx, ifindex, mtu_len*, len_diff, flags), the
// skb and XDP variants: ifindex 0 is the context's device.
func checkMTU(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	mtuLen, err := m.Bytes(a[2], 4, true)
	if err != nil {
		return 0, err
	}
	ifindex, diff, flags := uint32(a[1]), int32(a[3]), a[4]
	in := binary.NativeEndian.Uint32(mtuLen)
	var length int32
	k, kerr := skbArg(m, a[0])
	if kerr == nil {
		if flags&^mtuChkSegs != 0 || flags&mtuChkSegs != 0 && (diff != 0 || in != 0) {
			return neg(syscall.EINVAL), nil
		}
		if ifindex == 0 {
			ifindex = k.Ifindex
		}
		length = int32(k.Len())
	} else {
		x, err := xdpArg(m, a[0])
		if err != nil {
			return 0, fmt.Errorf("%#x (%s) is neither an __sk_buff nor an xdp_md pointer", a[0], m.Describe(a[0]))
		}
		if flags != 0 {
			return neg(syscall.EINVAL), nil
		}
		if ifindex == 0 {
			v, _ := x.Load(xdpIngressIfindexOff, 4)
			ifindex = uint32(v)
		}
		length = int32(len(x.Data())) // bpf_xdp_check_mtu: the linear part only
	}
	dev, ok := s.netdev(ifindex)
	if !ok {
		return neg(syscall.ENODEV), nil
	}
	if in != 0 {
		length = int32(in + dev.HardHeaderLen)
	}
	length += diff
	ret := uint64(0)
	if length > int32(dev.MTU+dev.HardHeaderLen) {
		ret = mtuRetFragNeeded // test-run skbs are never GSO
	}
	binary.NativeEndian.PutUint32(mtuLen, dev.MTU)
	return ret, nil
}

const xdpIngressIfindexOff = 12 // struct xdp_md.ingress_ifindex

// ecnSetCE is bpf_skb_ecn_set_ce (INET_ECN_set_ce): marks an ECN-capable
// IPv4 or IPv6 packet Congestion Experienced, fixing the IPv4 checksum;
// 1 when the packet is (now) CE, 0 otherwise or for other protocols.
func ecnSetCE(_ *Set, _ *vm.Machine, k *ctx.SKB, _ vm.Args) (uint64, error) {
	proto := k.Protocol
	if k.VlanPresent {
		proto = k.VlanProto
	}
	if isVlanProto(proto) {
		// skb_protocol(skb, true): the protocol after the VLAN tags; the
		// header changed is still the one at the network offset.
		var ok bool
		if proto, ok = skipVlans(k, proto); !ok {
			return 0, nil
		}
	}
	net := k.NetworkOffset()
	switch proto {
	case 0x0800:
		h, ok := k.Bytes(uint32(net), 20)
		if !ok || net < 0 {
			return 0, nil
		}
		ecn := uint32(h[1]+1) & 3
		if ecn&2 == 0 {
			if ecn == 0 {
				return 1, nil
			}
			return 0, nil
		}
		// check += htons(0xFFFB) + htons(ecn), as a ones' complement add of
		// the big-endian words.
		add := uint16(0xfffb + ecn)
		sum := binary.BigEndian.Uint16(h[10:])
		binary.BigEndian.PutUint16(h[10:], csum16AddBE(sum, add))
		h[1] |= 3
		return 1, nil
	case 0x86dd:
		h, ok := k.Bytes(uint32(net), 40)
		if !ok || net < 0 {
			return 0, nil
		}
		dsfield := binary.BigEndian.Uint16(h[0:]) >> 4
		if dsfield&3 == 0 {
			return 0, nil
		}
		h[1] |= 3 << 4
		return 1, nil
	}
	return 0, nil
}

// csum16AddBE adds two big-endian 16-bit words with end-around carry.
func csum16AddBE(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

func isVlanProto(p uint16) bool { return p == 0x8100 || p == 0x88a8 }

// skipVlans follows the VLAN headers in the packet from the network
// offset to the protocol they carry.
func skipVlans(k *ctx.SKB, proto uint16) (uint16, bool) {
	off := k.NetworkOffset()
	for range 8 {
		if !isVlanProto(proto) {
			return proto, true
		}
		h, ok := k.Bytes(uint32(off), 4)
		if !ok || off < 0 {
			return 0, false
		}
		proto = binary.BigEndian.Uint16(h[2:])
		off += 4
	}
	return 0, false
}

// csumLevel is bpf_csum_level(skb, level) on the test run's skb, which
// starts CHECKSUM_NONE.
func csumLevel(s *Set, m *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
	const (
		query, inc, dec, reset = 0, 1, 2, 3
		maxLevel               = 3 // SKB_MAX_CSUM_LEVEL
	)
	st := s.State(m)
	switch a[1] {
	case query:
		if st.csumUnnecessary {
			return uint64(st.csumLevel), nil
		}
		return neg(syscall.EACCES), nil
	case inc:
		switch {
		case st.csumUnnecessary && st.csumLevel < maxLevel:
			st.csumLevel++
		case !st.csumUnnecessary:
			st.csumUnnecessary, st.csumLevel = true, 0
		}
		return 0, nil
	case dec:
		if st.csumUnnecessary {
			if st.csumLevel == 0 {
				st.csumUnnecessary = false
			} else {
				st.csumLevel--
			}
		}
		return 0, nil
	case reset:
		if st.csumUnnecessary {
			st.csumUnnecessary, st.csumLevel = false, 0
		}
		return 0, nil
	}
	return neg(syscall.EINVAL), nil
}

// setTstamp is bpf_skb_set_tstamp(skb, tstamp, type): realtime (0) may be
// 0, mono (1) and tai (2) may not.
func setTstamp(_ *Set, _ *vm.Machine, k *ctx.SKB, a vm.Args) (uint64, error) {
	switch a[2] {
	case 0:
	case 1, 2:
		if a[1] == 0 {
			return neg(syscall.EINVAL), nil
		}
	default:
		return neg(syscall.EINVAL), nil
	}
	k.Tstamp = a[1]
	return 0, nil
}

// Tunnel flags of the helpers (BPF_F_*).
const (
	tunInfoIPv6   = 1 << 0
	tunZeroCsumTx = 1 << 1
	tunDontFrag   = 1 << 2
	tunSeqNumber  = 1 << 3
	tunNoKey      = 1 << 4
	tunInfoFlags  = 1 << 4 // get_tunnel_key: report tunnel_flags
	tunnelKeySize = 44     // sizeof(struct bpf_tunnel_key)
	tunnelOptsMax = 255    // IP_TUNNEL_OPTS_MAX
)

// IP_TUNNEL_*_BIT as the be16 tunnel_flags shows them.
const (
	tunFlagCsum     = 1 << 0
	tunFlagKey      = 1 << 2
	tunFlagSeq      = 1 << 3
	tunFlagDontFrag = 1 << 8
	tunFlagNocache  = 1 << 13
	tunFlagOptions  = 1<<11 | 1<<12 | 1<<14 | 1<<15 // geneve, vxlan, erspan, gtp
)

// Tunnel is the tunnel metadata bpf_skb_set_tunnel_key and _opt attached
// to the skb (an ip_tunnel_info in TX mode).
type Tunnel struct {
	ID       uint64
	IPv6     bool
	Src, Dst [16]byte // IPv4 in the first 4 bytes, network order
	TOS, TTL uint8
	Label    uint32
	Flags    uint16 // IP_TUNNEL_*_BIT as in tunnel_flags
	Options  []byte
}

// setTunnelKey is bpf_skb_set_tunnel_key(skb, key, size, flags).
func setTunnelKey(s *Set, m *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
	size, flags := uint32(a[2]), a[3]
	if flags&^uint64(tunInfoIPv6|tunZeroCsumTx|tunDontFrag|tunSeqNumber|tunNoKey) != 0 {
		return neg(syscall.EINVAL), nil
	}
	switch size {
	case tunnelKeySize, 28, 24, 22, 8: // and the older layouts, zero-extended
	default:
		return neg(syscall.EINVAL), nil
	}
	from, err := m.Bytes(a[1], int(size), false)
	if err != nil {
		return 0, err
	}
	var key [tunnelKeySize]byte
	copy(key[:], from)
	label := binary.NativeEndian.Uint32(key[24:])
	if flags&tunInfoIPv6 == 0 && label != 0 || binary.NativeEndian.Uint16(key[22:]) != 0 {
		return neg(syscall.EINVAL), nil
	}
	t := &Tunnel{ID: uint64(binary.NativeEndian.Uint32(key[0:])), TOS: key[20], TTL: key[21], Flags: tunFlagNocache}
	bit := func(on bool, f uint16) {
		if on {
			t.Flags |= f
		}
	}
	bit(flags&tunDontFrag != 0, tunFlagDontFrag)
	bit(flags&tunZeroCsumTx == 0, tunFlagCsum)
	bit(flags&tunSeqNumber != 0, tunFlagSeq)
	bit(flags&tunNoKey == 0, tunFlagKey)
	if flags&tunInfoIPv6 != 0 {
		t.IPv6 = true
		copy(t.Dst[:], key[4:20])
		copy(t.Src[:], key[28:44])
		t.Label = label & 0xfffff // IPV6_FLOWLABEL_MASK
	} else {
		binary.BigEndian.PutUint32(t.Dst[:], binary.NativeEndian.Uint32(key[4:]))
		binary.BigEndian.PutUint32(t.Src[:], binary.NativeEndian.Uint32(key[28:]))
	}
	s.State(m).Tunnel = t
	return 0, nil
}

// getTunnelKey is bpf_skb_get_tunnel_key(skb, key, size, flags): what
// set_tunnel_key attached, seen from the receive side (remote is the
// source); -EINVAL without metadata (a test-run skb has none), -EPROTO for
// the other family.
func getTunnelKey(s *Set, m *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
	size, flags := uint32(a[2]), a[3]
	t := s.State(m).Tunnel
	if t == nil || flags&^uint64(tunInfoIPv6|tunInfoFlags) != 0 {
		return clearRet(m, a[1], a[2], syscall.EINVAL)
	}
	if t.IPv6 != (flags&tunInfoIPv6 != 0) {
		return clearRet(m, a[1], a[2], syscall.EPROTO)
	}
	switch size {
	case tunnelKeySize, 28, 24, 22:
	case 8: // offsetof(remote_ipv6[1])
		if t.IPv6 {
			return clearRet(m, a[1], a[2], syscall.EINVAL)
		}
	default:
		return clearRet(m, a[1], a[2], syscall.EINVAL)
	}
	to, err := m.Bytes(a[1], int(size), true)
	if err != nil {
		return 0, err
	}
	var key [tunnelKeySize]byte
	binary.NativeEndian.PutUint32(key[0:], uint32(t.ID))
	key[20], key[21] = t.TOS, t.TTL
	if flags&tunInfoFlags != 0 {
		binary.BigEndian.PutUint16(key[22:], t.Flags)
	}
	if t.IPv6 {
		copy(key[4:20], t.Src[:])
		copy(key[28:44], t.Dst[:])
		binary.NativeEndian.PutUint32(key[24:], t.Label)
	} else {
		binary.NativeEndian.PutUint32(key[4:], binary.BigEndian.Uint32(t.Src[:]))
		binary.NativeEndian.PutUint32(key[28:], binary.BigEndian.Uint32(t.Dst[:]))
	}
	copy(to, key[:])
	return 0, nil
}

// setTunnelOpt is bpf_skb_set_tunnel_opt(skb, opt, size): after
// set_tunnel_key only, size a multiple of 4 up to 255.
func setTunnelOpt(s *Set, m *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
	t, size := s.State(m).Tunnel, uint32(a[2])
	if t == nil || size%4 != 0 {
		return neg(syscall.EINVAL), nil
	}
	if size > tunnelOptsMax {
		return neg(syscall.ENOMEM), nil
	}
	from, err := m.Bytes(a[1], int(size), false)
	if err != nil {
		return 0, err
	}
	t.Options = append([]byte(nil), from...)
	if size > 0 {
		t.Flags |= tunFlagOptions
	}
	return 0, nil
}

// getTunnelOpt is bpf_skb_get_tunnel_opt(skb, opt, size): the options'
// length, -ENOENT without any, -ENOMEM when they do not fit.
func getTunnelOpt(s *Set, m *vm.Machine, _ *ctx.SKB, a vm.Args) (uint64, error) {
	t := s.State(m).Tunnel
	if t == nil || t.Flags&tunFlagOptions == 0 {
		return clearRet(m, a[1], a[2], syscall.ENOENT)
	}
	if uint32(a[2]) < uint32(len(t.Options)) {
		return clearRet(m, a[1], a[2], syscall.ENOMEM)
	}
	to, err := m.Bytes(a[1], int(uint32(a[2])), true)
	if err != nil {
		return 0, err
	}
	clear(to[copy(to, t.Options):])
	return uint64(len(t.Options)), nil
}

// skLookup is bpf_sk_lookup_tcp/udp and bpf_skc_lookup_tcp(ctx, tuple,
// len, netns, flags): NULL for flags, a tuple of neither size, a negative
// netns id other than BPF_F_CURRENT_NETNS, or no socket (the default).
func skLookup(s *Set, m *vm.Machine, a vm.Args, name string) (uint64, error) {
	const tuple4, tuple6 = 12, 36
	n, netns, flags := uint32(a[2]), uint32(a[3]), a[4]
	if flags != 0 || int32(netns) < 0 && netns != 0xffffffff || n != tuple4 && n != tuple6 {
		return 0, nil
	}
	tuple, err := m.Bytes(a[1], int(n), false)
	if err != nil {
		return 0, err
	}
	if e, ok := s.env.(SocketEnv); ok && e.LookupSocket(name, tuple, netns, flags) {
		return 0, fmt.Errorf("%s: the Env reports a socket, and sockets are not modelled", name)
	}
	return 0, nil
}

// The kernel's SYN cookie MSS table (msstab, msstab6 is the same length).
var msstab4 = [4]uint16{536, 1300, 1440, 1460}
var msstab6 = [4]uint16{1220, 1400, 1440, 1460}

// tcpHeader reads and checks the TCP header argument of the raw syncookie
// helpers: -EINVAL when th_len is short or not doff*4.
func tcpHeader(m *vm.Machine, addr uint64, n uint32) ([]byte, bool, error) {
	if n < 20 {
		return nil, false, nil
	}
	th, err := m.Bytes(addr, int(n), false)
	if err != nil {
		return nil, false, err
	}
	return th, uint32(th[12]>>4)*4 == n, nil
}

func rawGenSyncookie(s *Set, m *vm.Machine, a vm.Args, l3len int) (uint64, error) {
	th, ok, err := tcpHeader(m, a[1], uint32(a[2]))
	if err != nil || !ok {
		return neg(syscall.EINVAL), err
	}
	l3, err := m.Bytes(a[0], l3len, false)
	if err != nil {
		return 0, err
	}
	mss := tcpMSSOption(th)
	if mss == 0 {
		mss = 536 // TCP_MSS_DEFAULT
	}
	if e, ok := s.env.(SyncookieEnv); ok {
		c, mssOut := e.Syncookie(l3, th, mss)
		return uint64(c) | uint64(mssOut)<<32, nil
	}
	c, mssOut := defaultSyncookie(l3, th, mss)
	return uint64(c) | uint64(mssOut)<<32, nil
}

func rawCheckSyncookie(s *Set, m *vm.Machine, a vm.Args, l3len int) (uint64, error) {
	th, err := m.Bytes(a[1], 20, false)
	if err != nil {
		return 0, err
	}
	l3, err := m.Bytes(a[0], l3len, false)
	if err != nil {
		return 0, err
	}
	var valid bool
	if e, ok := s.env.(SyncookieEnv); ok {
		valid = e.CheckSyncookie(l3, th)
	} else {
		valid = checkDefaultSyncookie(l3, th)
	}
	if valid {
		return 0, nil
	}
	return neg(syscall.EACCES), nil
}

// tcpMSSOption is tcp_parse_mss_option: the MSS option's value, 0 if absent.
func tcpMSSOption(th []byte) uint16 {
	opts := th[20:]
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return 0
		case 1:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return 0
		}
		if opts[0] == 2 && opts[1] == 4 {
			return binary.BigEndian.Uint16(opts[2:])
		}
		opts = opts[opts[1]:]
	}
	return 0
}

// syncookieHash keys a cookie on the addresses and ports (the kernel uses
// siphash with per-boot secrets; this default is fixed).
func syncookieHash(l3, th []byte) uint32 {
	var addrs []byte
	if l3[0]>>4 == 6 {
		addrs = l3[8:40]
	} else {
		addrs = l3[12:20]
	}
	h := uint32(2166136261)
	for _, b := range append(append([]byte(nil), addrs...), th[:4]...) {
		h = (h ^ uint32(b)) * 16777619
	}
	return h &^ 3
}

func mssTable(l3 []byte) [4]uint16 {
	if l3[0]>>4 == 6 {
		return msstab6
	}
	return msstab4
}

// defaultSyncookie is the default SyncookieEnv: hash + the SYN's sequence
// number + the index of the largest table MSS not above mss.
func defaultSyncookie(l3, th []byte, mss uint16) (uint32, uint16) {
	tab := mssTable(l3)
	i := len(tab) - 1
	for i > 0 && mss < tab[i] {
		i--
	}
	return syncookieHash(l3, th) + binary.BigEndian.Uint32(th[4:]) + uint32(i), tab[i]
}

// checkDefaultSyncookie accepts the ACK of a defaultSyncookie SYN-ACK.
func checkDefaultSyncookie(l3, th []byte) bool {
	cookie := binary.BigEndian.Uint32(th[8:]) - 1
	seq := binary.BigEndian.Uint32(th[4:]) - 1
	return cookie-syncookieHash(l3, th)-seq < 4
}
