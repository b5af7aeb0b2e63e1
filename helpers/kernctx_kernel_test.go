package helpers_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/internal/pktgen"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/testrun"
	"github.com/bpfscope/bpfscope/vm"
)

// kernCtxObject builds testdata/kern_ctx.c against a vmlinux.h of the
// running kernel's BTF, as the kernel's selftests are built.
func kernCtxObject(t *testing.T) string {
	t.Helper()
	clang, err := exec.LookPath("clang-19")
	if err != nil {
		t.Skip("clang-19 not installed")
	}
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	vmlinux, err := exec.Command("bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c").Output()
	if err != nil {
		t.Skipf("bpftool btf dump: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vmlinux.h"), vmlinux, 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "kern_ctx.o")
	out, err := exec.Command(clang, "-target", "bpf", "-mcpu=v4", "-O2", "-g", "-Wall", "-Werror",
		"-I", dir, "-I/usr/include/x86_64-linux-gnu", "-c", "testdata/kern_ctx.c", "-o", obj).CombinedOutput()
	if err != nil {
		t.Fatalf("clang: %v\n%s", err, out) // our own source: it must build
	}
	return obj
}

// TestKernelCastToKernCtx reads struct sk_buff, struct xdp_buff and
// netfilter's struct bpf_nf_ctx through bpf_cast_to_kern_ctx, before and
// after helpers move the packet, on frames of every kind (IPv4, IPv6, VLAN, QinQ, tunnels, ARP, ...),
// with and without ctx_in, and the MAC and IP headers through head and
// the header offsets (bpf_rdonly_cast), and compares every value read
// with the kernel's.
func TestKernelCastToKernCtx(t *testing.T) {
	obj := kernCtxObject(t)
	c, err := loader.Load(obj, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// One frame of every kind the generator makes that a test run
	// takes whole (IPv4, IPv6, VLAN, QinQ, MPLS, GRE, IPIP, VXLAN, ...).
	var frames [][]byte
	var kinds []string
	seen := map[string]bool{}
	for _, f := range pktgen.Corpus(1, 200) {
		if len(f.Data) >= 60 && len(f.Data) <= 1500 && !seen[f.Name] {
			seen[f.Name] = true
			frames = append(frames, f.Data)
			kinds = append(kinds, f.Name)
		}
	}
	t.Logf("%d frames: %s", len(frames), strings.Join(kinds, " "))
	ctxIn := func(frame []byte) []byte {
		// mark, priority, ingress_ifindex, cb, tstamp, wire_len as a
		// caller may set them.
		b := make([]byte, 192)
		binary.LittleEndian.PutUint32(b[8:], 0x77)        // mark
		binary.LittleEndian.PutUint32(b[32:], 5)          // priority
		binary.LittleEndian.PutUint32(b[36:], 1)          // ingress_ifindex
		binary.LittleEndian.PutUint32(b[48:], 0xcafe)     // cb[0]
		binary.LittleEndian.PutUint64(b[152:], 123456789) // tstamp
		binary.LittleEndian.PutUint32(b[160:], uint32(len(frame)+10))
		return b
	}
	type variant struct {
		prog, bss string
		steps     int
		ctx       bool
	}
	variants := []variant{
		{"kctx_tc", "skb", 7, false}, {"kctx_tc", "skb", 7, true},
		{"kctx_socket", "skb", 1, false}, {"kctx_cgroup", "skb", 1, true},
		{"kctx_lwt", "skb", 1, false}, {"kctx_xdp", "xdp", 5, false},
	}
	compared, stepsRun := 0, map[string]int{}
	for _, v := range variants {
		for step := range v.steps {
			for i, frame := range frames {
				name := fmt.Sprintf("%s/ctx=%v/step%d/frame%d", v.prog, v.ctx, step, i)
				data := frame
				if v.prog == "kctx_xdp" && step == 4 {
					data = append(bytes.Clone(frame), make([]byte, 5000)...) // fragments
				}
				stepVal := binary.LittleEndian.AppendUint32(nil, uint32(step))
				in := kernel.Input{Data: data, Maps: map[string][]kernel.KV{}}
				opts := testrun.Options{Data: data, WantCtxOut: v.bss == "skb"}
				if v.ctx {
					in.Ctx = ctxIn(data)
					opts.Ctx = in.Ctx
				}
				in.Maps[".data.step"] = []kernel.KV{{Key: make([]byte, 4), Value: stepVal}}
				want, err := kernel.Run(obj, v.prog, in)
				if err != nil {
					t.Fatalf("%s: kernel: %v", name, err)
				}
				if want.Err != nil {
					t.Logf("%s: kernel test run: %v", name, want.Err)
					continue
				}
				if err := c.Maps[".data.step"].Put(make([]byte, 4), stepVal, 0); err != nil {
					t.Fatal(err)
				}
				kb := want.Maps[".bss"][0].Value
				if err := c.Maps[".bss"].Put(make([]byte, 4), make([]byte, len(kb)), 0); err != nil {
					t.Fatal(err)
				}
				got, err := testrun.RunProgram(c, v.prog, vm.Config{}, opts)
				if err != nil {
					t.Errorf("%s: bpfscope: %v", name, err)
					continue
				}
				if got.Retval != want.Retval {
					t.Errorf("%s: retval %d, kernel %d", name, got.Retval, want.Retval)
				}
				gb := make([]byte, len(kb))
				if err := c.Maps[".bss"].Get(make([]byte, 4), gb); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gb, kb) {
					t.Errorf("%s: .bss differs:\n%s", name, diffWords(gb, kb))
				}
				compared++
				stepsRun[v.prog]++
			}
		}
	}
	// Netfilter: the context is the kernel's own; its skb is the test
	// run's (LOCAL_OUT: the IP packet without Ethernet header).
	for i, frame := range frames {
		if p := binary.BigEndian.Uint16(frame[12:]); p != 0x0800 && p != 0x86dd {
			continue
		}
		data := frame[14:]
		want, err := kernel.Run(obj, "kctx_nf", kernel.Input{Data: data})
		if err != nil {
			t.Fatalf("kctx_nf/frame%d: kernel: %v", i, err)
		}
		if want.Err != nil {
			t.Logf("kctx_nf/frame%d: kernel test run: %v", i, want.Err)
			continue
		}
		kb := want.Maps[".bss"][0].Value
		if err := c.Maps[".bss"].Put(make([]byte, 4), make([]byte, len(kb)), 0); err != nil {
			t.Fatal(err)
		}
		got, err := testrun.RunProgram(c, "kctx_nf", vm.Config{}, testrun.Options{Data: data})
		if err != nil {
			t.Errorf("kctx_nf/frame%d: bpfscope: %v", i, err)
			continue
		}
		gb := make([]byte, len(kb))
		if err := c.Maps[".bss"].Get(make([]byte, 4), gb); err != nil {
			t.Fatal(err)
		}
		if got.Retval != want.Retval || !bytes.Equal(gb, kb) {
			t.Errorf("kctx_nf/frame%d: retval %d, kernel %d; .bss differs:\n%s", i, got.Retval, want.Retval, diffWords(gb, kb))
		}
		compared++
		stepsRun["kctx_nf"]++
	}
	t.Logf("%d runs identical to the kernel's (%v)", compared, stepsRun)
	if compared == 0 {
		t.Fatal("nothing compared")
	}
}

