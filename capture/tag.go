package capture

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"

	"github.com/bpfscope/bpfscope/isa"
)

// Pseudo sources of ld_imm64 whose imm the kernel leaves out of the tag:
// BPF_PSEUDO_MAP_FD and BPF_PSEUDO_MAP_VALUE (include/uapi/linux/bpf.h).
const (
	pseudoMapFD    = 1
	pseudoMapValue = 2
)

// Tags computes the kernel's prog_tag of instructions as a loader hands
// them to BPF_PROG_LOAD, following bpf_prog_calc_tag in kernel/bpf/core.c:
// a copy of the instructions in which an ld_imm64 of a map (src
// BPF_PSEUDO_MAP_FD or BPF_PSEUDO_MAP_VALUE) has its imm zeroed, and so
// does its second slot (the map value offset) when that slot is plain
// (code, dst, src and off zero), is hashed and the tag is the digest's
// first 8 bytes. Map references are file descriptors there, which differ
// from load to load; bpfscope's loader holds map indexes in the same place.
//
// The digest is SHA-256 from Linux 6.18 (it came with signed programs)
// and SHA-1 before; both are returned, and TestTagMatchesKernel checks
// the one the running kernel uses.
func Tags(insns []isa.Insn) (sha256Tag, sha1Tag string) {
	cp := make([]isa.Insn, len(insns))
	copy(cp, insns)
	wasLdMap := false
	for i := range cp {
		in := &cp[i]
		switch {
		case !wasLdMap && in.Op == isa.ClassLD|isa.ModeIMM|isa.SizeDW &&
			(in.Src == pseudoMapFD || in.Src == pseudoMapValue):
			wasLdMap = true
			in.Imm = 0
		case wasLdMap && in.Op == 0 && in.Dst == 0 && in.Src == 0 && in.Off == 0:
			wasLdMap = false
			in.Imm = 0
		default:
			wasLdMap = false
		}
	}
	raw := isa.Encode(cp)
	s256 := sha256.Sum256(raw)
	s1 := sha1.Sum(raw)
	return hex.EncodeToString(s256[:8]), hex.EncodeToString(s1[:8])
}

// TagMatches reports whether insns are the program whose kernel prog_tag
// is tag, under either digest.
func TagMatches(insns []isa.Insn, tag string) bool {
	a, b := Tags(insns)
	return tag != "" && (tag == a || tag == b)
}
