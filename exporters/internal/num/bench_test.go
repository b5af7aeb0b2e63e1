package num

import "testing"

// Instruction numbers as a trace writes them: one more each time.

func BenchmarkCounter(b *testing.B) {
	var c Counter
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf = c.Append(buf[:0], uint64(i&0xffffff))
	}
}

func BenchmarkAppendInt(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf = AppendInt(buf[:0], int64(i&0xffffff))
	}
}

// Addresses, as the exporters write changed pointer registers.
func BenchmarkAppendHex(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf = AppendHex(buf[:0], 0x300000100+uint64(i&0xffff))
	}
}
