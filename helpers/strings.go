package helpers

import (
	"bytes"
	"encoding/binary"
	"syscall"

	"github.com/bpfscope/bpfscope/hooks"
	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf/asm"
)

func init() {
	register(asm.FnTracePrintk, "bpf_trace_printk", tracePrintk)
	register(asm.FnTraceVprintk, "bpf_trace_vprintk", traceVprintk)
	register(asm.FnSnprintf, "bpf_snprintf", snprintf)
	register(asm.FnStrtol, "bpf_strtol", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return strto(m, a, true)
	})
	register(asm.FnStrtoul, "bpf_strtoul", func(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
		return strto(m, a, false)
	})
	register(asm.FnStrncmp, "bpf_strncmp", strncmp)
}

// memReader reads the strings and addresses a format dereferences.
type memReader struct {
	s *Set
	m *vm.Machine
}

func (r memReader) readString(addr uint64, ptype byte, max int) ([]byte, error) {
	space := eitherSpace // %s: user below TASK_SIZE on x86-64, else kernel
	switch ptype {
	case 'k':
		space = kernelSpace
	case 'u':
		space = userSpace
	}
	user := space == userSpace || space == eitherSpace && addr < taskSizeMax
	buf := make([]byte, max)
	n, err := r.s.readHostString(r.m, addr, buf, user)
	if err != nil {
		return nil, err
	}
	return buf[:n-1], nil
}

func (r memReader) readFixed(addr uint64, dst []byte) error {
	return r.s.readHost(r.m, addr, dst, false)
}

// cString reads the NUL-terminated string at addr within size bytes, as
// the format arguments of the printf helpers are; without a NUL the
// kernel answers -EINVAL.
func cString(m *vm.Machine, addr uint64, size uint32) ([]byte, bool, error) {
	b, err := m.Bytes(addr, int(size), false)
	if err != nil {
		return nil, false, err
	}
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, false, nil
	}
	return b[:i], true, nil
}

// constString reads a NUL-terminated string the verifier proved constant
// (ARG_PTR_TO_CONST_STR), such as bpf_snprintf's format.
// The walk is charged against the run's budget as it goes.
func constString(m *vm.Machine, addr uint64) ([]byte, error) {
	var s []byte
	for i := uint64(0); ; i++ {
		b, err := m.Bytes(addr+i, 1, false)
		if err != nil {
			return nil, err
		}
		if b[0] == 0 {
			return s, chargeBytes(m, len(s))
		}
		s = append(s, b[0])
		if len(s)%4096 == 0 {
			if err := chargeBytes(m, 4096); err != nil {
				return nil, err
			}
		}
	}
}

// tracePrintk implements bpf_trace_printk(fmt, fmt_size, arg1, arg2,
// arg3): the line goes to the trace buffer (here hooks.Output and the
// RunState), cut at MAX_BPRINTF_BUF-1 bytes; the return value is the
// length of the whole formatted text.
func tracePrintk(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	return s.printk(m, a[0], uint32(a[1]), a[2:5])
}

// traceVprintk implements bpf_trace_vprintk(fmt, fmt_size, data,
// data_len): like bpf_trace_printk with up to 12 arguments in an array.
func traceVprintk(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	args, errno, err := argArray(m, a[2], uint32(a[3]))
	if err != nil || errno != 0 {
		return neg(errno), err
	}
	return s.printk(m, a[0], uint32(a[1]), args)
}

func (s *Set) printk(m *vm.Machine, fmtAddr uint64, fmtSize uint32, args []uint64) (uint64, error) {
	format, ok, err := cString(m, fmtAddr, fmtSize)
	if err != nil {
		return 0, err
	}
	if !ok {
		return neg(syscall.EINVAL), nil
	}
	st := s.State(m)
	sc := &st.scratch
	sc.mem = memReader{s, m} // in st: no boxing per call
	out, n, errno := bprintfTo(sc.line, format, args, &sc.mem, maxBprintfBuf-1)
	sc.mem = memReader{} // st must not keep m alive: states holds m weakly
	sc.line = out
	if errno != 0 {
		return neg(errno), nil
	}
	// trace_pipe shows the line up to the first NUL (a %c of 0).
	if i := bytes.IndexByte(out, 0); i >= 0 {
		out = out[:i]
	}
	if err := output(m, len(out)); err != nil {
		return 0, err
	}
	if st.Printk == nil {
		st.Printk = sc.printk // nil unless the caller reuses its state
	}
	st.Printk = append(st.Printk, sc.intern(len(st.Printk), out))
	sc.out = hooks.Output{Kind: "trace_printk", Data: out}
	m.ReportOutput(&sc.out)
	return uint64(n), nil
}

