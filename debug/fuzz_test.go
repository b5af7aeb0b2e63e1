package debug

import (
	"testing"
)

// FuzzExpr feeds the expression parser and evaluator arbitrary text at a
// stop of the firewall: an error or a value, never a panic.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{"len", "eth->h_proto == 0x800", "*eth", "eth->h_dest[5]", "&data_end", "r1 + r2 * 3",
		"iph->saddr == 10.0.0.66", "!(len > 60) || ~r0", "((((", "10.0.0.300", "eth[1000000]", "*r1", "-",
		"packets_seen / 0", "ctx->data_end - ctx->data"} {
		f.Add(s)
	}
	fr := frames(f)
	s := session(f, "xdp_firewall.o", "", fr[0])
	if _, err := s.Start(); err != nil {
		f.Fatal(err)
	}
	if _, err := s.Break("xdp_firewall.c:129", "", ""); err != nil {
		f.Fatal(err)
	}
	if _, err := s.Continue(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if v, err := s.Eval(src); err == nil {
			s.Children(v)
		}
		s.Address(src)
	})
}
