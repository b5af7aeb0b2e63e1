package helpers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/cilium/ebpf/btf"
)

// This file is the kernel's BTF pretty printer (btf_type_snprintf_show in
// kernel/bpf/btf.c) that bpf_snprintf_btf uses: the same walk, the same
// two-pass skipping of zero-valued members, the same 32-byte "safe copy"
// of the object (whose failures decide how much is printed before an
// error) and the same quirks, so the output matches byte for byte.

// The BTF_F_* flags of bpf_snprintf_btf (include/uapi/linux/bpf.h).
const (
	btfFCompact = 1 << 0 // no indentation or newlines
	btfFNoName  = 1 << 1 // no member or type names
	btfFPtrRaw  = 1 << 2 // pointers as they are, not hashed
	btfFZero    = 1 << 3 // show zero-valued members too
	btfFAll     = btfFCompact | btfFNoName | btfFPtrRaw | btfFZero
)

// Sizes of the kernel's struct btf_show.
const (
	btfShowSafeSize     = 32 // BTF_SHOW_OBJ_SAFE_SIZE: one copy_from_kernel_nofault
	btfShowBaseTypeSize = 16 // BTF_SHOW_OBJ_BASE_TYPE_SIZE: the largest base type
	btfShowNameSize     = 80 // BTF_SHOW_NAME_SIZE, with its NUL
	btfShowMaxIter      = 10 // BTF_SHOW_MAX_ITER
)

// BTF kinds, for "<unsupported kind:N>".
const (
	btfKindUnkn     = 0
	btfKindFwd      = 7
	btfKindFunc     = 12
	btfKindFuncProt = 13
	btfKindFloat    = 16
	btfKindDeclTag  = 17
)

// btfShow is struct btf_show with the snprintf target.
type btfShow struct {
	flags uint64
	out   []byte // what fits: at most limit bytes
	limit int
	n     int  // the length the kernel would have written
	full  bool // the buffer is full: nothing more is written
	wrote bool // some vsnprintf wrote (at least its NUL)

	// state
	depth, depthToShow, depthCheck uint8
	arrayMember, arrayTerminated   bool
	arrayEncoding                  btf.IntEncoding
	typeOf                         btf.Type // the type state.type_id names
	typ                            btf.Type // state.type
	member                         *btf.Member
	status                         syscall.Errno // negated on return

	// obj
	objSize          uint32
	objHead, objData uint64
	safe             [btfShowSafeSize]byte

	read    func(addr uint64, dst []byte) error
	hashPtr func(uint64) uint64
	charge  func(n int) error
	err     error // a run error from charge
}

// btfCharEncoding is BTF_INT_CHAR, the encoding a one-byte element array
// is shown with.
const btfCharEncoding = btf.Char

// emit is btf_snprintf_show: vsnprintf into what is left of the buffer; a
// piece that does not fit fills it (less the NUL) and ends the writing,
// while the length keeps counting.
func (sh *btfShow) emit(s string) {
	if sh.depthCheck != 0 || sh.err != nil {
		return
	}
	if err := sh.charge(len(s)); err != nil {
		sh.err = err
		return
	}
	sh.n += len(s)
	if sh.full || sh.limit == 0 {
		return
	}
	sh.wrote = true
	left := sh.limit - len(sh.out)
	if len(s) >= left {
		if left > 0 {
			sh.out = append(sh.out, s[:left-1]...)
		}
		sh.full = true
		return
	}
	sh.out = append(sh.out, s...)
}

func (sh *btfShow) indent() string {
	if sh.flags&btfFCompact != 0 {
		return ""
	}
	return spaces[:min(int(sh.depth), len(spaces))]
}

const spaces = "                                " // 32, as the kernel's indents

func (sh *btfShow) newline() string {
	if sh.flags&btfFCompact != 0 {
		return ""
	}
	return "\n"
}

func (sh *btfShow) delim() string {
	if sh.depth == 0 {
		return ""
	}
	if _, ok := sh.typ.(*btf.Union); ok && sh.flags&btfFCompact != 0 {
		return "|"
	}
	return ","
}

