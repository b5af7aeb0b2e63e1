package num

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestAgainstStrconv(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 99, 100, 101, 999, 1000, math.MaxUint32, 1 << 32, math.MaxInt64, 1 << 63, math.MaxUint64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, r.Uint64()>>r.IntN(64))
	}
	for _, v := range vals {
		if got, want := string(AppendHex([]byte("x"), v)), "x"+strconv.FormatUint(v, 16); got != want {
			t.Fatalf("AppendHex(%d) = %q, want %q", v, got, want)
		}
		for _, s := range []int64{int64(v), -int64(v)} {
			if got, want := string(AppendInt(nil, s)), strconv.FormatInt(s, 10); got != want {
				t.Fatalf("AppendInt(%d) = %q, want %q", s, got, want)
			}
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, v uint64) {
		if got, want := string(AppendHex(nil, v)), strconv.FormatUint(v, 16); got != want {
			t.Fatalf("AppendHex(%d) = %q, want %q", v, got, want)
		}
		if got, want := string(AppendInt(nil, int64(v))), strconv.FormatInt(int64(v), 10); got != want {
			t.Fatalf("AppendInt(%d) = %q, want %q", int64(v), got, want)
		}
		var b [16]byte
		if got, want := string(b[:PutHex(b[:], v)]), strconv.FormatUint(v, 16); got != want {
			t.Fatalf("PutHex(%d) = %q, want %q", v, got, want)
		}
	})
}

func TestCounter(t *testing.T) {
	var c Counter
	check := func(v uint64) {
		t.Helper()
		if got, want := string(c.Append([]byte("x"), v)), "x"+strconv.FormatUint(v, 10); got != want {
			t.Fatalf("Counter.Append(%d) = %q, want %q", v, got, want)
		}
	}
	for v := range uint64(12000) {
		check(v)
	}
	for _, v := range []uint64{99, 100, 100, 7, 999999, 1000000, 9999999, 10000000, 99999998, 99999999,
		100000000, 100000001, 1 << 63, 1<<63 + 1, 42, 43, 0, 1} {
		check(v)
	}
}

func TestPutHex(t *testing.T) {
	vals := []uint64{0, 1, 0xf, 0x10, 0xffffffff, 1 << 32, 0x3000006dc, 0xfffffffff, 1 << 36, math.MaxUint64}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		vals = append(vals, r.Uint64()>>r.IntN(64))
	}
	b := make([]byte, 20)
	for _, v := range vals {
		for i := range b {
			b[i] = '#'
		}
		n := PutHex(b[2:18], v)
		if got, want := string(b[2:2+n]), strconv.FormatUint(v, 16); got != want || string(b[:2]) != "##" {
			t.Fatalf("PutHex(%#x) = %q (%q), want %q", v, got, b, want)
		}
	}
}

func TestDigits(t *testing.T) {
	text := func(w uint64, n int) string {
		var b [8]byte
		for i := range n {
			b[i] = byte(w >> (8 * (n - 1 - i)))
		}
		return string(b[:n])
	}
	w, n := Digits(0)
	for v := uint64(0); v < 200000; v++ {
		if n == 0 || text(w, n) != strconv.FormatUint(v, 10) {
			t.Fatalf("NextDigits to %d: %q", v, text(w, n))
		}
		w, n = NextDigits(w, n)
	}
	for _, v := range []uint64{9, 99, 999999, 9999999, 12345678, 99999998} {
		w, n := NextDigits(Digits(v))
		if got, want := text(w, n), strconv.FormatUint(v+1, 10); n == 0 || got != want {
			t.Fatalf("NextDigits(Digits(%d)) = %q, want %q", v, got, want)
		}
	}
	if w, n := Digits(99999999); n != 8 || text(w, n) != "99999999" {
		t.Fatalf("Digits(99999999) = %q", text(w, n))
	}
	if _, n := NextDigits(Digits(99999999)); n != 0 {
		t.Fatal("NextDigits(99999999) fits in a word")
	}
	if _, n := Digits(100000000); n != 0 {
		t.Fatal("Digits(100000000) fits in a word")
	}
}

// Put3 writes what strconv does, and no more than 3 digits, for every
// number below 1000.
func TestPut3(t *testing.T) {
	for v := range uint64(1000) {
		b := []byte("abcdef")
		n := Put3(b[1:], v)
		if got, want := string(b[1:1+n]), strconv.FormatUint(v, 10); got != want {
			t.Errorf("Put3(%d) = %q, want %q", v, got, want)
		}
		if b[0] != 'a' || b[5] != 'f' {
			t.Errorf("Put3(%d) wrote outside its 4 bytes: %q", v, b)
		}
	}
}

// Put6 writes what strconv does for numbers below a million, on both
// sides of each power of ten.
func TestPut6(t *testing.T) {
	for _, v := range []uint64{0, 9, 10, 999, 1000, 1001, 1010, 9999, 10000, 10007, 99999, 100000, 100099, 127500, 999999} {
		b := []byte("abcdefghij")
		n := Put6(b[1:], v)
		if got, want := string(b[1:1+n]), strconv.FormatUint(v, 10); got != want {
			t.Errorf("Put6(%d) = %q, want %q", v, got, want)
		}
		if b[0] != 'a' || b[9] != 'j' {
			t.Errorf("Put6(%d) wrote outside its 8 bytes: %q", v, b)
		}
	}
}
