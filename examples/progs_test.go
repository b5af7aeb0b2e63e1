package examples

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// TestObjectsUpToDate rebuilds every progs/*.c with build.sh when clang-19
// is on PATH and checks that the committed objects hold the same programs
// (instructions, references, source lines) and maps, so a source edit
// without a rebuild, or a hand-edited object, fails here. Debug sections
// are not compared byte for byte: they name the build directory.
func TestObjectsUpToDate(t *testing.T) {
	const clang = "clang-19"
	if testing.Short() {
		t.Skip("-short: not rebuilding progs/*.c (about 20 s)")
	}
	if _, err := exec.LookPath(clang); err != nil {
		t.Skipf("%s not on PATH: cannot rebuild progs/*.c to compare with the committed objects", clang)
	}
	srcs, err := filepath.Glob("progs/*.c")
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no sources in progs (%v)", err)
	}

	// Build a copy with build.sh itself, so its flags are the ones used.
	dir := t.TempDir()
	inputs, _ := filepath.Glob("progs/*.[ch]")
	for _, f := range append(inputs, "progs/build.sh") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", filepath.Join(dir, "build.sh"))
	cmd.Env = append(os.Environ(), "CLANG="+clang)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh in %s: %v\n%s", dir, err, out)
	}

	for _, src := range srcs {
		obj := strings.TrimSuffix(filepath.Base(src), ".c") + ".o"
		t.Run(obj, func(t *testing.T) {
			committed, err := describe(filepath.Join("progs", obj))
			if err != nil {
				t.Fatalf("committed object: %v (run examples/progs/build.sh %s)", err, filepath.Base(src))
			}
			rebuilt, err := describe(filepath.Join(dir, obj))
			if err != nil {
				t.Fatal(err)
			}
			if diff := firstDiff(committed, rebuilt); diff != "" {
				t.Errorf("progs/%s differs from a fresh build of %s; run examples/progs/build.sh %s and commit it:\n%s",
					obj, filepath.Base(src), filepath.Base(src), diff)
			}
		})
	}
}

// TestObjectsNameSourcesRelatively: the committed objects name their own
// sources relative to progs (build.sh's -ffile-prefix-map), not by the
// path of the machine that built them, so line info and coverage work
// wherever the repository is.
func TestObjectsNameSourcesRelatively(t *testing.T) {
	objs, _ := filepath.Glob("progs/*.o")
	if len(objs) == 0 {
		t.Fatal("no objects in progs")
	}
	for _, obj := range objs {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]bool{}
		for _, ps := range spec.Programs {
			for _, ins := range ps.Instructions {
				if l, ok := ins.Source().(*btf.Line); ok {
					files[l.FileName()] = true
				}
			}
		}
		if len(files) == 0 {
			t.Errorf("%s: no line info", obj)
		}
		for f := range files {
			if filepath.IsAbs(f) && !strings.HasPrefix(f, "/usr/") {
				t.Errorf("%s names its source %s by an absolute path", obj, f)
			}
		}
	}
}

// describe lists what an object defines, one line per fact: per program
// its attributes, its marshalled instructions with their references and
// source lines; per map its spec and contents.
func describe(path string) ([]string, error) {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return nil, err
	}
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, name := range sortedKeys(spec.Programs) {
		ps := spec.Programs[name]
		add("program %s: type %s, attach %s, section %q, flags %#x, license %q",
			name, ps.Type, ps.AttachType, ps.SectionName, ps.Flags, ps.License)
		insns := slices.Clone(ps.Instructions)
		// Marshal resolves bpf-to-bpf calls in place; the listing below
		// then shows each instruction's bytes as the kernel gets them.
		if err := insns.Marshal(io.Discard, binary.LittleEndian); err != nil {
			return nil, fmt.Errorf("program %s: %w", name, err)
		}
		add("program %s: %d instructions", name, len(insns))
		for i, ins := range insns {
			var raw bytes.Buffer
			if _, err := ins.Marshal(&raw, binary.LittleEndian); err != nil {
				return nil, fmt.Errorf("program %s: instruction %d: %w", name, i, err)
			}
			add("program %s: insn %d: %x %v", name, i, raw.Bytes(), ins)
			if sym := ins.Symbol(); sym != "" {
				add("program %s: insn %d: symbol %s", name, i, sym)
			}
			if ref := ins.Reference(); ref != "" {
				add("program %s: insn %d: reference %s", name, i, ref)
			}
			if l, ok := ins.Source().(*btf.Line); ok {
				add("program %s: insn %d: %s:%d %s", name, i, filepath.Base(l.FileName()), l.LineNumber(), strings.TrimSpace(l.Line()))
			}
			if fn := btf.FuncMetadata(&ins); fn != nil {
				add("program %s: insn %d: func %s", name, i, fn.Name)
			}
		}
	}
	for _, name := range sortedKeys(spec.Maps) {
		add("map %s: %s", name, describeMap(spec.Maps[name]))
	}
	return out, nil
}

