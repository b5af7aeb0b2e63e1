package loader

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// libbpf's defaults (tools/lib/bpf/libbpf.c), applied to the copied spec
// before maps are made, so objects built for libbpf load as libbpf would
// load them. cilium/ebpf's ELF reader already maps every SEC() name of
// libbpf's section_defs to its program type.

const kconfigMap = ".kconfig"

// applyDefaults fills in what libbpf fills in: perf event arrays' key and
// value sizes (4; max_entries is set in mapSpec), ring buffer sizes
// rounded up to a power-of-2 number of pages, and the .kconfig map of
// __kconfig externs. Pinning has no meaning here: it gets a note.
func (l *linker) applyDefaults(c *Collection) error {
	for name, ms := range l.spec.Maps {
		switch ms.Type {
		case ebpf.PerfEventArray:
			if ms.KeySize == 0 {
				ms.KeySize = 4
			}
			if ms.ValueSize == 0 {
				ms.ValueSize = 4
			}
		case ebpf.RingBuf:
			ms.MaxEntries = adjustRingbufSize(ms.MaxEntries)
		}
		if ms.Pinning != ebpf.PinNone {
			c.Notes = append(c.Notes, fmt.Sprintf("map %s: pinning (%v) ignored: nothing is shared between collections", name, ms.Pinning))
		}
	}
	return l.kconfig(c)
}

// adjustRingbufSize is libbpf's adjust_ringbuf_sz: the kernel wants a
// power-of-2 multiple of the page size; a size that is not becomes the
// smallest such multiple above it.
func adjustRingbufSize(sz uint32) uint32 {
	const page = 4096
	if sz == 0 || sz%page == 0 && (sz/page)&(sz/page-1) == 0 {
		return sz
	}
	for mul := uint64(1); mul*page <= 1<<32-1; mul <<= 1 {
		if uint32(mul*page) > sz {
			return uint32(mul * page)
		}
	}
	return sz
}

// kconfig builds the .kconfig map from the object's .kconfig datasec, as
// libbpf does: LINUX_KERNEL_VERSION from the kernel release,
// LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER as on Linux 6.18
// x86-64, CONFIG_* from the kernel configuration (Options.KernelConfig, or
// the running kernel's /proc/config.gz or /boot/config-<release>).
func (l *linker) kconfig(c *Collection) error {
	if l.spec.Types == nil {
		return nil
	}
	var ds *btf.Datasec
	if err := l.spec.Types.TypeByName(kconfigMap, &ds); err != nil {
		return nil
	}
	fail := func(detail string, cause error) error {
		return &Error{Object: l.object, Map: kconfigMap, Insn: -1, Err: ErrExtern, Detail: detail, Cause: cause}
	}
	data := make([]byte, ds.Size)
	var config map[string]string
	for _, vsi := range ds.Vars {
		v, ok := vsi.Type.(*btf.Var)
		if !ok || int(vsi.Offset)+int(vsi.Size) > len(data) {
			return fail("(malformed .kconfig datasec)", nil)
		}
		dst := data[vsi.Offset : vsi.Offset+vsi.Size]
		var value string
		switch name := v.Name; {
		case name == "LINUX_KERNEL_VERSION":
			kv, err := l.kernelVersion()
			if err != nil {
				return fail(name, err)
			}
			value = strconv.FormatUint(uint64(kv), 10)
		case name == "LINUX_HAS_BPF_COOKIE", name == "LINUX_HAS_SYSCALL_WRAPPER":
			value = "1"
		case strings.HasPrefix(name, "CONFIG_"):
			if config == nil {
				var err error
				if config, err = l.kernelConfig(); err != nil {
					return fail(name, err)
				}
			}
			var found bool
			if value, found = config[name]; !found {
				// libbpf refuses a strong extern it cannot find (a
				// __weak one would be 0, but cilium/ebpf's ELF reader
				// refuses weak __kconfig externs before this).
				return fail(name+" (not in the kernel configuration)", nil)
			}
		default:
			return fail(name+" (libbpf knows no such __kconfig extern)", nil)
		}
		if err := putKconfig(dst, v.Type, value); err != nil {
			return fail(v.Name, err)
		}
	}
	l.spec.Maps[kconfigMap] = &ebpf.MapSpec{
		Name: kconfigMap, Type: ebpf.Array, KeySize: 4, ValueSize: ds.Size, MaxEntries: 1,
		Flags: unix.BPF_F_RDONLY_PROG, Key: &btf.Int{Size: 4}, Value: ds,
		Contents: []ebpf.MapKV{{Key: uint32(0), Value: data}},
	}
	return nil
}

