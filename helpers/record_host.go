package helpers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// The answers that carry data: what a probe read, a FIB lookup, a call
// chain. A replay checks that the program asked the same question (same
// address, same lookup) before it answers.

func (r *RecordingEnv) push(v EnvValue) {
	r.mu.Lock()
	r.log = append(r.log, v)
	r.mu.Unlock()
}

func (r *RecordingEnv) ReadMemory(addr uint64, dst []byte, user bool) error {
	km, ok := r.env.(KernelMemory)
	if !ok {
		km = Memory(nil)
	}
	err := km.ReadMemory(addr, dst, user)
	var errno syscall.Errno
	if err != nil && !errors.As(err, &errno) {
		errno = syscall.EFAULT
	}
	data := binary.LittleEndian.AppendUint32([]byte{boolByte(user)}, uint32(errno))
	r.push(EnvValue{Kind: EnvMemory, Value: addr, Data: append(data, dst...)})
	return err
}

func (r *RecordingEnv) FibLookup(p *FibParams, flags uint32) int64 {
	in, _ := p.MarshalBinary()
	ret := int64(FibRetNotForwarded)
	if f, ok := r.env.(FibEnv); ok {
		ret = f.FibLookup(p, flags)
	}
	out, _ := p.MarshalBinary()
	r.push(EnvValue{Kind: EnvFib, Value: uint64(ret), Data: append(in, out...)})
	return ret
}

func (r *RecordingEnv) Stack(user bool) []uint64 {
	var ips []uint64
	if st, ok := r.env.(StackEnv); ok {
		ips = st.Stack(user)
	}
	var data []byte
	for _, ip := range ips {
		data = binary.LittleEndian.AppendUint64(data, ip)
	}
	r.push(EnvValue{Kind: EnvStack, Value: uint64(boolByte(user)), Data: data})
	return ips
}

func (r *RecordingEnv) skb() SkbEnv {
	if e, ok := r.env.(SkbEnv); ok {
		return e
	}
	return defaultSkbEnv{}
}

func (r *RecordingEnv) SkbHash(l3 []byte) uint32 {
	return uint32(r.add(EnvSkbHash, uint64(r.skb().SkbHash(l3))))
}
func (r *RecordingEnv) SocketCookie() uint64 { return r.add(EnvSocketCookie, r.skb().SocketCookie()) }
func (r *RecordingEnv) CgroupClassid() uint32 {
	return uint32(r.add(EnvClassid, uint64(r.skb().CgroupClassid())))
}
func (r *RecordingEnv) SkbCgroupID() uint64 { return r.add(EnvCgroupID, r.skb().SkbCgroupID()) }

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// diverged records the first question the log cannot answer.
func (r *ReplayEnv) diverged(format string, args ...any) {
	r.mu.Lock()
	if r.err == nil {
		r.err = fmt.Errorf("env replay: "+format, args...)
	}
	r.mu.Unlock()
}

func (r *ReplayEnv) ReadMemory(addr uint64, dst []byte, user bool) error {
	v := r.takeValue(EnvMemory)
	if v.Kind != EnvMemory {
		return syscall.EFAULT
	}
	if len(v.Data) < 5 || v.Value != addr || v.Data[0] != boolByte(user) || len(v.Data)-5 != len(dst) {
		r.diverged("memory read of %d bytes at %#x (user %v) is not the recorded one (%d bytes at %#x)", len(dst), addr, user, max(len(v.Data)-5, 0), v.Value)
		return syscall.EFAULT
	}
	copy(dst, v.Data[5:])
	if errno := syscall.Errno(binary.LittleEndian.Uint32(v.Data[1:])); errno != 0 {
		return errno
	}
	return nil
}

func (r *ReplayEnv) FibLookup(p *FibParams, flags uint32) int64 {
	v := r.takeValue(EnvFib)
	if v.Kind != EnvFib {
		return FibRetNotForwarded
	}
	in, _ := p.MarshalBinary()
	if len(v.Data) != 2*FibParamsSize || string(v.Data[:FibParamsSize]) != string(in) {
		r.diverged("bpf_fib_lookup asked with other parameters than recorded")
		return FibRetNotForwarded
	}
	if err := p.UnmarshalBinary(v.Data[FibParamsSize:]); err != nil {
		r.diverged("bpf_fib_lookup: %v", err)
	}
	return int64(v.Value)
}

func (r *ReplayEnv) Stack(user bool) []uint64 {
	v := r.takeValue(EnvStack)
	if v.Kind != EnvStack {
		return nil
	}
	if v.Value != uint64(boolByte(user)) || len(v.Data)%8 != 0 {
		r.diverged("call chain asked for user %v, recorded for user %v", user, v.Value == 1)
		return nil
	}
	ips := make([]uint64, len(v.Data)/8)
	for i := range ips {
		ips[i] = binary.LittleEndian.Uint64(v.Data[8*i:])
	}
	return ips
}

func (r *ReplayEnv) SkbHash([]byte) uint32 { return uint32(r.take(EnvSkbHash)) }
func (r *ReplayEnv) SocketCookie() uint64  { return r.take(EnvSocketCookie) }
func (r *ReplayEnv) CgroupClassid() uint32 { return uint32(r.take(EnvClassid)) }
func (r *ReplayEnv) SkbCgroupID() uint64   { return r.take(EnvCgroupID) }