// typeValue is btf_show_type_value: shown if non-zero, asked for, or at
// the top level; a shown value marks its depth for the zero check.
func (sh *btfShow) typeValue(s string, nonzero bool) {
	if nonzero || sh.flags&btfFZero != 0 || sh.depth == 0 {
		sh.typeValues(s)
	}
}

// typeValues is btf_show_type_values: always shown.
func (sh *btfShow) typeValues(s string) {
	sh.emit(sh.indent() + sh.name() + s + sh.delim() + sh.newline())
	if sh.depth > sh.depthToShow {
		sh.depthToShow = sh.depth
	}
}

// skipQualifiers is btf_type_skip_qualifiers: modifiers but typedefs.
func skipQualifiers(t btf.Type) btf.Type {
	for {
		switch q := t.(type) {
		case *btf.Const:
			t = q.Type
		case *btf.Volatile:
			t = q.Type
		case *btf.Restrict:
			t = q.Type
		case *btf.TypeTag:
			t = q.Type
		default:
			return t
		}
	}
}

// skipModifiers is btf_type_skip_modifiers, and what the resolved id of a
// modifier or variable names.
func skipModifiers(t btf.Type) btf.Type {
	for {
		switch q := t.(type) {
		case *btf.Typedef:
			t = q.Type
		case *btf.Var:
			t = q.Type
		default:
			if u := skipQualifiers(t); u != t {
				t = u
				continue
			}
			return t
		}
	}
}

// typeName is the name of a type as the kernel's BTF strings have it:
// cilium/ebpf's TypeName, except that a type tag's name is its value.
func typeName(t btf.Type) string {
	if tt, ok := t.(*btf.TypeTag); ok {
		return tt.Value
	}
	return t.TypeName()
}

// name is btf_show_name: "[.member = ](type)" with '*' and "[]"
// suffixes, "{" or "[" after structs and arrays; cut to the kernel's
// 80-byte buffer.
func (sh *btfShow) name() string {
	if sh.arrayMember {
		return ""
	}
	t := sh.typeOf
	member, showMember := "", false
	if sh.member != nil {
		member = sh.member.Name
		showMember = member != ""
		t = sh.member.Type
	}
	if t == nil {
		return ""
	}
	const arraySuffixes, ptrSuffixes = "[][][][][][][][][][]", "**********"
	arrays, ptrs := 0, 0
	var name string
	named, typedef, array, ptr := false, false, false, false
	parens, prefix := "", ""
	i := 0
	for ; i < btfShowMaxIter; i++ {
		var next btf.Type
		switch tt := t.(type) {
		case *btf.Typedef:
			if !named {
				name, named = tt.Name, true
			}
			typedef = true
			next = tt.Type
		case *btf.Array:
			array = true
			parens = "["
			arrays = min(arrays+1, btfShowMaxIter)
			next = tt.Type
		case *btf.Pointer:
			ptr = true
			ptrs = min(ptrs+1, btfShowMaxIter)
			next = tt.Target
		}
		if next == nil {
			break
		}
		if _, ok := next.(*btf.Void); ok {
			break // type id 0
		}
		t = skipQualifiers(next)
	}
	if i == btfShowMaxIter {
		return ""
	}
	if !named {
		name = typeName(t)
	}
	switch t.(type) {
	case *btf.Struct:
		prefix = "struct"
		if !array {
			parens = "{"
		}
	case *btf.Union:
		prefix = "union"
		if !array {
			parens = "{"
		}
	case *btf.Enum:
		prefix = "enum"
	}
	if ptr {
		parens = ""
	}
	if typedef {
		prefix = ""
	}
	var s string
	if sh.flags&btfFNoName != 0 {
		s = parens
	} else {
		var b []byte
		if showMember {
			b = append(append(append(b, '.'), member...), " = "...)
		}
		b = append(b, '(')
		b = append(b, prefix...)
		if prefix != "" && name != "" {
			b = append(b, ' ')
		}
		b = append(b, name...)
		if ptrs > 0 {
			b = append(append(b, ' '), ptrSuffixes[:ptrs]...)
		}
		b = append(b, arraySuffixes[:2*arrays]...)
		b = append(b, ')')
		b = append(b, parens...)
		s = string(b)
	}
	if len(s) > btfShowNameSize-1 {
		s = s[:btfShowNameSize-1]
	}
	return s
}

