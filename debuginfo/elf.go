// Package debuginfo reads the DWARF debug information clang emits for BPF
// objects (-g): at any pc of a loaded program it names the C function, the
// chain of inlined calls, and the local variables and parameters that are
// live there with their C types and locations (a register, a stack slot
// fp-N, a constant, a global). Objects without DWARF give an Info that
// answers with nothing, so callers fall back to BTF lines and raw names.
//
// BPF objects are relocatable ELF files whose .debug_* sections still
// carry relocations (R_BPF_64_ABS64, R_BPF_64_ABS32) that Go's debug/elf
// does not apply for EM_BPF; this package applies them itself.
package debuginfo

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// BPF relocation types that appear in debug sections (include/uapi/linux/elf.h
// numbers them for the kernel; LLVM's BPF backend emits these two in DWARF).
const (
	rBPF64Abs64 = 2
	rBPF64Abs32 = 3
)

// ErrNoDWARF says an object carries no DWARF (built without -g, or stripped).
var ErrNoDWARF = errors.New("no DWARF debug information")

// LoadFile reads the DWARF of the BPF object at path.
func LoadFile(path string) (*Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Load(f)
}

// Load reads the DWARF of a BPF ELF object. An object without DWARF
// returns an empty Info and ErrNoDWARF; any Info it returns is usable.
func Load(r io.ReaderAt) (*Info, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return &Info{}, fmt.Errorf("debuginfo: %w", err)
	}
	defer f.Close()
	if f.Section(".debug_info") == nil {
		return &Info{}, ErrNoDWARF
	}
	secs, addrSecs, err := relocatedDebugSections(f)
	if err != nil {
		return &Info{}, fmt.Errorf("debuginfo: %w", err)
	}
	d, err := dwarf.New(secs[".debug_abbrev"], nil, secs[".debug_frame"], secs[".debug_info"],
		secs[".debug_line"], nil, secs[".debug_ranges"], secs[".debug_str"])
	if err != nil {
		return &Info{}, fmt.Errorf("debuginfo: %w", err)
	}
	for _, name := range []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"} {
		if b := secs[name]; b != nil {
			if err := d.AddSection(name, b); err != nil {
				return &Info{}, fmt.Errorf("debuginfo: %s: %w", name, err)
			}
		}
	}
	in := &Info{d: d, loclists: secs[".debug_loclists"], addr: secs[".debug_addr"], addrSecs: addrSecs,
		entries: len(secs[".debug_info"]) + 1}
	if err := in.read(); err != nil {
		return &Info{}, fmt.Errorf("debuginfo: %w", err)
	}
	return in, nil
}

// relocatedDebugSections returns the .debug_* sections with their .rel
// sections applied, and for .debug_addr the section each relocated slot
// points into (by the slot's offset), which names a global's section.
func relocatedDebugSections(f *elf.File) (map[string][]byte, map[int]string, error) {
	secs := map[string][]byte{}
	for _, s := range f.Sections {
		if !strings.HasPrefix(s.Name, ".debug_") || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		secs[s.Name] = bytes.Clone(b)
	}
	syms, err := f.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, nil, err
	}
	addrSecs := map[int]string{}
	for _, rs := range f.Sections {
		if rs.Type != elf.SHT_REL || int(rs.Info) >= len(f.Sections) {
			continue
		}
		target := f.Sections[rs.Info].Name
		b, ok := secs[target]
		if !ok {
			continue
		}
		data, err := rs.Data()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", rs.Name, err)
		}
		for i := 0; i+16 <= len(data); i += 16 {
			off := binary.LittleEndian.Uint64(data[i:])
			info := binary.LittleEndian.Uint64(data[i+8:])
			symIdx, typ := int(info>>32), uint32(info)
			var sv uint64
			secName := ""
			if symIdx > 0 { // Symbols() leaves out the null symbol 0
				if symIdx-1 >= len(syms) {
					return nil, nil, fmt.Errorf("%s: relocation %d names symbol %d of %d", rs.Name, i/16, symIdx, len(syms))
				}
				s := syms[symIdx-1]
				sv = s.Value
				if int(s.Section) < len(f.Sections) && s.Section != elf.SHN_UNDEF {
					secName = f.Sections[s.Section].Name
				}
			}
			// REL: the addend is what the field holds; the result is S + A.
			switch typ {
			case rBPF64Abs64:
				if off+8 > uint64(len(b)) {
					return nil, nil, fmt.Errorf("%s: relocation at %d past the section", rs.Name, off)
				}
				binary.LittleEndian.PutUint64(b[off:], sv+binary.LittleEndian.Uint64(b[off:]))
				if target == ".debug_addr" {
					addrSecs[int(off)] = secName
				}
			case rBPF64Abs32:
				if off+4 > uint64(len(b)) {
					return nil, nil, fmt.Errorf("%s: relocation at %d past the section", rs.Name, off)
				}
				binary.LittleEndian.PutUint32(b[off:], uint32(sv)+binary.LittleEndian.Uint32(b[off:]))
			default:
				return nil, nil, fmt.Errorf("%s: relocation type %d", rs.Name, typ)
			}
		}
	}
	return secs, addrSecs, nil
}
