package helpers

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// TestSnprintfBTFRecordReplay: hashed pointers come from the Env, are
// recorded, and a replay prints the same text.
func TestSnprintfBTFRecordReplay(t *testing.T) {
	spec := runningKernelTypes()
	if spec == nil {
		t.Skip("no kernel BTF")
	}
	var lh *btf.Struct
	if err := spec.TypeByName("list_head", &lh); err != nil {
		t.Skip(err)
	}
	id, err := spec.TypeID(lh)
	if err != nil {
		t.Fatal(err)
	}
	run := func(env Env) ([]byte, uint64) {
		b := newBench(t, env)
		// buf: [0,16) the list_head, [16,32) the btf_ptr, [64,256) the text.
		binary.LittleEndian.PutUint64(b.buf[0:], 0xffff888000001000)
		binary.LittleEndian.PutUint64(b.buf[8:], 0xffff888000002000)
		binary.LittleEndian.PutUint64(b.buf[16:], b.at)
		binary.LittleEndian.PutUint32(b.buf[24:], uint32(id))
		ret, err := b.call(asm.FnSnprintfBtf, b.at+64, 192, b.at+16, 16, btfFCompact)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(b.buf[64:]), ret
	}
	rec := Record(nil)
	text, ret := run(rec)
	want := "(struct list_head){.next = (struct list_head *)0x00000000"
	if !bytes.HasPrefix(text, []byte(want)) || int(ret) != bytes.IndexByte(text, 0) {
		t.Fatalf("%d %q", ret, text)
	}
	var hashes int
	for _, v := range rec.Log() {
		if v.Kind == EnvPointerHash {
			hashes++
		}
	}
	if hashes != 2 {
		t.Errorf("%d pointer hashes recorded, want 2", hashes)
	}
	rp := Replay(rec.Log())
	text2, ret2 := run(rp)
	if !bytes.Equal(text, text2) || ret != ret2 || rp.Err() != nil {
		t.Errorf("replay: %q %v", text2, rp.Err())
	}
}

// TestEnvKindNames: the kinds of every record file name themselves (the
// files' inits run in name order).
func TestEnvKindNames(t *testing.T) {
	for k, want := range map[EnvKind]string{EnvCgroupID: "skb_cgroup_id", EnvNetdev: "netdev", EnvPidns: "pidns",
		EnvPointerHash: "pointer_hash", EnvSysBPF: "sys_bpf", EnvBranchStack: "branch_stack"} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", k, got, want)
		}
	}
}
