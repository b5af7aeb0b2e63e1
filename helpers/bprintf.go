package helpers

import (
	"fmt"
	"strconv"
	"syscall"
)

// The kernel's printf-like helpers (bpf_trace_printk, bpf_trace_vprintk,
// bpf_snprintf) share bpf_bprintf_prepare, which checks the format and
// copies the arguments the format dereferences into a 512-byte buffer, and
// bstr_printf, which formats. bprintf does both in one pass with the same
// rules and errors.

// Limits from include/linux/bpf.h.
const (
	maxBprintfVarargs = 12   // MAX_BPRINTF_VARARGS
	maxBprintfBinArgs = 512  // MAX_BPRINTF_BIN_ARGS
	maxBprintfBuf     = 1024 // MAX_BPRINTF_BUF
	maxTraceVarargs   = 3    // MAX_TRACE_PRINTK_VARARGS
	fieldWidthMax     = 1<<23 - 1
)

// strReader reads a NUL-terminated string of at most max bytes (the NUL
// included) at addr, for %s ('s'), %pks ('k') and %pus ('u'), or fixed
// bytes for %pI4/%pI6 ('i').
type strReader interface {
	readString(addr uint64, ptype byte, max int) ([]byte, error)
	readFixed(addr uint64, dst []byte) error
}

// bprintf formats format (without its NUL) with args. The output is cut at
// limit bytes; n is the length the whole output has, as bstr_printf
// returns it. errno is non-zero when the kernel would refuse the format.
func bprintf(format []byte, args []uint64, mem strReader, limit int) (out []byte, n int, errno syscall.Errno) {
	return bprintfTo(nil, format, args, mem, limit)
}

// bprintfTo is bprintf writing into dst's array.
func bprintfTo(dst, format []byte, args []uint64, mem strReader, limit int) (out []byte, n int, errno syscall.Errno) {
	w := writer{buf: dst[:0], limit: limit}
	// used counts the bytes of the kernel's bin_args buffer, which exists
	// only when there are arguments.
	used, spec := 0, 0
	at := func(i int) byte {
		if i < len(format) {
			return format[i]
		}
		return 0
	}
	reserve := func(n int, align bool) bool {
		if align {
			used = (used + 3) &^ 3
		}
		if maxBprintfBinArgs-used < n {
			return false
		}
		used += n
		return true
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c > 0x7e || (c < 0x20 && !isSpace(c)) {
			return nil, 0, syscall.EINVAL
		}
		if c != '%' {
			w.byte(c)
			continue
		}
		if at(i+1) == '%' {
			w.byte('%')
			i++
			continue
		}
		if spec >= len(args) {
			return nil, 0, syscall.EINVAL
		}
		arg := args[spec]
		spec++
		i++
		var f fmtSpec
		for ; ; i++ {
			switch at(i) {
			case '0':
				f.zero = true
				continue
			case '+':
				f.plus = true
				continue
			case '-':
				f.left = true
				continue
			case ' ':
				f.space = true
				continue
			}
			break
		}
		if d := at(i); d >= '1' && d <= '9' {
			for ; at(i) >= '0' && at(i) <= '9'; i++ {
				f.width = min(f.width*10+int(at(i)-'0'), fieldWidthMax)
			}
		}
		switch at(i) {
		case 'p':
			next := at(i + 1)
			switch {
			case next == 0 || isSpace(next) || isPunct(next):
				if !reserve(8, true) {
					return nil, 0, syscall.ENOSPC
				}
				w.pointer(arg, f, false)
			case (next == 'k' || next == 'u') && at(i+2) == 's':
				i += 2
				if !isStrEnd(at(i + 1)) {
					return nil, 0, syscall.EINVAL
				}
				s, ok := readStr(mem, arg, next, &used)
				if !ok {
					return nil, 0, syscall.ENOSPC
				}
				w.bytes(s) // already processed: copied without the field spec
			case next == 'K' || next == 'x' || next == 's' || next == 'S':
				i++
				if !reserve(8, true) {
					return nil, 0, syscall.ENOSPC
				}
				switch next {
				case 'x':
					w.pointer(arg, f, true)
				case 'K':
					w.pointer(arg, f, false)
				default: // no symbols here: kallsyms prints unknown addresses so
					w.str([]byte("0x"+strconv.FormatUint(arg, 16)), f)
				}
			case next == 'B':
				i++
				s := "0x" + strconv.FormatUint(arg, 16)
				used += min(len(s)+1, maxBprintfBinArgs-used)
				w.bytes([]byte(s))
			case (next == 'i' || next == 'I') && (at(i+2) == '4' || at(i+2) == '6'):
				i += 2
				ip := make([]byte, 4)
				if at(i) == '6' {
					ip = make([]byte, 16)
				}
				if maxBprintfBinArgs-used < len(ip) {
					return nil, 0, syscall.ENOSPC
				}
				if mem.readFixed(arg, ip) != nil {
					clear(ip)
				}
				s := formatIP(ip, next == 'I')
				used += min(len(s)+1, maxBprintfBinArgs-used)
				w.bytes([]byte(s))
			default:
				return nil, 0, syscall.EINVAL
			}
		case 's':
			if !isStrEnd(at(i + 1)) {
				return nil, 0, syscall.EINVAL
			}
			s, ok := readStr(mem, arg, 's', &used)
			if !ok {
				return nil, 0, syscall.ENOSPC
			}
			w.str(s, f)
		case 'c':
			if !reserve(1, false) {
				return nil, 0, syscall.ENOSPC
			}
			w.str([]byte{byte(arg)}, f)
		default:
			size := 4
			if at(i) == 'l' {
				size = 8
				i++
			}
			if at(i) == 'l' {
				i++
			}
			conv := at(i)
			if conv != 'i' && conv != 'd' && conv != 'u' && conv != 'x' && conv != 'X' {
				return nil, 0, syscall.EINVAL
			}
			if !reserve(size, true) {
				return nil, 0, syscall.ENOSPC
			}
			w.number(arg, size, conv, f)
		}
	}
	return w.buf, w.n, 0
}

