package debuginfo

import (
	"debug/dwarf"
	"fmt"
)

// LocKind says where a variable's value is.
type LocKind uint8

const (
	LocNone   LocKind = iota // optimized out, or not live at this pc
	LocReg                   // in register Reg
	LocStack                 // in memory at r10+Off (Off < 0: "fp-24")
	LocConst                 // the constant Value
	LocGlobal                // in memory at offset Value of Section (".bss", ".data", ...)
	LocValue                 // the value is register Reg plus Off (a pointer into something)
	LocMem                   // in memory at register Reg plus Off
	LocExpr                  // a DWARF expression this package does not evaluate (Expr)
	locFrame                 // DW_OP_fbreg Off: resolved to LocStack against the function's frame
)

// Location is where a variable is at one pc.
type Location struct {
	Kind    LocKind
	Reg     int
	Off     int64
	Value   uint64
	Section string
	Expr    []byte
}

func (l Location) String() string {
	switch l.Kind {
	case LocReg:
		return fmt.Sprintf("r%d", l.Reg)
	case LocStack:
		if l.Off < 0 {
			return fmt.Sprintf("fp%d", l.Off)
		}
		return fmt.Sprintf("fp+%d", l.Off)
	case LocConst:
		return fmt.Sprintf("const %d", int64(l.Value))
	case LocGlobal:
		if l.Value == 0 {
			return l.Section
		}
		return fmt.Sprintf("%s+%d", l.Section, l.Value)
	case LocValue:
		return fmt.Sprintf("r%d%+d", l.Reg, l.Off)
	case LocMem:
		return fmt.Sprintf("*(r%d%+d)", l.Reg, l.Off)
	case LocExpr:
		return fmt.Sprintf("expr %x", l.Expr)
	case locFrame:
		return fmt.Sprintf("fbreg%+d", l.Off)
	}
	return "optimized out"
}

// Var is a C variable or parameter.
type Var struct {
	Name     string
	Type     dwarf.Type
	Param    bool
	DeclLine int
	// Func is the function the variable belongs to: for a variable of an
	// inlined function, that function's name.
	Func string
	// Loc is where the variable is at the pc it was asked for (Locals), or
	// its one location (globals).
	Loc Location

	always bool       // Loc holds at every pc of the scope
	list   []locRange // otherwise: where it is, by address
}

// TypeName returns the variable's C type name ("__u64", "struct ethhdr *").
func (v *Var) TypeName() string { return CType(v.Type) }

// DWARF expression operations this package evaluates.
const (
	opAddr       = 0x03
	opConst1u    = 0x08
	opConst1s    = 0x09
	opConst2u    = 0x0a
	opConst2s    = 0x0b
	opConst4u    = 0x0c
	opConst4s    = 0x0d
	opConst8u    = 0x0e
	opConst8s    = 0x0f
	opConstu     = 0x10
	opConsts     = 0x11
	opPlusUconst = 0x23
	opLit0       = 0x30
	opLit31      = 0x4f
	opReg0       = 0x50
	opReg31      = 0x6f
	opBreg0      = 0x70
	opBreg31     = 0x8f
	opFbreg      = 0x91
	opStackValue = 0x9f
	opAddrx      = 0xa1
	opConstx     = 0xa2
)

// decode turns the location expressions clang emits for BPF into a
// Location; anything else stays a LocExpr.
func (in *Info) decode(expr []byte, u *unit) Location {
	rd := &reader{b: expr}
	if len(expr) == 0 {
		return Location{}
	}
	unknown := Location{Kind: LocExpr, Expr: expr}
	op := rd.byte()
	var l Location
	switch {
	case op >= opReg0 && op <= opReg31:
		l = Location{Kind: LocReg, Reg: int(op - opReg0)}
	case op >= opBreg0 && op <= opBreg31:
		l = Location{Kind: LocMem, Reg: int(op - opBreg0), Off: rd.sleb()}
		if l.Reg == 10 {
			l = Location{Kind: LocStack, Off: l.Off}
		}
	case op == opFbreg:
		l = Location{Kind: locFrame, Off: rd.sleb()}
	case op >= opLit0 && op <= opLit31:
		l = Location{Kind: LocConst, Value: uint64(op - opLit0)}
	case op == opConstu:
		l = Location{Kind: LocConst, Value: rd.uleb()}
	case op == opConsts:
		l = Location{Kind: LocConst, Value: uint64(rd.sleb())}
	case op == opConst1u:
		l = Location{Kind: LocConst, Value: uint64(rd.byte())}
	case op == opConst1s:
		l = Location{Kind: LocConst, Value: uint64(int64(int8(rd.byte())))}
	case op == opConst2u || op == opConst2s || op == opConst4u || op == opConst4s || op == opConst8u || op == opConst8s:
		n := map[byte]int{opConst2u: 2, opConst2s: 2, opConst4u: 4, opConst4s: 4, opConst8u: 8, opConst8s: 8}[op]
		b := rd.bytes(n)
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if op&1 == 1 && n < 8 { // the signed forms
			v = uint64(int64(v<<(64-8*n)) >> (64 - 8*n))
		}
		l = Location{Kind: LocConst, Value: v}
	case op == opAddrx || op == opAddr:
		var a uint64
		var sec string
		ok := true
		if op == opAddrx {
			a, sec, ok = in.addrx(u, rd.uleb())
		} else {
			a = rd.u64()
		}
		if !ok || sec == "" {
			return unknown
		}
		l = Location{Kind: LocGlobal, Value: a, Section: sec}
	default:
		return unknown
	}
	// Constants and register-relative values end with stack_value; a
	// register-relative address may be moved by plus_uconst.
	for !rd.done() && !rd.bad {
		switch rd.byte() {
		case opStackValue:
			switch l.Kind {
			case LocMem:
				l.Kind = LocValue
			case LocConst:
			default:
				return unknown
			}
		case opPlusUconst:
			d := rd.uleb()
			switch l.Kind {
			case LocMem, LocStack, locFrame:
				l.Off += int64(d)
			case LocGlobal:
				l.Value += d
			default:
				return unknown
			}
		default:
			return unknown
		}
	}
	if rd.bad {
		return unknown
	}
	if l.Kind == LocConst && expr[len(expr)-1] != opStackValue {
		// A constant without stack_value is an address: not something clang
		// emits for BPF variables.
		return unknown
	}
	return l
}
