package maps_test

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfscope/bpfscope/maps"
)

// Create maps and use them as user space does with the bpf() syscall:
// keys and values are bytes, in the program's (little-endian) layout.
func ExampleNew() {
	hash, err := maps.New(&maps.Spec{Name: "seen", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		panic(err)
	}
	key := binary.LittleEndian.AppendUint32(nil, 7)
	val := binary.LittleEndian.AppendUint64(nil, 42)
	if err := hash.Put(key, val, 0); err != nil {
		panic(err)
	}
	out := make([]byte, hash.UserValueSize())
	err = hash.Get(key, out)
	fmt.Println(binary.LittleEndian.Uint64(out), err)

	// The kernel's errors, as errnos: a full hash refuses a new key.
	for k := uint32(1); k <= 2; k++ {
		err = hash.Put(binary.LittleEndian.AppendUint32(nil, k), val, 0)
	}
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// argument list too long
}
