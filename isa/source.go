package isa

import "fmt"

// Line is the source position of an instruction, taken from BTF line info
// (clang -g). A nil *Line means the position is unknown.
type Line struct {
	Func string // enclosing function
	File string
	Line int
	Col  int
	Text string // the source line itself, trimmed
}

// String formats the position as file:line:col.
func (l *Line) String() string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", l.File, l.Line, l.Col)
}
