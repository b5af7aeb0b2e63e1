package vm_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRunIsCallFree guards the interpreter's speed: the compiler must
// inline the memory checks, the recording of every twin and the pushing
// and popping of call frames into (*Machine).run, or the loop makes calls
// and spills its state (the loop's cases would run at a fraction of their
// speed; no other test would notice).
func TestRunIsCallFree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package with the compiler's inlining report")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "build", "-gcflags=-m -S", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags='-m -S': %v\n%s", err, out)
	}
	// run is a leaf: its only calls are the bounds checks' panics. Any
	// other (a write barrier for a pointer it stores) costs a stack
	// check on entry and changes how the compiler lays out the loop.
	asm := regexp.MustCompile(`(?s)\(\*Machine\)\.run STEXT ([^\n]*)\n(.*?)\n\S+ STEXT`).FindSubmatch(out)
	if asm == nil {
		t.Fatal("no assembly of (*Machine).run in the compiler's output")
	}
	if !strings.Contains(string(asm[1]), "nosplit") {
		t.Errorf("(*Machine).run is not a leaf: %s", asm[1])
	}
	for _, c := range regexp.MustCompile(`CALL\s+(\S+)`).FindAllSubmatch(asm[2], -1) {
		if !strings.HasPrefix(string(c[1]), "runtime.panic") {
			t.Errorf("(*Machine).run calls %s", c[1])
		}
	}
	inlined := map[string]int{}
	re := regexp.MustCompile(`interp\.go:\d+:\d+: inlining call to \(\*Machine\)\.(readable|writable|record|recordOld|enter|leave)\b`)
	for _, m := range re.FindAllSubmatch(out, -1) {
		inlined[string(m[1])]++
	}
	src, err := os.ReadFile("interp.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"readable", "writable", "record", "recordOld", "enter", "leave"} {
		calls := strings.Count(string(src), "m."+fn+"(")
		if calls == 0 || inlined[fn] != calls {
			t.Errorf("%d of %d calls of %s inlined into interp.go", inlined[fn], calls, fn)
		}
	}
}