// argArray reads the u64 argument array of bpf_trace_vprintk and
// bpf_snprintf: a multiple of 8 bytes, at most 12 arguments.
func argArray(m *vm.Machine, addr uint64, size uint32) ([]uint64, syscall.Errno, error) {
	if size%8 != 0 || size > maxBprintfVarargs*8 || size != 0 && addr == 0 {
		return nil, syscall.EINVAL, nil
	}
	b, err := m.Bytes(addr, int(size), false)
	if err != nil {
		return nil, 0, err
	}
	args := make([]uint64, size/8)
	for i := range args {
		args[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return args, 0, nil
}

// snprintf implements bpf_snprintf(str, str_size, fmt, data, data_len):
// it writes at most str_size-1 bytes and a NUL, and returns the length of
// the whole formatted text plus one for the NUL.
func snprintf(s *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	args, errno, err := argArray(m, a[3], uint32(a[4]))
	if err != nil || errno != 0 {
		return neg(errno), err
	}
	format, err := constString(m, a[2])
	if err != nil {
		return 0, err
	}
	size := int(uint32(a[1]))
	out, n, errno := bprintf(format, args, memReader{s, m}, max(size-1, 0))
	if errno != 0 {
		return neg(errno), nil
	}
	if err := chargeBytes(m, len(out)); err != nil {
		return 0, err
	}
	if size > 0 {
		buf, err := m.Bytes(a[0], size, true)
		if err != nil {
			return 0, err
		}
		buf[copy(buf, out)] = 0
	}
	return uint64(n + 1), nil
}

// strtoBaseMask is BPF_STRTOX_BASE_MASK.
const strtoBaseMask = 0x1f

// strto implements bpf_strtol and bpf_strtoul(buf, buf_len, flags, res)
// as __bpf_strtoull does: leading whitespace, an optional '-', a base from
// flags (0, 8, 10 or 16; 0 detects 0x and 0 prefixes), and at most 63
// bytes considered. It returns the bytes consumed, -EINVAL when there are
// no digits, -ERANGE on overflow; *res is 0 on error.
func strto(m *vm.Machine, a vm.Args, signed bool) (uint64, error) {
	buf, err := m.Bytes(a[0], int(uint32(a[1])), false)
	if err != nil {
		return 0, err
	}
	if err := chargeBytes(m, len(buf)); err != nil { // the white space it may skip
		return 0, err
	}
	res, err := m.Bytes(a[3], 8, true)
	if err != nil {
		return 0, err
	}
	clear(res)
	v, consumed, errno := parseInteger(buf, a[2], signed)
	if errno != 0 {
		return neg(errno), nil
	}
	binary.LittleEndian.PutUint64(res, v)
	return uint64(consumed), nil
}

func parseInteger(buf []byte, flags uint64, signed bool) (uint64, int, syscall.Errno) {
	base := uint64(flags & strtoBaseMask)
	if len(buf) == 0 || base != 0 && base != 8 && base != 10 && base != 16 || flags&^strtoBaseMask != 0 {
		return 0, 0, syscall.EINVAL
	}
	i := 0
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	negative := i < len(buf) && buf[i] == '-'
	if negative {
		i++
	}
	if i == len(buf) {
		return 0, 0, syscall.EINVAL
	}
	str := buf[i:min(len(buf), i+63)]
	if j := bytes.IndexByte(str, 0); j >= 0 {
		str = str[:j]
	}
	at := func(k int) byte {
		if k < len(str) {
			return str[k]
		}
		return 0
	}
	p := 0
	if base == 0 {
		base = 10
		if at(0) == '0' {
			base = 8
			if lower(at(1)) == 'x' && isHex(at(2)) {
				base = 16
			}
		}
	}
	if base == 16 && at(0) == '0' && lower(at(1)) == 'x' {
		p = 2
	}
	var v uint64
	var overflow bool
	start := p
	for ; p < len(str); p++ {
		d := digitVal(str[p])
		if d >= base {
			break
		}
		if v>>60 != 0 && v > (^uint64(0)-d)/base {
			overflow = true
		}
		v = v*base + d
	}
	switch {
	case overflow:
		return 0, 0, syscall.ERANGE
	case p == start:
		return 0, 0, syscall.EINVAL
	}
	consumed := i + p
	if !signed {
		if negative {
			return 0, 0, syscall.EINVAL
		}
		return v, consumed, 0
	}
	if negative {
		if int64(-v) > 0 {
			return 0, 0, syscall.ERANGE
		}
		return -v, consumed, 0
	}
	if int64(v) < 0 {
		return 0, 0, syscall.ERANGE
	}
	return v, consumed, 0
}

func lower(c byte) byte { return c | 0x20 }

func isHex(c byte) bool { return c >= '0' && c <= '9' || lower(c) >= 'a' && lower(c) <= 'f' }

// digitVal is a digit's value in any base up to 16, or 16.
func digitVal(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case lower(c) >= 'a' && lower(c) <= 'f':
		return uint64(lower(c)-'a') + 10
	}
	return 16
}

// strncmp implements bpf_strncmp(s1, s1_sz, s2): the kernel's strncmp,
// which answers -1, 0 or 1.
func strncmp(_ *Set, m *vm.Machine, a vm.Args) (uint64, error) {
	s1, err := m.Bytes(a[0], int(uint32(a[1])), false)
	if err != nil {
		return 0, err
	}
	s2, err := constString(m, a[2])
	if err != nil {
		return 0, err
	}
	for i := range s1 {
		var c2 byte
		if i < len(s2) {
			c2 = s2[i]
		}
		if s1[i] != c2 {
			if s1[i] < c2 {
				return uint64(^uint64(0)), nil
			}
			return 1, nil
		}
		if c2 == 0 {
			break
		}
	}
	return 0, nil
}