// resolveSize is btf_resolve_size: the size of t, or EINVAL for types
// without one.
func resolveSize(t btf.Type) (uint32, syscall.Errno) {
	nelems := uint64(1)
	for range 32 { // MAX_RESOLVE_DEPTH
		switch tt := t.(type) {
		case *btf.Int:
			return sizeTimes(tt.Size, nelems)
		case *btf.Struct:
			return sizeTimes(tt.Size, nelems)
		case *btf.Union:
			return sizeTimes(tt.Size, nelems)
		case *btf.Enum:
			return sizeTimes(tt.Size, nelems)
		case *btf.Float:
			return sizeTimes(tt.Size, nelems)
		case *btf.Pointer:
			return sizeTimes(8, nelems)
		case *btf.Typedef:
			t = tt.Type
		case *btf.Const:
			t = tt.Type
		case *btf.Volatile:
			t = tt.Type
		case *btf.Restrict:
			t = tt.Type
		case *btf.TypeTag:
			t = tt.Type
		case *btf.Array:
			if nelems != 0 && uint64(tt.Nelems) > (1<<32-1)/nelems {
				return 0, syscall.EINVAL
			}
			nelems *= uint64(tt.Nelems)
			t = tt.Type
		default:
			return 0, syscall.EINVAL
		}
	}
	return 0, syscall.EINVAL
}

func sizeTimes(size uint32, nelems uint64) (uint32, syscall.Errno) {
	if nelems != 0 && uint64(size) > (1<<32-1)/nelems {
		return 0, syscall.EINVAL
	}
	return uint32(uint64(size) * nelems), 0
}

// objSafe is btf_show_obj_safe: the offset in sh.safe where the data at
// addr starts, copying the next chunk of the object when addr is not in
// the current copy; false when the copy failed (sh.status says why).
func (sh *btfShow) objSafe(t btf.Type, addr uint64) (int, bool) {
	size, errno := resolveSize(t)
	if errno != 0 {
		sh.status = errno
		return 0, false
	}
	if sh.depth == 0 {
		sh.objSize = size
		sh.objHead = addr
	} else {
		n := uint64(min(size, btfShowBaseTypeSize))
		if addr >= sh.objData && addr+n < sh.objData+btfShowSafeSize {
			return int(addr - sh.objData), true
		}
	}
	left := int64(sh.objHead) + int64(sh.objSize) - int64(addr)
	left = min(left, btfShowSafeSize)
	sh.status = 0
	if left > 0 {
		if err := sh.read(addr, sh.safe[:left]); err != nil {
			sh.status = syscall.EFAULT
			var en syscall.Errno
			if errors.As(err, &en) {
				sh.status = en
			}
		}
	}
	if sh.status != 0 {
		return 0, false
	}
	sh.objData = addr
	return 0, true
}

// startType is btf_show_start_type.
func (sh *btfShow) startType(t, typeOf btf.Type, addr uint64) (int, bool) {
	sh.typ, sh.typeOf = t, typeOf
	return sh.objSafe(t, addr)
}

func (sh *btfShow) endType() { sh.typ, sh.typeOf = nil, nil }

// safeBytes returns n bytes of the safe copy at off, as the kernel reads
// them (bytes past the buffer read as zero).
func (sh *btfShow) safeBytes(off, n int) []byte {
	b := make([]byte, n)
	if off < len(sh.safe) {
		copy(b, sh.safe[off:])
	}
	return b
}

