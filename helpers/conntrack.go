package helpers

import (
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"

	"github.com/bpfscope/bpfscope/vm"
)

// The conntrack kfuncs (net/netfilter/nf_conntrack_bpf.c, nf_nat_bpf.c)
// work on a Conntrack table: the Env's when it implements ConntrackEnv,
// else one per Set that starts empty, as a fresh network namespace's
// does, and keeps what programs insert across runs, as the kernel's does.

// ConntrackEnv supplies the conntrack table the kfuncs look up and insert
// into; fill it with Conntrack.Add to give programs existing connections.
type ConntrackEnv interface {
	Conntrack() *Conntrack
}

// CtTuple is a connection's tuple in one direction. Addresses are in
// network order (IPv4 in the first 4 bytes), ports as the packet has them.
type CtTuple struct {
	Family       uint8 // AF_INET (2) or AF_INET6 (10)
	Proto        uint8 // IPPROTO_TCP (6) or IPPROTO_UDP (17)
	Src, Dst     [16]byte
	Sport, Dport [2]byte
}

// Reverse is the tuple of the other direction (without NAT).
func (t CtTuple) Reverse() CtTuple {
	t.Src, t.Dst = t.Dst, t.Src
	t.Sport, t.Dport = t.Dport, t.Sport
	return t
}

// Conn is one conntrack entry. Image is the struct nf_conn programs read
// through the pointer the kfuncs return, laid out as Linux 6.18 on x86-64
// (the BTF CO-RE relocates programs against): status, timeout and mark
// at their kernel offsets, the rest zero.
type Conn struct {
	Orig, Reply CtTuple
	Image       [nfConnSize]byte
	inserted    bool
}

// struct nf_conn of Linux 6.18, x86-64.
const (
	nfConnSize      = 248
	nfConnTimeout   = 8   // u32, jiffies
	nfConnStatus    = 128 // unsigned long
	nfConnMark      = 168 // u32
	ipsExpected     = 1 << 0
	ipsSeenReply    = 1 << 1
	ipsAssured      = 1 << 2
	ipsConfirmed    = 1 << 3
	ipsSrcNat       = 1 << 4
	ipsDstNat       = 1 << 5
	ipsSrcNatDone   = 1 << 7
	ipsDstNatDone   = 1 << 8
	ipsDying        = 1 << 9
	ipsFixedTimeout = 1 << 10
	ipsMaxBit       = 16
	// IPS_UNCHANGEABLE_MASK: NAT and NAT_DONE bits, EXPECTED, CONFIRMED,
	// DYING, SEQ_ADJUST, TEMPLATE, UNTRACKED, OFFLOAD, HW_OFFLOAD.
	ipsUnchangeable = ipsSrcNat | ipsDstNat | ipsSrcNatDone | ipsDstNatDone | ipsExpected |
		ipsConfirmed | ipsDying | 1<<6 | 1<<11 | 1<<12 | 1<<14 | 1<<15
)

// Status is the connection's IPS_* bits.
func (c *Conn) Status() uint64 { return binary.NativeEndian.Uint64(c.Image[nfConnStatus:]) }

func (c *Conn) setStatus(v uint64) { binary.NativeEndian.PutUint64(c.Image[nfConnStatus:], v) }

// Mark is ct->mark (programs may write it).
func (c *Conn) Mark() uint32 { return binary.NativeEndian.Uint32(c.Image[nfConnMark:]) }

// Timeout is ct->timeout in jiffies.
func (c *Conn) Timeout() uint32 { return binary.NativeEndian.Uint32(c.Image[nfConnTimeout:]) }

func (c *Conn) setTimeout(j uint64) {
	j = min(j, 1<<31-1)
	binary.NativeEndian.PutUint32(c.Image[nfConnTimeout:], uint32(j))
}

// Conntrack is a connection tracking table.
type Conntrack struct {
	mu    sync.Mutex
	conns []*Conn
}

// Add inserts a confirmed connection with the given status and mark, as
// an existing entry of the table.
func (t *Conntrack) Add(orig CtTuple, status uint64, mark uint32) *Conn {
	c := &Conn{Orig: orig, Reply: orig.Reverse(), inserted: true}
	c.setStatus(status | ipsConfirmed)
	binary.NativeEndian.PutUint32(c.Image[nfConnMark:], mark)
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
	return c
}

// Conns lists the table's entries.
func (t *Conntrack) Conns() []*Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*Conn(nil), t.conns...)
}

// find returns the entry with tuple in either direction, and the direction.
func (t *Conntrack) find(tu CtTuple) (*Conn, uint8) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		switch tu {
		case c.Orig:
			return c, 0
		case c.Reply:
			return c, 1
		}
	}
	return nil, 0
}

func (t *Conntrack) insert(c *Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range t.conns {
		if o.Orig == c.Orig || o.Reply == c.Reply || o.Orig == c.Reply || o.Reply == c.Orig {
			return false
		}
	}
	c.inserted = true
	t.conns = append(t.conns, c)
	return true
}

