// Package num appends numbers to byte slices as strconv does, in a
// fraction of its time: the exporters write a few numbers per executed
// instruction.
package num

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
)

// extend returns b grown by n bytes, to be written from the end back.
func extend(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = slices.Grow(b, n)
	}
	return b[:len(b)+n]
}

// AppendHex appends v in lowercase hex without leading zeros, as
// strconv.AppendUint(b, v, 16) does. The digits of each 32-bit half are
// made in one machine word and stored with one write.
func AppendHex(b []byte, v uint64) []byte {
	n := (bits.Len64(v|1) + 3) / 4
	if cap(b)-len(b) < 16 {
		b = slices.Grow(b, 16)
	}
	i := len(b)
	b = b[:i+16]
	if n > 8 {
		binary.BigEndian.PutUint64(b[i:], hex8(uint32(v>>32))<<(128-8*n))
		i += n - 8
		n = 8
	}
	binary.BigEndian.PutUint64(b[i:], hex8(uint32(v))<<(64-8*n))
	return b[:i+n]
}

// hex8 returns the eight hex digits of v in ASCII, the first in the high
// byte.
func hex8(v uint32) uint64 {
	x := uint64(v)
	// One nibble per byte, the high nibble in the high byte.
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f
	// '0'+d for a digit d, and 'a'-'0'-10 = 39 more where d > 9.
	letters := (x + 0x0606060606060606) >> 4 & 0x0101010101010101
	return x + 0x3030303030303030 + letters*39
}

// append4 appends u < 10000 in decimal, without leading zeros.
func append4(b []byte, u uint64) []byte {
	if u < 10 {
		return append(b, byte('0'+u))
	}
	if u < 100 {
		return append(b, smalls[2*u], smalls[2*u+1])
	}
	hi, lo := u/100, u%100
	if hi < 10 {
		return append(b, byte('0'+hi), smalls[2*lo], smalls[2*lo+1])
	}
	return append(b, smalls[2*hi], smalls[2*hi+1], smalls[2*lo], smalls[2*lo+1])
}

// AppendInt appends v in decimal, as strconv.AppendInt(b, v, 10) does.
func AppendInt(b []byte, v int64) []byte {
	u := uint64(v)
	if v < 0 {
		b = append(b, '-')
		u = -u
	}
	if u < 10 {
		return append(b, byte('0'+u))
	}
	if u < 100 {
		return append(b, smalls[2*u], smalls[2*u+1])
	}
	if u < 10000 { // pcs, counts of short runs, bytes and ports
		hi, lo := u/100, u%100
		if hi < 10 {
			return append(b, byte('0'+hi), smalls[2*lo], smalls[2*lo+1])
		}
		return append(b, smalls[2*hi], smalls[2*hi+1], smalls[2*lo], smalls[2*lo+1])
	}
	if u < 100000000 { // sums, lengths, counts: the first digits, then four
		hi, lo := u/10000, u%10000
		b = append4(b, hi)
		a, c := lo/100, lo%100
		return append(b, smalls[2*a], smalls[2*a+1], smalls[2*c], smalls[2*c+1])
	}
	n := 1
	for x := u; x >= 10; x /= 10 {
		n++
	}
	b = extend(b, n)
	i := len(b)
	for u >= 100 {
		q := u / 100
		r := u - q*100
		i -= 2
		b[i], b[i+1] = smalls[2*r], smalls[2*r+1]
		u = q
	}
	if u >= 10 {
		b[i-2], b[i-1] = smalls[2*u], smalls[2*u+1]
	} else {
		b[i-1] = byte('0' + u)
	}
	return b
}

const smalls = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" +
	"60616263646566676869" + "70717273747576777879" + "80818283848586878889" +
	"90919293949596979899"

// Counter appends a count that mostly grows by one, as instruction
// numbers in a trace do: it keeps the count's digits in a machine word,
// increments them there and stores them with one write.
type Counter struct {
	v    uint64
	word uint64 // the digits of v in ASCII, the last in the low byte
	n    int    // how many digits word holds; 0: v has more than 8
	ok   bool
}

const nines = 0x3939393939393939

// carry[k] added to a count's word with k trailing nines increments it:
// the nines become zeros (minus 9 each), the digit before grows by one.
var carry = func() (c [8]uint64) {
	for k := range c {
		c[k] = 1<<(8*k) - (1<<(8*k)-1)/255*9
	}
	return c
}()

// Append appends v in decimal.
func (c *Counter) Append(b []byte, v uint64) []byte {
	switch {
	case c.ok && v == c.v:
	case c.ok && v == c.v+1 && c.n > 0:
		// The trailing nines become zeros, the digit before them grows.
		k := bits.TrailingZeros64(c.word^nines) / 8
		if k < c.n {
			c.v = v
			c.word += carry[k]
			break
		}
		c.set(v) // all nines: one digit more
	default:
		c.set(v)
	}
	if c.n == 0 {
		return strconv.AppendUint(b, v, 10)
	}
	if cap(b)-len(b) < 8 {
		b = slices.Grow(b, 8)
	}
	binary.BigEndian.PutUint64(b[len(b):len(b)+8], c.word<<(64-8*c.n))
	return b[:len(b)+c.n]
}

// set makes v the count, its digits in word if they fit.
func (c *Counter) set(v uint64) {
	c.v, c.ok, c.word, c.n = v, true, 0, 0
	if v > 99999999 {
		return
	}
	var d [8]byte
	for _, x := range AppendInt(d[:0], int64(v)) {
		c.word = c.word<<8 | uint64(x)
		c.n++
	}
}
