package helpers

import (
	"slices"
	"testing"
)

// upEnv has a loopback that is up and a task in a nested cgroup.
type upEnv struct{ *DefaultEnv }

func (upEnv) Netdev(ifindex uint32) (Netdev, bool) {
	d := Loopback
	d.Up = true
	return d, ifindex == 1
}
func (upEnv) CurrentCgroup() []uint64 { return []uint64{1, 7, 42} }
func (upEnv) SkbCgroup() []uint64     { return []uint64{1} }

// TestRecordReplayNet records the device, cgroup, namespace and socket
// answers of one set of calls and replays them.
func TestRecordReplayNet(t *testing.T) {
	ask := func(e Env) []uint64 {
		s := New(e)
		d, ok := s.netdev(1)
		_, missing := s.netdev(5)
		var sock uint64
		if se, ok := e.(SocketEnv); ok {
			sock = uint64(boolByte(se.LookupSocket("bpf_sk_lookup_tcp", []byte{1, 2, 3}, 0xffffffff, 0)))
		}
		dev, ino := e.(PidnsEnv).PidNamespace()
		c, mss := e.(SyncookieEnv).Syncookie(make([]byte, 20), make([]byte, 20), 1460)
		out := []uint64{uint64(d.MTU), uint64(boolByte(d.Up)), uint64(boolByte(ok)), uint64(boolByte(missing)),
			s.netnsCookie(), sock, dev, ino, uint64(c), uint64(mss)}
		return append(out, s.cgroups(false)...)
	}
	rec := Record(upEnv{NewDefaultEnv()})
	want := ask(rec)
	if want[1] != 1 || want[3] != 0 || want[len(want)-1] != 42 {
		t.Fatalf("recorded answers %v", want)
	}
	rep := Replay(rec.Log())
	got := ask(rep)
	if !slices.Equal(got, want) {
		t.Errorf("replayed %v, recorded %v", got, want)
	}
	if err := rep.Err(); err != nil || rep.Remaining() != 0 {
		t.Errorf("replay: %v, %d values left", err, rep.Remaining())
	}
}
