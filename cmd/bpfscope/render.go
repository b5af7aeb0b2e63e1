package main

import (
	"bytes"
	"strings"

	"github.com/bpfscope/bpfscope/exporters/text"
	"github.com/bpfscope/bpfscope/hooks"
)

// textLine is one line of the text exporter's output and the instruction
// it belongs to: the index of the instruction (its Before event) among
// the rendered events, or -1 for the run's entry and exit lines.
type textLine struct {
	step int
	s    string
}

// renderText writes events with the text exporter and tells which
// instruction each output line belongs to, so callers can label lines or
// pick out one instruction. The exporter writes an instruction's line only
// when the next instruction starts (or the run exits), after which comes
// the next one's source line; so an instruction line belongs to the
// instruction started before the current event, any other line to the
// current one.
func renderText(recs []*hooks.Record) []textLine {
	var buf bytes.Buffer
	t := text.New(&buf)
	var out []textLine
	step, pending := -1, -1
	for _, r := range recs {
		if r.Kind == hooks.KindBefore {
			step++
		}
		r.Deliver(t)
		t.Flush()
		for _, l := range strings.SplitAfter(buf.String(), "\n") {
			if l == "" {
				continue
			}
			owner := step
			switch {
			case isInsnLine(l):
				owner = pending
			case r.Kind == hooks.KindEnter || r.Kind == hooks.KindExit:
				owner = -1
			}
			out = append(out, textLine{owner, strings.TrimSuffix(l, "\n")})
		}
		buf.Reset()
		if r.Kind == hooks.KindBefore {
			pending = step
		}
	}
	return out
}

// isInsnLine tells an instruction line ("  12: (07) r0 += 3") from the
// comment lines (source lines, run entry and exit) that start with ";".
func isInsnLine(l string) bool {
	l = strings.TrimLeft(l, " ")
	return l != "" && l[0] >= '0' && l[0] <= '9'
}
