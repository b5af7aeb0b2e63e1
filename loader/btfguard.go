package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	bpfmaps "github.com/bpfscope/bpfscope/maps"
)

// cilium/ebpf's BTF decoder recurses once per link of a chain of types (a
// pointer to a pointer to ...), about 735 bytes of goroutine stack each
// (measured with v0.22.0): a 9 MB BTF of 730,000 chained pointers
// exhausts Go's 1 GB stack and ends the process with "fatal error: stack
// overflow", which no recover can catch. Its recursion is bounded by the
// number of types, so the loader counts them before handing BTF over.
const (
	// MaxObjectBTFTypes bounds the BTF types of an object: clang-built
	// objects hold a few thousand, and 131,072 keep the decoder's stack
	// under 100 MB.
	MaxObjectBTFTypes = 1 << 17
	// MaxKernelBTFTypes bounds a CO-RE target BTF: vmlinux of Linux 6.18
	// holds about 126,000 types.
	MaxKernelBTFTypes = 1 << 18
	// maxBTFBytes bounds the BTF section read to count its types.
	maxBTFBytes = 256 << 20
)

// errTooManyTypes is wrapped by the guard's errors.
var errTooManyTypes = errors.New("BTF too large for the decoder")

// checkZeroSections refuses an object whose zero-filled (SHT_NOBITS)
// sections, which cilium/ebpf allocates at their declared size before the
// loader sees them (a .bss becomes a map), take more than limit bytes
// together: their sizes cost the file nothing.
func checkZeroSections(r io.ReaderAt, limit uint64, hint string) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil
	}
	var total uint64
	for _, sec := range f.Sections {
		if sec.Type != elf.SHT_NOBITS {
			continue
		}
		if total += sec.Size; total > limit || total < sec.Size {
			return &bpfmaps.MemoryLimitError{Map: sec.Name, Type: bpfmaps.Array, Need: sec.Size, Used: total - sec.Size, Limit: limit, Hint: hint}
		}
	}
	return nil
}

// checkObjectBTF counts the types of an object's .BTF section.
func checkObjectBTF(r io.ReaderAt) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil // not ELF: cilium/ebpf says why
	}
	sec := f.Section(".BTF")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil
	}
	return checkBTFBlob(sec.Open(), MaxObjectBTFTypes)
}

// checkBTFFile counts the types of a BTF file, raw or ELF.
func checkBTFFile(r io.ReaderAt) error {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil
	}
	if bytes.Equal(magic[:], []byte(elf.ELFMAG)) {
		f, err := elf.NewFile(r)
		if err != nil {
			return nil
		}
		if sec := f.Section(".BTF"); sec != nil && sec.Type != elf.SHT_NOBITS {
			return checkBTFBlob(sec.Open(), MaxKernelBTFTypes)
		}
		return nil
	}
	return checkBTFBlob(io.NewSectionReader(r, 0, maxBTFBytes+1), MaxKernelBTFTypes)
}

// checkBTFBlob walks the type headers of a raw BTF blob and fails if it
// holds more than max types. Malformed blobs pass: the decoder rejects them.
func checkBTFBlob(r io.Reader, max int) error {
	blob, err := io.ReadAll(io.LimitReader(r, maxBTFBytes+1))
	if err != nil && len(blob) == 0 {
		return nil
	}
	if len(blob) > maxBTFBytes {
		return fmt.Errorf("%w: more than %d bytes", errTooManyTypes, maxBTFBytes)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if len(blob) < 24 {
		return nil
	}
	switch {
	case bo.Uint16(blob) == 0xeb9f:
	case binary.BigEndian.Uint16(blob) == 0xeb9f:
		bo = binary.BigEndian
	default:
		return nil
	}
	hdr := uint64(bo.Uint32(blob[4:]))
	start := hdr + uint64(bo.Uint32(blob[8:]))
	end := start + uint64(bo.Uint32(blob[12:]))
	if end > uint64(len(blob)) {
		return nil
	}
	n := 0
	for p := start; p+12 <= end; n++ {
		if n >= max {
			return fmt.Errorf("%w: more than %d types (the decoder recurses once per link of a chain of types)", errTooManyTypes, max)
		}
		info := bo.Uint32(blob[p+4:])
		kind, vlen := info>>24&0x1f, uint64(info&0xffff)
		p += 12
		switch kind {
		case 1, 14, 17: // int, var, decl tag
			p += 4
		case 3: // array
			p += 12
		case 4, 5, 15, 19: // struct, union, datasec, enum64
			p += 12 * vlen
		case 6, 13: // enum, func proto
			p += 8 * vlen
		}
	}
	return nil
}