func (sh *btfShow) startAggr(t, typeOf btf.Type, addr uint64) bool {
	if _, ok := sh.startType(t, typeOf, addr); !ok {
		return false
	}
	sh.emit(sh.indent() + sh.name() + sh.newline())
	sh.depth++
	return true
}

func (sh *btfShow) endAggr(suffix string) {
	sh.depth--
	sh.emit(sh.indent() + suffix + sh.delim() + sh.newline())
	sh.endType()
}

// show dispatches on t's kind as btf_type_ops(t)->show; typeOf is the
// type the caller's type id names (t may be its resolution).
func (sh *btfShow) show(t, typeOf btf.Type, addr uint64, bitsOff uint8) {
	if sh.err != nil {
		return
	}
	// Every step of the walk is work, shown or not: a type of millions
	// of elements over unreadable memory prints nothing and still walks.
	if err := sh.charge(0); err != nil {
		sh.err = err
		return
	}
	switch tt := t.(type) {
	case *btf.Int:
		sh.showInt(tt, typeOf, addr, bitsOff)
	case *btf.Pointer:
		sh.showPtr(tt, typeOf, addr)
	case *btf.Array:
		sh.showArray(tt, typeOf, addr, bitsOff)
	case *btf.Struct:
		sh.showStruct(tt, tt.Members, typeOf, addr, bitsOff)
	case *btf.Union:
		sh.showStruct(tt, tt.Members, typeOf, addr, bitsOff)
	case *btf.Enum:
		sh.showEnum(tt, typeOf, addr)
	case *btf.Typedef, *btf.Const, *btf.Volatile, *btf.Restrict, *btf.TypeTag:
		// btf_modifier_show: vmlinux BTF has no resolved ids, so the
		// type is shown under the modifier's id (and name).
		sh.show(skipModifiers(t), typeOf, addr, bitsOff)
	case *btf.Var:
		// btf_var_show: the resolved type under its own id.
		r := skipModifiers(t)
		sh.show(r, r, addr, bitsOff)
	case *btf.Datasec:
		// btf_datasec_show: its size does not resolve, so the safe copy
		// fails with -EINVAL before anything is shown.
		sh.startType(t, typeOf, addr)
	default:
		sh.emit("<unsupported kind:" + strconv.Itoa(btfKind(t)) + ">")
	}
}

func btfKind(t btf.Type) int {
	switch t.(type) {
	case *btf.Fwd:
		return btfKindFwd
	case *btf.Func:
		return btfKindFunc
	case *btf.FuncProto:
		return btfKindFuncProt
	case *btf.Float:
		return btfKindFloat
	}
	if fmt.Sprintf("%T", t) == "*btf.declTag" { // unexported in cilium/ebpf
		return btfKindDeclTag
	}
	return btfKindUnkn
}

func (sh *btfShow) showInt(t *btf.Int, typeOf btf.Type, addr uint64, bitsOff uint8) {
	off, ok := sh.startType(t, typeOf, addr)
	if !ok {
		return
	}
	defer sh.endType()
	signed := t.Encoding == btf.Signed
	if bitsOff != 0 {
		// btf_int_bits_show: a member at a bit offset.
		sh.bitfield(sh.safeBytes(off, int(t.Size)+1), bitsOff, int(t.Size*8))
		return
	}
	b := sh.safeBytes(off, int(t.Size))
	switch t.Size {
	case 16:
		sh.int128(binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b))
	case 8:
		v := binary.LittleEndian.Uint64(b)
		if signed {
			sh.typeValue(strconv.FormatInt(int64(v), 10), v != 0)
		} else {
			sh.typeValue(strconv.FormatUint(v, 10), v != 0)
		}
	case 4:
		v := binary.LittleEndian.Uint32(b)
		if signed {
			sh.typeValue(strconv.FormatInt(int64(int32(v)), 10), v != 0)
		} else {
			sh.typeValue(strconv.FormatUint(uint64(v), 10), v != 0)
		}
	case 2:
		v := binary.LittleEndian.Uint16(b)
		if signed {
			sh.typeValue(strconv.FormatInt(int64(int16(v)), 10), v != 0)
		} else {
			sh.typeValue(strconv.FormatUint(uint64(v), 10), v != 0)
		}
	case 1:
		c := b[0]
		if sh.arrayEncoding == btfCharEncoding {
			if sh.arrayTerminated {
				return
			}
			if c == 0 {
				sh.arrayTerminated = true
				return
			}
			if kernelIsPrint(c) {
				sh.typeValue("'"+string([]byte{c})+"'", true)
				return
			}
		}
		if signed {
			sh.typeValue(strconv.Itoa(int(int8(c))), c != 0)
		} else {
			sh.typeValue(strconv.Itoa(int(c)), c != 0)
		}
	default:
		sh.bitfield(b, 0, int(t.Size*8))
	}
}

