package helpers

// Netdev is what the helpers know of a network device.
type Netdev struct {
	Ifindex       uint32
	Name          string
	MTU           uint32
	HardHeaderLen uint32 // ETH_HLEN for Ethernet and loopback
	Up            bool
}

// Loopback is the loopback device of a fresh network namespace: ifindex 1,
// MTU 65536, down (a new namespace's lo is not brought up).
var Loopback = Netdev{Ifindex: 1, Name: "lo", MTU: 65536, HardHeaderLen: 14}

// NetdevEnv answers which devices exist in the run's network namespace,
// for bpf_check_mtu and bpf_clone_redirect. Default: a fresh namespace,
// holding only Loopback.
type NetdevEnv interface {
	Netdev(ifindex uint32) (Netdev, bool)
}

// NetnsEnv answers bpf_get_netns_cookie. Default: 1, the cookie of the
// initial namespace, the first one the kernel numbers.
type NetnsEnv interface {
	NetnsCookie() uint64
}

// CgroupEnv answers the cgroup helpers: the ids of the current task's
// cgroup and its ancestors, root first (bpf_get_current_cgroup_id,
// bpf_get_current_ancestor_cgroup_id, bpf_current_task_under_cgroup),
// and the same for the socket of a test-run skb (bpf_skb_ancestor_cgroup_id).
// Default: both in the root cgroup, id 1.
type CgroupEnv interface {
	CurrentCgroup() []uint64
	SkbCgroup() []uint64
}

// SocketEnv answers the socket lookups (bpf_sk_lookup_tcp/udp,
// bpf_skc_lookup_tcp): whether a socket matches the tuple (struct
// bpf_sock_tuple bytes) in the namespace. Default: none, as in a fresh
// namespace. A match is a run error naming the helper: sockets are not
// modelled, so their fields could not be answered.
type SocketEnv interface {
	LookupSocket(helper string, tuple []byte, netns uint32, flags uint64) bool
}

// SyncookieEnv computes and checks SYN cookies (bpf_tcp_raw_gen_syncookie_*
// and bpf_tcp_raw_check_syncookie_*); the kernel's depend on per-boot
// secrets and the time. l3 is the IP header, tcp the TCP header. Default:
// defaultSyncookie, a keyed hash with the kernel's MSS table: cookies it
// makes it accepts, others it refuses.
type SyncookieEnv interface {
	Syncookie(l3, tcp []byte, mss uint16) (cookie uint32, mssOut uint16)
	CheckSyncookie(l3, tcp []byte) bool
}

func (s *Set) netdev(ifindex uint32) (Netdev, bool) {
	if e, ok := s.env.(NetdevEnv); ok {
		return e.Netdev(ifindex)
	}
	if ifindex == Loopback.Ifindex {
		return Loopback, true
	}
	return Netdev{}, false
}

func (s *Set) netnsCookie() uint64 {
	if e, ok := s.env.(NetnsEnv); ok {
		return e.NetnsCookie()
	}
	return 1
}

func (s *Set) cgroups(skb bool) []uint64 {
	if e, ok := s.env.(CgroupEnv); ok {
		if skb {
			return e.SkbCgroup()
		}
		return e.CurrentCgroup()
	}
	return []uint64{1}
}
