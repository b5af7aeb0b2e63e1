package helpers

import (
	"encoding/binary"
	"sync"
)

// Recording and replay of the network, cgroup and namespace answers
// (netenv.go, base.go). The conntrack table is state, like a map's
// contents, not an answer: a RecordingEnv passes the wrapped Env's table
// through, and a replay is given its table with SetConntrack.

const (
	EnvNetdev         EnvKind = iota + EnvCgroupID + 1 // NetdevEnv.Netdev: ifindex; Data: found, up, mtu, hard_header_len, name
	EnvNetnsCookie                                     // NetnsEnv.NetnsCookie
	EnvCurrentCgroup                                   // CgroupEnv.CurrentCgroup: Data the ids
	EnvSkbCgroup                                       // CgroupEnv.SkbCgroup: Data the ids
	EnvSocket                                          // SocketEnv.LookupSocket: found; Data the tuple
	EnvSyncookie                                       // SyncookieEnv.Syncookie: cookie | mss<<32
	EnvCheckSyncookie                                  // SyncookieEnv.CheckSyncookie: valid
	EnvPidns                                           // PidnsEnv.PidNamespace: dev; Data the inode
)

func init() {
	envKindNames = append(envKindNames[:EnvNetdev], "netdev", "netns_cookie", "current_cgroup", "skb_cgroup",
		"socket", "syncookie", "check_syncookie", "pidns")
}

func (r *RecordingEnv) Netdev(ifindex uint32) (Netdev, bool) {
	d, ok := (&Set{env: r.env}).netdev(ifindex)
	data := []byte{boolByte(ok), boolByte(d.Up)}
	data = binary.LittleEndian.AppendUint32(data, d.MTU)
	data = binary.LittleEndian.AppendUint32(data, d.HardHeaderLen)
	r.push(EnvValue{Kind: EnvNetdev, Value: uint64(ifindex), Data: append(data, d.Name...)})
	return d, ok
}

func (r *RecordingEnv) NetnsCookie() uint64 {
	return r.add(EnvNetnsCookie, (&Set{env: r.env}).netnsCookie())
}

func (r *RecordingEnv) cgroup(skb bool, k EnvKind) []uint64 {
	ids := (&Set{env: r.env}).cgroups(skb)
	var data []byte
	for _, id := range ids {
		data = binary.LittleEndian.AppendUint64(data, id)
	}
	r.push(EnvValue{Kind: k, Data: data})
	return ids
}

func (r *RecordingEnv) CurrentCgroup() []uint64 { return r.cgroup(false, EnvCurrentCgroup) }
func (r *RecordingEnv) SkbCgroup() []uint64     { return r.cgroup(true, EnvSkbCgroup) }

func (r *RecordingEnv) LookupSocket(helper string, tuple []byte, netns uint32, flags uint64) bool {
	found := false
	if e, ok := r.env.(SocketEnv); ok {
		found = e.LookupSocket(helper, tuple, netns, flags)
	}
	r.push(EnvValue{Kind: EnvSocket, Value: uint64(boolByte(found)), Data: append([]byte(nil), tuple...)})
	return found
}

func (r *RecordingEnv) Syncookie(l3, tcp []byte, mss uint16) (uint32, uint16) {
	var c, m uint32
	if e, ok := r.env.(SyncookieEnv); ok {
		c1, m1 := e.Syncookie(l3, tcp, mss)
		c, m = c1, uint32(m1)
	} else {
		c1, m1 := defaultSyncookie(l3, tcp, mss)
		c, m = c1, uint32(m1)
	}
	r.add(EnvSyncookie, uint64(c)|uint64(m)<<32)
	return c, uint16(m)
}

func (r *RecordingEnv) CheckSyncookie(l3, tcp []byte) bool {
	var ok bool
	if e, has := r.env.(SyncookieEnv); has {
		ok = e.CheckSyncookie(l3, tcp)
	} else {
		ok = checkDefaultSyncookie(l3, tcp)
	}
	r.add(EnvCheckSyncookie, uint64(boolByte(ok)))
	return ok
}