// readStr copies a string argument into the bin_args buffer: at most the
// space left, NUL included; a fault copies an empty string.
func readStr(mem strReader, addr uint64, ptype byte, used *int) ([]byte, bool) {
	room := maxBprintfBinArgs - *used
	if room == 0 {
		return nil, false
	}
	s, err := mem.readString(addr, ptype, room)
	if err != nil {
		s = nil
	}
	*used += len(s) + 1
	return s, true
}

func isStrEnd(c byte) bool { return c == 0 || isSpace(c) || isPunct(c) }

// isSpace and isPunct are the kernel's ctype for ASCII.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

func isPunct(c byte) bool {
	return c > ' ' && c < 0x7f && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
}

func formatIP(ip []byte, upper bool) string {
	if len(ip) == 4 {
		if upper {
			return fmt.Sprintf("%d.%d.%d.%d", ip[0], ip[1], ip[2], ip[3])
		}
		return fmt.Sprintf("%03d.%03d.%03d.%03d", ip[0], ip[1], ip[2], ip[3])
	}
	var b []byte
	for i := 0; i < 16; i += 2 {
		b = fmt.Appendf(b, "%02x%02x", ip[i], ip[i+1])
		if upper && i != 14 {
			b = append(b, ':')
		}
	}
	return string(b)
}

// fmtSpec holds the flags and field width of one conversion.
type fmtSpec struct {
	zero, plus, left, space bool
	width                   int
}

// writer accumulates output up to limit bytes and counts all of it.
type writer struct {
	buf   []byte
	limit int
	n     int
}

func (w *writer) byte(c byte) {
	if len(w.buf) < w.limit {
		w.buf = append(w.buf, c)
	}
	w.n++
}

func (w *writer) bytes(b []byte) {
	w.buf = append(w.buf, b[:min(len(b), w.limit-len(w.buf))]...)
	w.n += len(b)
}

func (w *writer) pad(c byte, k int) {
	for range min(k, w.limit-len(w.buf)) {
		w.buf = append(w.buf, c)
	}
	w.n += max(k, 0)
}

// str is vsprintf's string(): space padding to the width, on the left
// unless '-'.
func (w *writer) str(s []byte, f fmtSpec) {
	if !f.left {
		w.pad(' ', f.width-len(s))
	}
	w.bytes(s)
	if f.left {
		w.pad(' ', f.width-len(s))
	}
}

// number is vsprintf's number() for d, i, u, x and X of an int (size 4) or
// a long (size 8).
func (w *writer) number(v uint64, size int, conv byte, f fmtSpec) {
	signed := conv == 'd' || conv == 'i'
	var sign string
	if size == 4 {
		if signed {
			v = uint64(int64(int32(v)))
		} else {
			v = uint64(uint32(v))
		}
	}
	var digits string
	switch {
	case signed && int64(v) < 0:
		sign, digits = "-", strconv.FormatUint(-v, 10)
	case signed:
		digits = strconv.FormatUint(v, 10)
		if f.plus {
			sign = "+"
		} else if f.space {
			sign = " "
		}
	case conv == 'u':
		digits = strconv.FormatUint(v, 10)
	case conv == 'x':
		var b [16]byte // not a string of its own for every %x
		w.padded(sign, string(strconv.AppendUint(b[:0], v, 16)), f)
		return
	default:
		digits = fmt.Sprintf("%X", v)
	}
	w.padded(sign, digits, f)
}

// padded writes sign and digits in a field: zeros go between the sign and
// the digits, spaces before or after.
func (w *writer) padded(sign, digits string, f fmtSpec) {
	n := f.width - len(sign) - len(digits)
	switch {
	case f.left:
		w.bytes([]byte(sign + digits))
		w.pad(' ', n)
	case f.zero:
		w.bytes([]byte(sign))
		w.pad('0', n)
		w.bytes([]byte(digits))
	default:
		w.pad(' ', n)
		w.bytes([]byte(sign + digits))
	}
}

// pointer is vsprintf's pointer_string: 16 hex digits, zero-padded, unless
// a width is given. For %p and %pK the kernel prints a keyed hash of
// non-NULL pointers; without the key, this prints the low 32 bits.
func (w *writer) pointer(v uint64, f fmtSpec, raw bool) {
	if !raw && v != 0 && v < 1<<64-4095 {
		v &= 0xffffffff
	}
	if f.width == 0 {
		f.width, f.zero = 16, true
	}
	w.padded("", strconv.FormatUint(v, 16), f)
}
