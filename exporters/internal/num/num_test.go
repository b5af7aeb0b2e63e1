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
