package debug

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/debuginfo"
)

// Expressions are C's, on what a stopped program has: registers (r0..r10),
// locals and parameters live at the pc, globals, integer and IPv4 literals
// (10.0.0.66 is the number 0x0a000042, which is how a __be32 reads), and
// the operators . -> [] * & ! ~ - * / % + - << >> < <= > >= == != & ^ | && ||.
type expr interface{}

type (
	identExpr struct{ name string }
	numExpr   struct{ v uint64 }
	unaryExpr struct {
		op string
		x  expr
	}
	binaryExpr struct {
		op   string
		x, y expr
	}
	fieldExpr struct {
		x     expr
		name  string
		arrow bool
	}
	indexExpr struct{ x, i expr }
)

// ErrSyntax marks an expression that does not parse.
var ErrSyntax = errors.New("syntax error")

type parser struct {
	toks []string
	i    int
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := rune(s[i]) // bytes: C names and numbers are ASCII
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isAlnum(s[j]) || s[j] == '.' && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case isAlnum(s[i]):
			j := i
			for j < len(s) && isAlnum(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			op := ""
			for _, o := range []string{"->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune(".[]()*&!~-+/%<>^|", c) {
					return nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, c)
				}
				op = string(c)
			}
			toks = append(toks, op)
			i += len(op)
		}
	}
	return toks, nil
}

func isAlnum(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func parseExpr(s string) (expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: empty expression", ErrSyntax)
	}
	p := &parser{toks: toks}
	x, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, p.toks[p.i])
	}
	return x, nil
}

var precedence = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
	"<": 7, "<=": 7, ">": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) binary(min int) (expr, error) {
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		prec, ok := precedence[op]
		if !ok || prec <= min {
			return x, nil
		}
		p.i++
		y, err := p.binary(prec)
		if err != nil {
			return nil, err
		}
		x = binaryExpr{op, x, y}
	}
}

func (p *parser) unary() (expr, error) {
	switch op := p.peek(); op {
	case "-", "!", "~", "*", "&":
		p.i++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return unaryExpr{op, x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (expr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek() {
		case ".", "->":
			arrow := p.peek() == "->"
			p.i++
			name := p.peek()
			if name == "" || !isAlnum(name[0]) {
				return nil, fmt.Errorf("%w: field name expected after %s", ErrSyntax, map[bool]string{true: "->", false: "."}[arrow])
			}
			p.i++
			x = fieldExpr{x, name, arrow}
		case "[":
			p.i++
			i, err := p.binary(0)
			if err != nil {
				return nil, err
			}
			if p.peek() != "]" {
				return nil, fmt.Errorf("%w: ] expected", ErrSyntax)
			}
			p.i++
			x = indexExpr{x, i}
		default:
			return x, nil
		}
	}
}

func (p *parser) primary() (expr, error) {
	t := p.peek()
	if t == "" {
		return nil, fmt.Errorf("%w: unexpected end", ErrSyntax)
	}
	p.i++
	switch {
	case t == "(":
		x, err := p.binary(0)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("%w: ) expected", ErrSyntax)
		}
		p.i++
		return x, nil
	case t[0] >= '0' && t[0] <= '9':
		if strings.Count(t, ".") == 3 {
			a, err := netip.ParseAddr(t)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("%w: bad IPv4 address %q", ErrSyntax, t)
			}
			b := a.As4()
			return numExpr{uint64(binary.BigEndian.Uint32(b[:]))}, nil
		}
		v, err := strconv.ParseUint(t, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bad number %q", ErrSyntax, t)
		}
		return numExpr{v}, nil
	case isAlnum(t[0]):
		return identExpr{t}, nil
	}
	return nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, t)
}

// value is an evaluated expression: a typed value (its bytes, from DWARF)
// or a plain 64-bit number.
type value struct {
	typ         dwarf.Type // nil: a plain number in u
	b           []byte
	u           uint64
	addressable bool
	addr        uint64
	name        string // the variable or field, for formatting
	where       string // where it came from: "r2", "fp-16", "pkt+26"
}

func num(u uint64) value { return value{u: u} }

func (v value) truth() bool {
	n, err := v.int()
	return err == nil && n != 0
}

// int returns a scalar value as a number: big-endian typedefs (__be16,
// __be32) in host order, signed types sign-extended.
func (v value) int() (uint64, error) {
	if v.typ == nil {
		return v.u, nil
	}
	t := debuginfo.Strip(v.typ)
	switch t.(type) {
	case *dwarf.StructType, *dwarf.ArrayType:
		return 0, fmt.Errorf("%s is a %s, not a number", v.name, debuginfo.CType(v.typ))
	}
	n := len(v.b)
	if n > 8 || n == 0 {
		return 0, fmt.Errorf("%s has %d bytes", v.name, n)
	}
	var u uint64
	if strings.HasPrefix(debuginfo.TypedefName(v.typ), "__be") {
		for _, c := range v.b {
			u = u<<8 | uint64(c)
		}
		return u, nil
	}
	var buf [8]byte
	copy(buf[:], v.b)
	u = binary.LittleEndian.Uint64(buf[:])
	switch t.(type) {
	case *dwarf.IntType, *dwarf.CharType, *dwarf.EnumType:
		if n < 8 {
			u = uint64(int64(u<<(64-8*n)) >> (64 - 8*n))
		}
	}
	return u, nil
}