func diffWords(got, want []byte) string {
	var b strings.Builder
	for i := 0; i+4 <= len(got) && i+4 <= len(want); i += 4 {
		g, w := binary.LittleEndian.Uint32(got[i:]), binary.LittleEndian.Uint32(want[i:])
		if g != w {
			fmt.Fprintf(&b, "  .bss+%d: bpfscope %#x, kernel %#x\n", i, g, w)
		}
	}
	return b.String()
}

// TestKernelDecapSanity runs the kernel selftest decap_sanity (Debian's
// linux-source-6.12) on IPv6/UDP frames to its port 7777, which take it
// down its bpf_cast_to_kern_ctx path: skb->ip_summed before and after a
// decapsulating bpf_skb_adjust_room, csum_start, len and data_len.
func TestKernelDecapSanity(t *testing.T) {
	const src = "/usr/src/linux-source-6.12.tar.xz"
	if _, err := os.Stat(src); err != nil {
		t.Skip(src + " missing: apt-get install linux-source-6.12")
	}
	clang, err := exec.LookPath("clang-19")
	if err != nil {
		t.Skip("clang-19 not installed")
	}
	if err := kernel.Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	const progs = "linux-source-6.12/tools/testing/selftests/bpf/progs/"
	if out, err := exec.Command("tar", "-I", "xz -T0", "-xf", src, "-C", dir, "--strip-components=6",
		progs+"decap_sanity.c", progs+"bpf_tracing_net.h").CombinedOutput(); err != nil {
		t.Skipf("tar: %v\n%s", err, out)
	}
	vmlinux, err := exec.Command("bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c").Output()
	if err != nil {
		t.Skipf("bpftool btf dump: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vmlinux.h"), vmlinux, 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "decap_sanity.o")
	if out, err := exec.Command(clang, "-target", "bpf", "-mcpu=v4", "-O2", "-g", "-I", dir,
		"-c", filepath.Join(dir, "decap_sanity.c"), "-o", obj).CombinedOutput(); err != nil {
		t.Skipf("clang (libbpf-dev's headers): %v\n%s", err, out)
	}
	c, err := loader.Load(obj, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	frame := func(payload int, vlan bool) []byte {
		f := []byte{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1}
		if vlan {
			f = append(f, 0x81, 0x00, 0, 7)
		}
		f = append(f, 0x86, 0xdd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(8+payload))
		ip[6], ip[7] = 17, 64
		ip[23], ip[39] = 1, 2 // ::1 -> ::2
		udp := make([]byte, 8+payload)
		binary.BigEndian.PutUint16(udp[0:], 4000)
		binary.BigEndian.PutUint16(udp[2:], 7777)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+payload))
		for i := range payload {
			udp[8+i] = byte(i)
		}
		return append(append(f, ip...), udp...)
	}
	inputs := map[string][]byte{
		"udp6-7777": frame(20, false), "udp6-7777-empty": frame(0, false),
		"udp6-7777-large": frame(1400, false), "vlan": frame(20, true),
	}
	runs, reached := 0, 0
	for name, data := range inputs {
		for _, withCtx := range []bool{false, true} {
			in := kernel.Input{Data: data}
			opts := testrun.Options{Data: data, WantCtxOut: true}
			if withCtx {
				in.Ctx = make([]byte, 192)
				opts.Ctx = in.Ctx
			}
			want, err := kernel.Run(obj, "decap_sanity", in)
			if err != nil {
				t.Fatal(err)
			}
			if want.Err != nil {
				t.Logf("%s: kernel test run: %v", name, want.Err)
				continue
			}
			if err := c.Maps[".bss"].Put(make([]byte, 4), make([]byte, len(want.Maps[".bss"][0].Value)), 0); err != nil {
				t.Fatal(err)
			}
			got, err := testrun.RunProgram(c, "decap_sanity", vm.Config{}, opts)
			if err != nil {
				t.Errorf("%s: bpfscope: %v", name, err)
				continue
			}
			kb := want.Maps[".bss"][0].Value
			gb := make([]byte, len(kb))
			if err := c.Maps[".bss"].Get(make([]byte, 4), gb); err != nil {
				t.Fatal(err)
			}
			if got.Retval != want.Retval || !bytes.Equal(gb, kb) || !bytes.Equal(got.DataOut, want.DataOut) {
				t.Errorf("%s (ctx_in %v): retval %d, globals %x, data_out %x\nkernel: retval %d, globals %x, data_out %x",
					name, withCtx, got.Retval, gb, got.DataOut, want.Retval, kb, want.DataOut)
			}
			runs++
			if !bytes.Equal(kb, make([]byte, len(kb))) {
				reached++ // final_csum_none: past the cast and the decapsulation
			}
		}
	}
	t.Logf("%d runs identical to the kernel's, %d past bpf_cast_to_kern_ctx and the decapsulation", runs, reached)
	if runs == 0 || reached == 0 {
		t.Fatal("the kfunc's path was not compared")
	}
}
