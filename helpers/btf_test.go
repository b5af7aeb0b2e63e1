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

// TestSetKernelTypes: without a KernelBTFEnv the helpers name types in the
// BTF SetKernelTypes gave (the loader gives the BTF it relocated against).
func TestSetKernelTypes(t *testing.T) {
	u8 := &btf.Int{Name: "u8", Size: 1}
	u32 := &btf.Int{Name: "u32", Size: 4}
	pair := &btf.Struct{Name: "pair", Size: 8, Members: []btf.Member{
		{Name: "tag", Type: &btf.Array{Index: u32, Type: u8, Nelems: 4}},
		{Name: "n", Type: &btf.Typedef{Name: "count_t", Type: u32}, Offset: 32},
	}}
	b, err := btf.NewBuilder([]btf.Type{pair}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var st *btf.Struct
	if err := spec.TypeByName("pair", &st); err != nil {
		t.Fatal(err)
	}
	id, err := spec.TypeID(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []Env{nil, Record(nil)} {
		setKernelTypesCase(t, env, spec, id)
	}
}

func setKernelTypesCase(t *testing.T, env Env, spec *btf.Spec, id btf.TypeID) {
	bench := newBench(t, env)
	bench.s.SetKernelTypes(spec)
	copy(bench.buf, "ab\x00\x00\x07\x00\x00\x00")
	binary.LittleEndian.PutUint64(bench.buf[16:], bench.at)
	binary.LittleEndian.PutUint32(bench.buf[24:], uint32(id))
	ret, err := bench.call(asm.FnSnprintfBtf, bench.at+64, 128, bench.at+16, 16, btfFCompact)
	if err != nil {
		t.Fatal(err)
	}
	const want = "(struct pair){.tag = (u8[])['a','b',],.n = (count_t)7,}"
	if got := string(cstr(bench.buf[64:])); got != want || int(ret) != len(want) {
		t.Errorf("%d %q, want %q", ret, got, want)
	}
}