func describeMap(ms *ebpf.MapSpec) string {
	s := fmt.Sprintf("%s, pinning %d, extra %#x, key %v, value %v", ms, ms.Pinning, ms.MapExtra, ms.Key, ms.Value)
	for _, kv := range ms.Contents {
		s += fmt.Sprintf(", [%v]=%v", kv.Key, kv.Value)
	}
	if ms.InnerMap != nil && ms.InnerMap != ms {
		s += ", inner " + describeMap(ms.InnerMap)
	}
	return s
}

// firstDiff reports the first line where the descriptions differ, or "".
func firstDiff(committed, rebuilt []string) string {
	for i := range max(len(committed), len(rebuilt)) {
		c, r := "(nothing)", "(nothing)"
		if i < len(committed) {
			c = committed[i]
		}
		if i < len(rebuilt) {
			r = rebuilt[i]
		}
		if c != r {
			return fmt.Sprintf("  committed: %.300s\n  rebuilt:   %.300s", c, r)
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// itemThreeHelpers are the helpers the project promises (issue 4, item 3);
// the example programs together must call each of them, so the kernel
// differential test covers them all.
var itemThreeHelpers = []asm.BuiltinFunc{
	asm.FnMapLookupElem, asm.FnMapUpdateElem, asm.FnMapDeleteElem,
	asm.FnMapPushElem, asm.FnMapPopElem, asm.FnMapPeekElem,
	asm.FnKtimeGetNs, asm.FnKtimeGetBootNs, asm.FnGetPrandomU32, asm.FnGetSmpProcessorId,
	asm.FnTracePrintk, asm.FnSnprintf,
	asm.FnRingbufOutput, asm.FnRingbufReserve, asm.FnRingbufSubmit, asm.FnRingbufDiscard,
	asm.FnPerfEventOutput, asm.FnTailCall, asm.FnLoop, asm.FnForEachMapElem,
	asm.FnXdpAdjustHead, asm.FnXdpAdjustTail, asm.FnXdpAdjustMeta,
	asm.FnXdpLoadBytes, asm.FnXdpStoreBytes, asm.FnXdpGetBuffLen,
	asm.FnRedirect, asm.FnRedirectMap,
	asm.FnCsumDiff, asm.FnL3CsumReplace, asm.FnL4CsumReplace,
	asm.FnSkbLoadBytes, asm.FnSkbStoreBytes, asm.FnSkbChangeProto, asm.FnSkbChangeType,
	asm.FnSkbChangeTail, asm.FnSkbChangeHead, asm.FnSkbAdjustRoom, asm.FnGetHashRecalc,
	asm.FnFibLookup, asm.FnSpinLock, asm.FnSpinUnlock,
	asm.FnProbeReadKernel, asm.FnProbeReadUser, asm.FnProbeReadKernelStr, asm.FnProbeReadUserStr,
	asm.FnGetCurrentPidTgid, asm.FnGetCurrentComm, asm.FnGetCurrentUidGid,
}

func TestExamplesCallEveryHelper(t *testing.T) {
	called := map[asm.BuiltinFunc]bool{}
	objs, _ := filepath.Glob("progs/*.o")
	for _, obj := range objs {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range spec.Programs {
			for _, ins := range ps.Instructions {
				if ins.IsBuiltinCall() {
					called[asm.BuiltinFunc(ins.Constant)] = true
				}
			}
		}
	}
	for _, fn := range itemThreeHelpers {
		if !called[fn] {
			t.Errorf("no example program calls %v", fn)
		}
	}
}