// kernelIsPrint is the kernel's isprint over its Latin-1 ctype table.
func kernelIsPrint(c byte) bool { return c >= 0x20 && c < 0x7f || c >= 0xa0 }

// int128 is btf_int128_print.
func (sh *btfShow) int128(hi, lo uint64) {
	if hi == 0 {
		sh.typeValue("0x"+strconv.FormatUint(lo, 16), lo != 0)
		return
	}
	l := strconv.FormatUint(lo, 16)
	sh.typeValues("0x" + strconv.FormatUint(hi, 16) + "0000000000000000"[len(l):] + l)
}

// bitfield is btf_bitfield_show: nrBits bits from bitsOff of data, in hex.
func (sh *btfShow) bitfield(data []byte, bitsOff uint8, nrBits int) {
	var num [16]byte
	copy(num[:], data[:min(len(data), (nrBits+int(bitsOff)+7)/8, 16)])
	lo, hi := binary.LittleEndian.Uint64(num[:]), binary.LittleEndian.Uint64(num[8:])
	// Shift right by bitsOff, then keep nrBits.
	if bitsOff > 0 {
		lo = lo>>bitsOff | hi<<(64-bitsOff)
		hi >>= bitsOff
	}
	switch {
	case nrBits < 64:
		lo &= 1<<uint(nrBits) - 1
		hi = 0
	case nrBits < 128:
		hi &= 1<<uint(nrBits-64) - 1
	}
	sh.int128(hi, lo)
}

func (sh *btfShow) showPtr(t *btf.Pointer, typeOf btf.Type, addr uint64) {
	off, ok := sh.startType(t, typeOf, addr)
	if !ok {
		return
	}
	p := binary.LittleEndian.Uint64(sh.safeBytes(off, 8))
	v := p
	if sh.flags&btfFPtrRaw == 0 && p != 0 && p < ^uint64(0)-4094 && sh.depthCheck == 0 {
		// %p hashes what is not NULL or an error pointer (IS_ERR_OR_NULL),
		// when it prints: the zero-check pass formats nothing.
		v = sh.hashPtr(p)
	}
	h := strconv.FormatUint(v, 16)
	sh.typeValue("0x"+"0000000000000000"[len(h):]+h, p != 0)
	sh.endType()
}

func (sh *btfShow) showArray(t *btf.Array, typeOf btf.Type, addr uint64, bitsOff uint8) {
	sh.skippingZeros(func() { sh.arrayBody(t, typeOf, addr, bitsOff) })
}

// skippingZeros shows an aggregate as btf_show does without BTF_F_ZERO: a
// nested one is first walked without output (the outermost such walk
// records how deep a non-zero value was found), and shown only if one was.
func (sh *btfShow) skippingZeros(body func()) {
	m := sh.member
	if sh.depth > 0 && sh.flags&btfFZero == 0 {
		if sh.depthCheck == 0 {
			sh.depthCheck = sh.depth + 1
			sh.depthToShow = 0
		}
		body()
		sh.member = m
		if sh.depthCheck != sh.depth+1 {
			return
		}
		sh.depthCheck = 0
		if sh.depthToShow <= sh.depth {
			return
		}
	}
	body()
}

