// Package cbpf runs classic BPF the way Linux does: tcpdump/libpcap capture
// filters, SO_ATTACH_FILTER socket filters and seccomp policies.
//
// The kernel never interprets classic BPF. It checks a filter
// (bpf_check_classic, and seccomp_check_filter for seccomp), converts it to
// eBPF (bpf_convert_filter in net/core/filter.c) and runs that. This package
// does the same, so a classic filter runs in bpfscope's interpreter under
// its hooks and exporters: every eBPF instruction carries the classic
// instruction it came from as its source line, so a trace shows both, and
// coverage and profiles count classic instructions.
//
// Filters come from tcpdump's -dd (C array) and -ddd (decimal) output, from
// raw struct sock_filter bytes, from golang.org/x/net/bpf instructions, or
// from a libpcap expression compiled by an installed tcpdump (Compile).
package cbpf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// MaxInsns is BPF_MAXINSNS, the longest classic filter the kernel takes.
const MaxInsns = 4096

// Filter is a classic BPF program: struct sock_filter instructions.
type Filter []bpf.RawInstruction

// ErrSyntax is wrapped by every error of the parsers.
var ErrSyntax = errors.New("not a classic BPF filter")

// FromInstructions assembles golang.org/x/net/bpf instructions.
func FromInstructions(insns []bpf.Instruction) (Filter, error) {
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("cbpf: %w", err)
	}
	return Filter(raw), nil
}

// Instructions decodes f into golang.org/x/net/bpf instructions (for its
// virtual machine, or to edit a filter).
func (f Filter) Instructions() ([]bpf.Instruction, bool) {
	return bpf.Disassemble(f)
}

// SockFilterSize is sizeof(struct sock_filter).
const SockFilterSize = 8

// FromBytes decodes struct sock_filter instructions as the host lays them
// out (code u16, jt u8, jf u8, k u32; little endian here), as a program
// passes them to SO_ATTACH_FILTER or seccomp(2).
func FromBytes(b []byte) (Filter, error) {
	if len(b) == 0 || len(b)%SockFilterSize != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %d-byte struct sock_filter: %w", len(b), SockFilterSize, ErrSyntax)
	}
	if len(b)/SockFilterSize > MaxInsns {
		return nil, fmt.Errorf("%d instructions, more than BPF_MAXINSNS (%d): %w", len(b)/SockFilterSize, MaxInsns, ErrSyntax)
	}
	f := make(Filter, len(b)/SockFilterSize)
	for i := range f {
		r := b[i*SockFilterSize:]
		f[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.LittleEndian.Uint32(r[4:])}
	}
	return f, nil
}

// Bytes encodes f as struct sock_filter instructions (see FromBytes).
func (f Filter) Bytes() []byte {
	b := make([]byte, len(f)*SockFilterSize)
	for i, in := range f {
		r := b[i*SockFilterSize:]
		binary.LittleEndian.PutUint16(r, in.Op)
		r[2], r[3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(r[4:], in.K)
	}
	return b
}

// Parse reads a filter in one of tcpdump's output forms:
//
//   - -dd, a C array: { 0x28, 0, 0, 0x0000000c }, one instruction a line;
//   - -ddd, decimal: a count line, then "code jt jf k" lines (the form
//     iptables' bpf match and `nft` take).
//
// Commas, braces, blank lines and // or # comments are skipped. Errors name
// the line.
func Parse(text string) (Filter, error) {
	var f Filter
	count := -1 // the -ddd count line, if any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == '{' || r == '}' || r == ' ' || r == '\t' || r == ';' || r == '\r'
		})
		if len(fields) == 0 {
			continue
		}
		if len(fields) == 1 && count < 0 && len(f) == 0 {
			c, err := strconv.ParseUint(fields[0], 0, 32)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: expected an instruction count or \"code, jt, jf, k\": %w", n, strings.TrimSpace(sc.Text()), ErrSyntax)
			}
			count = int(c)
			continue
		}
		if len(fields) != 4 {
			return nil, fmt.Errorf("line %d: %q: expected 4 numbers (code, jt, jf, k), got %d: %w", n, strings.TrimSpace(sc.Text()), len(fields), ErrSyntax)
		}
		var v [4]uint64
		limits := [4]int{16, 8, 8, 32}
		for i, s := range fields {
			x, err := strconv.ParseUint(s, 0, limits[i])
			if err != nil {
				x2, err2 := strconv.ParseInt(s, 0, limits[i]) // k may be written negative (SKF_AD_OFF)
				if i != 3 || err2 != nil {
					return nil, fmt.Errorf("line %d: %q: field %d (%s) is not a %d-bit number: %w", n, strings.TrimSpace(sc.Text()), i+1, [4]string{"code", "jt", "jf", "k"}[i], limits[i], ErrSyntax)
				}
				x = uint64(uint32(int32(x2)))
			}
			v[i] = x
		}
		if len(f) == MaxInsns {
			return nil, fmt.Errorf("line %d: more than BPF_MAXINSNS (%d) instructions: %w", n, MaxInsns, ErrSyntax)
		}
		f = append(f, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrSyntax)
	}
	if len(f) == 0 {
		return nil, fmt.Errorf("no instructions: %w", ErrSyntax)
	}
	if count >= 0 && count != len(f) {
		return nil, fmt.Errorf("the count line says %d instructions, %d follow: %w", count, len(f), ErrSyntax)
	}
	return f, nil
}

// ErrNoTcpdump is returned by Compile when tcpdump is not installed.
var ErrNoTcpdump = errors.New("tcpdump is not installed (it compiles libpcap filter expressions; `apt-get install tcpdump`), give the filter as tcpdump -dd output instead")

// Compile compiles a libpcap filter expression ("tcp port 80") for
// Ethernet frames with the installed tcpdump (tcpdump -ddd), as a capture
// on an Ethernet interface would. It reads from an empty capture file of
// that link type, so it opens no interface and needs no privileges.
func Compile(expr string) (Filter, error) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, ErrNoTcpdump
	}
	dir, err := os.MkdirTemp("", "bpfscope-cbpf")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	empty := filepath.Join(dir, "empty.pcap")
	// A pcap file header alone: magic, version 2.4, snaplen 262144, LINKTYPE_ETHERNET.
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	if err := os.WriteFile(empty, hdr, 0o600); err != nil {
		return nil, err
	}
	out, err := exec.Command(tcpdump, "-n", "-r", empty, "-ddd", "--", expr).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg := strings.TrimSpace(string(ee.Stderr))
			if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
				msg = msg[i+1:]
			}
			return nil, fmt.Errorf("tcpdump cannot compile %q: %s", expr, msg)
		}
		return nil, fmt.Errorf("tcpdump: %w", err)
	}
	return Parse(string(out))
}