// putKconfig stores a configuration value as libbpf's set_kcfg_value_*
// do for the extern's type: y/n/m for bool, tristate (enum
// libbpf_tristate: n 0, y 1, m 2) and char; a quoted string for a char
// array (truncated, NUL-terminated); a number for an integer.
func putKconfig(dst []byte, t btf.Type, value string) error {
	t = btf.UnderlyingType(t)
	tri := len(value) == 1 && strings.ContainsAny(value, "ynm")
	switch v := t.(type) {
	case *btf.Enum:
		if v.Name != "libbpf_tristate" || !tri {
			return fmt.Errorf("value %q does not fit enum %s", value, v.Name)
		}
		n := map[string]uint64{"n": 0, "y": 1, "m": 2}[value]
		return putUint(dst, n)
	case *btf.Array:
		elem, ok := btf.UnderlyingType(v.Type).(*btf.Int)
		if !ok || elem.Size != 1 || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
			return fmt.Errorf("value %s is not a string for a char array", value)
		}
		s := value[1 : len(value)-1]
		clear(dst)
		copy(dst[:len(dst)-1], s)
		return nil
	case *btf.Int:
		switch {
		case v.Encoding == btf.Bool:
			b, ok := map[string]uint64{"n": 0, "y": 1, "0": 0, "1": 1}[value]
			if !ok {
				return fmt.Errorf("value %q for a bool", value)
			}
			return putUint(dst, b)
		case v.Encoding == btf.Char && v.Size == 1 && tri:
			dst[0] = value[0]
			return nil
		case tri:
			return fmt.Errorf("value %q for an integer", value)
		}
		n, err := strconv.ParseUint(value, 0, 64)
		if err != nil {
			sn, serr := strconv.ParseInt(value, 0, 64)
			if serr != nil {
				return fmt.Errorf("value %q is not a number", value)
			}
			n = uint64(sn)
		}
		if v.Size < 8 && v.Encoding != btf.Signed && n >= 1<<(8*v.Size) {
			return fmt.Errorf("value %s does not fit %d bytes", value, v.Size)
		}
		return putUint(dst, n)
	}
	return fmt.Errorf("extern of type %s", t)
}

func putUint(dst []byte, n uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], n)
	if len(dst) > 8 {
		return fmt.Errorf("%d-byte integer", len(dst))
	}
	copy(dst, b[:len(dst)])
	return nil
}

// kernelRelease is Options.KernelRelease or uname -r.
func (l *linker) kernelRelease() string {
	if l.opts.KernelRelease != "" {
		return l.opts.KernelRelease
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// kernelVersion is KERNEL_VERSION(a, b, c) of the release, c clamped to
// 255 as the kernel's LINUX_VERSION_CODE is.
func (l *linker) kernelVersion() (uint32, error) {
	rel := l.kernelRelease()
	var v [3]uint32
	parts := strings.SplitN(rel, ".", 3)
	for i := range min(len(parts), 3) {
		digits := parts[i]
		if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			digits = digits[:j]
		}
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("kernel release %q: %w", rel, err)
		}
		v[i] = uint32(n)
	}
	return v[0]<<16 | v[1]<<8 | min(v[2], 255), nil
}

// kernelConfig reads CONFIG_ lines: Options.KernelConfig, else the running
// kernel's.
func (l *linker) kernelConfig() (map[string]string, error) {
	paths := []string{l.opts.KernelConfig}
	if l.opts.KernelConfig == "" {
		paths = []string{"/proc/config.gz", "/boot/config-" + l.kernelRelease()}
	}
	var errs []error
	for _, p := range paths {
		cfg, err := readKernelConfig(p)
		if err == nil {
			return cfg, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no kernel configuration: %w", errors.Join(errs...))
}

func readKernelConfig(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader = bytes.NewReader(raw)
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		if r, err = gzip.NewReader(r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return parseKernelConfig(r)
}

// parseKernelConfig reads "CONFIG_X=value" and "# CONFIG_X is not set"
// lines, as libbpf's bpf_object__process_kconfig_line does.
func parseKernelConfig(r io.Reader) (map[string]string, error) {
	cfg := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "# "); ok {
			if name, ok = strings.CutSuffix(name, " is not set"); ok && strings.HasPrefix(name, "CONFIG_") {
				cfg[name] = "n"
			}
			continue
		}
		if name, value, ok := strings.Cut(line, "="); ok && strings.HasPrefix(name, "CONFIG_") {
			cfg[name] = value
		}
	}
	return cfg, sc.Err()
}

// kconfigOffset is the offset into .kconfig of the extern a map value load
// reads. cilium/ebpf records it in instruction metadata it does not
// export; this reads it by reflection and reports false when the layout
// changed (a test guards it).
func kconfigOffset(ins *asm.Instruction) (uint32, bool) {
	meta := reflect.ValueOf(&ins.Metadata).Elem()
	if meta.Kind() != reflect.Struct || meta.NumField() == 0 {
		return 0, false
	}
	for e := meta.Field(0); e.Kind() == reflect.Pointer && !e.IsNil(); {
		el := e.Elem()
		if el.Kind() != reflect.Struct {
			return 0, false
		}
		key, val, next := el.FieldByName("key"), el.FieldByName("value"), el.FieldByName("next")
		if !key.IsValid() || !val.IsValid() || !next.IsValid() {
			return 0, false
		}
		if key.Kind() == reflect.Interface && !key.IsNil() && key.Elem().Type().Name() == "kconfigMetaKey" {
			v := val
			for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return 0, false
				}
				v = v.Elem()
			}
			if off := v.FieldByName("Offset"); off.IsValid() && off.CanUint() {
				return uint32(off.Uint()), true
			}
			return 0, false
		}
		e = next
	}
	return 0, false
}
