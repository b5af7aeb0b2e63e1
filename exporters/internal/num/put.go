package num

import (
	"encoding/binary"
	"math/bits"
)

// Writers that reserve room for a whole line first write numbers in
// place with these, rather than append them one at a time.

// PutHex writes v in lowercase hex without leading zeros at the start of
// b, as AppendHex appends it, and returns how many bytes that took. b must
// have room for 16 bytes: the digits are stored a machine word at a time,
// and what follows them is overwritten.
func PutHex(b []byte, v uint64) int {
	n := (bits.Len64(v|1) + 3) / 4
	_ = b[15]
	switch {
	case n <= 8:
		binary.BigEndian.PutUint64(b, hex8(uint32(v))<<(64-8*n))
	case n == 9: // the addresses of the machine's regions, 0x100000000 up
		b[0] = hexDigits[v>>32&15]
		binary.BigEndian.PutUint64(b[1:9], hex8(uint32(v)))
	default:
		binary.BigEndian.PutUint64(b, hex8(uint32(v>>32))<<(128-8*n))
		binary.BigEndian.PutUint64(b[n-8:], hex8(uint32(v)))
	}
	return n
}

const hexDigits = "0123456789abcdef"

// Hex8 returns the eight hex digits of v in ASCII, the first in the high
// byte: stored big-endian, the text of v with leading zeros.
func Hex8(v uint32) uint64 { return hex8(v) }

// Digits returns the decimal digits of v in ASCII, the last in the low
// byte of word, and how many there are; 0, 0 if v has more than 8.
// Stored big-endian, word<<(64-8*n) is the text of v.
func Digits(v uint64) (word uint64, n int) {
	if v > 99999999 {
		return 0, 0
	}
	var d [8]byte
	for _, x := range AppendInt(d[:0], int64(v)) {
		word = word<<8 | uint64(x)
		n++
	}
	return word, n
}

// NextDigits returns Digits(v+1) from Digits(v), word and n > 0: the
// trailing nines become zeros and the digit before them grows by one.
func NextDigits(word uint64, n int) (uint64, int) {
	k := bits.TrailingZeros64(word^nines) / 8
	if k < n {
		return word + carry[k&7], n
	}
	if n == 8 { // 99999999 + 1
		return 0, 0
	}
	// All nines: a one and n zeros.
	return '1'<<(8*n) | zeros>>(64-8*n), n + 1
}

const zeros = 0x3030303030303030

// Put3 writes v < 1000 in decimal at the start of b, as AppendInt
// appends it, with one 32-bit store, and returns how many bytes that
// took: b must have room for 4. Writers of many small numbers call it
// for those, inlined, and AppendInt for the others.
func Put3(b []byte, v uint64) int {
	w := small3[v]
	binary.LittleEndian.PutUint32(b, w)
	return int(w >> 24)
}

// Put6 is Put3 for v < 1000000, with two 32-bit stores: b must have
// room for 8 bytes.
func Put6(b []byte, v uint64) int {
	if v < 1000 {
		return Put3(b, v)
	}
	n := Put3(b, v/1000)
	binary.LittleEndian.PutUint32(b[n:], pad3[v%1000])
	return n + 3
}

// small3 holds the text of 0 to 999 in the low bytes of little-endian
// words, and its length in the high byte.
var small3 = func() (t [1000]uint32) {
	for v := range t {
		var b [4]byte
		n := len(AppendInt(b[:0], int64(v)))
		t[v] = binary.LittleEndian.Uint32(b[:]) | uint32(n)<<24
	}
	return t
}()

// pad3 holds the text of 0 to 999 with leading zeros, "000" to "999", in
// the low bytes of little-endian words.
var pad3 = func() (t [1000]uint32) {
	for v := range t {
		b := [4]byte{byte('0' + v/100), byte('0' + v/10%10), byte('0' + v%10)}
		t[v] = binary.LittleEndian.Uint32(b[:])
	}
	return t
}()