func (r *RecordingEnv) PidNamespace() (dev, ino uint64) {
	dev, ino = 4, procPidInitIno
	if e, ok := r.env.(PidnsEnv); ok {
		dev, ino = e.PidNamespace()
	}
	r.push(EnvValue{Kind: EnvPidns, Value: dev, Data: binary.LittleEndian.AppendUint64(nil, ino)})
	return dev, ino
}

// Conntrack is the wrapped Env's table, or one of the recorder's own.
func (r *RecordingEnv) Conntrack() *Conntrack {
	if e, ok := r.env.(ConntrackEnv); ok {
		return e.Conntrack()
	}
	r.ctOnce.Do(func() { r.ct = &Conntrack{} })
	return r.ct
}

func (r *ReplayEnv) Netdev(ifindex uint32) (Netdev, bool) {
	v := r.takeValue(EnvNetdev)
	if v.Kind != EnvNetdev {
		return Netdev{}, false
	}
	if v.Value != uint64(ifindex) || len(v.Data) < 10 {
		r.diverged("device %d asked, %d recorded", ifindex, v.Value)
		return Netdev{}, false
	}
	d := Netdev{Ifindex: ifindex, Up: v.Data[1] == 1, MTU: binary.LittleEndian.Uint32(v.Data[2:]),
		HardHeaderLen: binary.LittleEndian.Uint32(v.Data[6:]), Name: string(v.Data[10:])}
	return d, v.Data[0] == 1
}

func (r *ReplayEnv) NetnsCookie() uint64 { return r.take(EnvNetnsCookie) }

func (r *ReplayEnv) cgroup(k EnvKind) []uint64 {
	v := r.takeValue(k)
	ids := make([]uint64, len(v.Data)/8)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint64(v.Data[8*i:])
	}
	if len(ids) == 0 {
		return []uint64{1}
	}
	return ids
}

func (r *ReplayEnv) CurrentCgroup() []uint64 { return r.cgroup(EnvCurrentCgroup) }
func (r *ReplayEnv) SkbCgroup() []uint64     { return r.cgroup(EnvSkbCgroup) }

func (r *ReplayEnv) LookupSocket(_ string, tuple []byte, _ uint32, _ uint64) bool {
	v := r.takeValue(EnvSocket)
	if v.Kind == EnvSocket && string(v.Data) != string(tuple) {
		r.diverged("socket lookup of another tuple than recorded")
		return false
	}
	return v.Value == 1
}

func (r *ReplayEnv) Syncookie([]byte, []byte, uint16) (uint32, uint16) {
	v := r.take(EnvSyncookie)
	return uint32(v), uint16(v >> 32)
}

func (r *ReplayEnv) CheckSyncookie([]byte, []byte) bool { return r.take(EnvCheckSyncookie) == 1 }

func (r *ReplayEnv) PidNamespace() (dev, ino uint64) {
	v := r.takeValue(EnvPidns)
	if len(v.Data) == 8 {
		ino = binary.LittleEndian.Uint64(v.Data)
	}
	return v.Value, ino
}

// SetConntrack gives the replay the conntrack table the recorded run
// started from (default: an empty one).
func (r *ReplayEnv) SetConntrack(t *Conntrack) {
	r.mu.Lock()
	r.ct = t
	r.mu.Unlock()
}

func (r *ReplayEnv) Conntrack() *Conntrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ct == nil {
		r.ct = &Conntrack{}
	}
	return r.ct
}

// netEnv is every network interface a recording must answer for.
type netEnv interface {
	NetdevEnv
	NetnsEnv
	CgroupEnv
	SocketEnv
	SyncookieEnv
	PidnsEnv
	ConntrackEnv
}

var (
	_ netEnv = (*RecordingEnv)(nil)
	_ netEnv = (*ReplayEnv)(nil)
)

// conntrackHolder is the lazily made table of a recorder.
type conntrackHolder struct {
	ctOnce sync.Once
	ct     *Conntrack
}