func (s *Set) conntrack() *Conntrack {
	if e, ok := s.env.(ConntrackEnv); ok {
		return e.Conntrack()
	}
	s.ctOnce.Do(func() { s.ct = &Conntrack{} })
	return s.ct
}

// connAddr maps c's image into the run, once per run.
func (s *Set) connAddr(m *vm.Machine, c *Conn) uint64 {
	st := s.run(m)
	if a, ok := st.conns[c]; ok {
		return a
	}
	if st.conns == nil {
		st.conns = map[*Conn]uint64{}
	}
	a := m.Map(&vm.Region{Name: "nf_conn", Data: c.Image[:]})
	st.conns[c] = a
	return a
}

// connAt finds the connection behind an nf_conn pointer of this run.
func (s *Set) connAt(m *vm.Machine, addr uint64) (*Conn, error) {
	for c, a := range s.run(m).conns {
		if a == addr {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%#x (%s) is not an nf_conn the conntrack kfuncs returned in this run", addr, m.Describe(addr))
}

// struct bpf_ct_opts of 6.18: netns_id, error, l4proto, dir,
// ct_zone_id, ct_zone_dir, reserved[3]; 16 bytes, or the older 12.
const (
	ctOptsSize    = 16
	ctOptsSizeOld = 12
)

func init() {
	for _, k := range []struct {
		name   string
		lookup bool
	}{{"bpf_xdp_ct_lookup", true}, {"bpf_skb_ct_lookup", true}, {"bpf_xdp_ct_alloc", false}, {"bpf_skb_ct_alloc", false}} {
		doc := "entry for the tuple in either direction, opts->dir set; NULL and opts->error -EINVAL/-EPROTO/-EAFNOSUPPORT/-ENOENT"
		if !k.lookup {
			doc = "new unconfirmed entry (timeout 10 s, status 0); NULL and opts->error as lookup"
		}
		registerKfunc(k.name, doc, "ConntrackEnv (default: a table per Set, empty at first)", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
			return ctLookupAlloc(s, m, a, k.lookup)
		})
	}
	registerKfunc("bpf_ct_insert_entry", "confirms an allocated entry (IPS_CONFIRMED, absolute timeout); NULL (entry freed) if either direction exists", "ConntrackEnv", func(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		c, err := s.connAt(m, a[0])
		if err != nil {
			return 0, err
		}
		if !s.conntrack().insert(c) {
			delete(s.run(m).conns, c)
			return 0, nil
		}
		// Confirmed: the timeout becomes absolute.
		c.setStatus(c.Status() | ipsConfirmed)
		c.setTimeout(s.jiffies() + uint64(c.Timeout()))
		return a[0], nil
	})
	registerKfunc("bpf_ct_release", "drops the reference; nothing for NULL", "", func(*Set, *vm.Machine, vm.Args) (uint64, error) { return 0, nil })
	registerKfunc("bpf_ct_set_timeout", "timeout of an allocated entry: now + msecs in jiffies", "ClockEnv.Jiffies", ctSetTimeout)
	registerKfunc("bpf_ct_change_timeout", "as set_timeout; -EPERM for IPS_FIXED_TIMEOUT, -ETIME when dying", "ClockEnv.Jiffies", ctSetTimeout)
	registerKfunc("bpf_ct_set_status", "nf_ct_change_status_common: -EBUSY for unchangeable or cleared SEEN_REPLY/ASSURED bits", "", ctSetStatus)
	registerKfunc("bpf_ct_change_status", "as set_status", "", ctSetStatus)
	registerKfunc("bpf_ct_set_nat_info", "SNAT/DNAT to addr[:port]: rewrites the reply tuple, sets IPS_*_NAT and _DONE; -EINVAL, -ENOMEM when done", "", ctSetNatInfo)
}

func ctLookupAlloc(s *Set, m *vm.Machine, a vm.Args, lookup bool) (uint64, error) {
	tupleAddr, tupleSize, optsAddr, optsSize := a[1], uint32(a[2]), a[3], uint32(a[4])
	if optsAddr == 0 {
		return 0, nil // -EINVAL with nowhere to report it
	}
	// The verifier guarantees opts__sz bytes; opts->error is at 4.
	opts, err := m.Bytes(optsAddr, int(max(min(optsSize, ctOptsSize), 8)), true)
	if err != nil {
		return 0, err
	}
	fail := func(e syscall.Errno) (uint64, error) {
		binary.NativeEndian.PutUint32(opts[4:], uint32(neg(e)))
		return 0, nil
	}
	if tupleAddr == 0 || optsSize != ctOptsSize && optsSize != ctOptsSizeOld {
		return fail(syscall.EINVAL)
	}
	if optsSize == ctOptsSize && (opts[13] != 0 || opts[14] != 0 || opts[15] != 0) ||
		optsSize == ctOptsSizeOld && (opts[10] != 0 || opts[11] != 0) {
		return fail(syscall.EINVAL)
	}
	proto := opts[8]
	if lookup && proto != 6 && proto != 17 {
		return fail(syscall.EPROTO)
	}
	if int32(binary.NativeEndian.Uint32(opts)) < -1 {
		return fail(syscall.EINVAL)
	}
	if proto != 6 && proto != 17 {
		return fail(syscall.EPROTO)
	}
	var tu CtTuple
	tu.Proto = proto
	switch tupleSize {
	case 12:
		b, err := m.Bytes(tupleAddr, 12, false)
		if err != nil {
			return 0, err
		}
		tu.Family = afInet
		copy(tu.Src[:4], b[0:4])
		copy(tu.Dst[:4], b[4:8])
		copy(tu.Sport[:], b[8:10])
		copy(tu.Dport[:], b[10:12])
	case 36:
		b, err := m.Bytes(tupleAddr, 36, false)
		if err != nil {
			return 0, err
		}
		tu.Family = afInet6
		copy(tu.Src[:], b[0:16])
		copy(tu.Dst[:], b[16:32])
		copy(tu.Sport[:], b[32:34])
		copy(tu.Dport[:], b[34:36])
	default:
		return fail(syscall.EAFNOSUPPORT)
	}
	if netns := int32(binary.NativeEndian.Uint32(opts)); netns >= 0 {
		return fail(syscall.ENONET) // only the current namespace exists
	}
	if lookup {
		c, dir := s.conntrack().find(tu)
		if c == nil {
			return fail(syscall.ENOENT)
		}
		opts[9] = dir
		return s.connAddr(m, c), nil
	}
	c := &Conn{Orig: tu, Reply: tu.Reverse()}
	c.setTimeout(10 * jiffiesHz) // relative until confirmed
	return s.connAddr(m, c), nil
}

const jiffiesHz = 250 // CONFIG_HZ of the reference kernel

func (s *Set) jiffies() uint64 {
	if c, ok := s.env.(ClockEnv); ok {
		return c.Jiffies()
	}
	return s.env.KtimeNs() / jiffyNs
}

// ctSetTimeout is bpf_ct_set_timeout and bpf_ct_change_timeout(ct, msecs)
// (__nf_ct_set_timeout): relative jiffies before the entry is confirmed,
// absolute after.
func ctSetTimeout(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	c, err := s.connAt(m, a[0])
	if err != nil {
		return 0, err
	}
	st := c.Status()
	if c.inserted && st&ipsFixedTimeout != 0 {
		return neg(syscall.EPERM), nil
	}
	j := (uint64(uint32(a[1]))*jiffiesHz + 999) / 1000 // msecs_to_jiffies rounds up
	if st&ipsConfirmed != 0 {
		j += s.jiffies()
	}
	c.setTimeout(j)
	if st&ipsDying != 0 {
		return neg(syscall.ETIME), nil
	}
	return 0, nil
}

// ctSetStatus is nf_ct_change_status_common(ct, status).
func ctSetStatus(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	c, err := s.connAt(m, a[0])
	if err != nil {
		return 0, err
	}
	status, cur := uint64(uint32(a[1])), c.Status()
	d := cur ^ status
	if d&(ipsExpected|ipsConfirmed|ipsDying) != 0 ||
		d&ipsSeenReply != 0 && status&ipsSeenReply == 0 ||
		d&ipsAssured != 0 && status&ipsAssured == 0 {
		return neg(syscall.EBUSY), nil
	}
	on := status &^ ipsUnchangeable & (1<<ipsMaxBit - 1)
	c.setStatus(cur | on)
	return 0, nil
}

// ctSetNatInfo is bpf_ct_set_nat_info(ct, addr, port, manip): source (0)
// or destination (1) NAT to addr and, when port > 0, port.
func ctSetNatInfo(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	c, err := s.connAt(m, a[0])
	if err != nil {
		return 0, err
	}
	if c.Orig.Family != afInet && c.Orig.Family != afInet6 {
		return neg(syscall.EINVAL), nil
	}
	addr, err := m.Bytes(a[1], 16, false)
	if err != nil {
		return 0, err
	}
	port, manip := int32(a[2]), a[3]
	done, nat := uint64(ipsSrcNatDone), uint64(ipsSrcNat)
	if manip != 0 {
		done, nat = ipsDstNatDone, ipsDstNat
	}
	st := c.Status()
	if st&done != 0 {
		return neg(syscall.ENOMEM), nil // nf_nat_setup_info refuses a second setup: NF_DROP
	}
	n := 4
	if c.Orig.Family == afInet6 {
		n = 16
	}
	// The tuple as already NATed: the inverse of the reply.
	cur := c.Reply.Reverse()
	tu := cur
	if manip == 0 {
		copy(tu.Src[:n], addr)
		if port > 0 {
			binary.BigEndian.PutUint16(tu.Sport[:], uint16(port))
		}
	} else {
		copy(tu.Dst[:n], addr)
		if port > 0 {
			binary.BigEndian.PutUint16(tu.Dport[:], uint16(port))
		}
	}
	if tu != cur {
		c.Reply = tu.Reverse()
		st |= nat
	}
	c.setStatus(st | done)
	return 0, nil
}