func (sh *btfShow) arrayBody(t *btf.Array, typeOf btf.Type, addr uint64, bitsOff uint8) {
	elem := skipModifiers(t.Type)
	var elemSize uint32
	var encoding btf.IntEncoding
	switch e := elem.(type) {
	case *btf.Int:
		elemSize = e.Size
		encoding = e.Encoding
		if elemSize == 1 {
			encoding = btfCharEncoding
		}
	case *btf.Struct:
		elemSize = e.Size
	case *btf.Union:
		elemSize = e.Size
	case *btf.Enum:
		elemSize = e.Size
	case *btf.Float:
		elemSize = e.Size
	case *btf.Datasec:
		elemSize = e.Size
	}
	sh.arrayEncoding = encoding
	sh.arrayTerminated = false
	if !sh.startAggr(t, typeOf, addr) {
		return
	}
	for range t.Nelems {
		if sh.err != nil {
			return
		}
		sh.arrayMember = true
		sh.member = nil
		sh.show(elem, t.Type, addr, bitsOff)
		addr += uint64(elemSize)
		sh.arrayMember = false
		sh.member = nil
		if sh.arrayTerminated {
			break
		}
	}
	sh.arrayEncoding = 0
	sh.arrayTerminated = false
	sh.endAggr("]")
}

func (sh *btfShow) showStruct(t btf.Type, members []btf.Member, typeOf btf.Type, addr uint64, bitsOff uint8) {
	sh.skippingZeros(func() { sh.structBody(t, members, typeOf, addr) })
}

func (sh *btfShow) structBody(t btf.Type, members []btf.Member, typeOf btf.Type, addr uint64) {
	if !sh.startAggr(t, typeOf, addr) {
		return
	}
	for i := range members {
		if sh.err != nil {
			return
		}
		mb := &members[i]
		sh.member = mb
		off := uint64(mb.Offset) / 8
		bits := uint8(mb.Offset % 8)
		if mb.BitfieldSize != 0 {
			if o, ok := sh.startType(mb.Type, mb.Type, addr+off); ok {
				sh.bitfield(sh.safeBytes(o, (int(mb.BitfieldSize)+int(bits)+7)/8), bits, int(mb.BitfieldSize))
			}
			sh.endType()
		} else {
			sh.show(mb.Type, mb.Type, addr+off, bits)
		}
		sh.member = nil
	}
	sh.endAggr("}")
}

func (sh *btfShow) showEnum(t *btf.Enum, typeOf btf.Type, addr uint64) {
	off, ok := sh.startType(t, typeOf, addr)
	if !ok {
		return
	}
	defer sh.endType()
	if t.Size == 8 { // BTF_KIND_ENUM64
		v := binary.LittleEndian.Uint64(sh.safeBytes(off, 8))
		for _, e := range t.Values {
			if e.Value == v {
				sh.typeValue(e.Name, true)
				return
			}
		}
		if t.Signed {
			sh.typeValue(strconv.FormatInt(int64(v), 10), v != 0)
		} else {
			sh.typeValue(strconv.FormatUint(v, 10), v != 0)
		}
		return
	}
	// BTF_KIND_ENUM reads an int, whatever the enum's size.
	v := binary.LittleEndian.Uint32(sh.safeBytes(off, 4))
	for _, e := range t.Values {
		if uint32(e.Value) == v {
			sh.typeValue(e.Name, true)
			return
		}
	}
	if t.Signed {
		sh.typeValue(strconv.FormatInt(int64(int32(v)), 10), v != 0)
	} else {
		sh.typeValue(strconv.FormatUint(uint64(v), 10), v != 0)
	}
}

// btfSnprintfShow is btf_type_snprintf_show: the text of the object at
// addr of type t, at most size-1 bytes of it (NUL not included), the
// length of the whole text, and the error status of the walk.
func btfSnprintfShow(t btf.Type, addr uint64, size int, flags uint64, sh *btfShow) ([]byte, int, syscall.Errno) {
	sh.flags = flags
	sh.limit = size
	sh.show(t, t, addr, 0)
	return sh.out, sh.n, sh.status
}
