package ctx

import (
	"fmt"
	"sort"
	"sync"

	"github.com/bpfscope/bpfscope/vm"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Input is what BPF_PROG_TEST_RUN takes besides the program: data_in and
// ctx_in. Either may be empty where the program type allows it.
type Input struct {
	Data []byte
	Ctx  []byte
	// KernelTypes is the kernel BTF the program's CO-RE relocations were
	// applied against, for contexts that hand the program kernel structs
	// (netfilter's sk_buff). Nil means the running kernel's.
	KernelTypes *btf.Spec
}

// Output is what the kernel copies back: data_out and ctx_out (nil where
// the type has none).
type Output struct {
	Data []byte
	Ctx  []byte
	// FragBytes is how many of Data's last bytes came from fragments (a
	// multi-buffer XDP frame): a data_out buffer too small for Data is
	// filled as bpf_test_finish fills it, the linear part cut short so
	// that every fragment still fits.
	FragBytes int
}

// Instance is one run's context, mapped into a machine.
type Instance interface {
	// Arg is the value of r1: usually the ctx pointer.
	Arg() uint64
	// Output collects data_out and ctx_out after the program returned.
	Output() Output
}

// Reusable is an Instance that can take the next run's input in place,
// allocating nothing: Reuse maps the context for in into the machine it
// was built for, after that machine's Reset, as New would.
type Reusable interface {
	Instance
	Reuse(in Input) error
}

// OutputAppender is an Instance that can put its output into buffers a
// loop over packets reuses: AppendOutput is Output with Data appended to
// data and Ctx to ctx (both passed with length 0).
type OutputAppender interface {
	Instance
	AppendOutput(data, ctx []byte) Output
}

// Provider builds contexts for one program type. A user adds a program
// type by implementing it and calling Register.
type Provider interface {
	// Type is the program type served.
	Type() ebpf.ProgramType
	// New maps a context for one run into m (after m.Reset), applying the
	// kernel's rules on in, and returns it.
	New(m *vm.Machine, in Input) (Instance, error)
}

var (
	mu        sync.RWMutex
	providers = map[ebpf.ProgramType]Provider{}
)

// Register makes p the provider for its program type, replacing any other.
func Register(p Provider) {
	mu.Lock()
	defer mu.Unlock()
	providers[p.Type()] = p
}

// Lookup returns the provider for t.
func Lookup(t ebpf.ProgramType) (Provider, error) {
	mu.RLock()
	defer mu.RUnlock()
	if p, ok := providers[t]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no context provider for program type %s", t)
}

// Types lists the program types with a provider.
func Types() []ebpf.ProgramType {
	mu.RLock()
	defer mu.RUnlock()
	ts := make([]ebpf.ProgramType, 0, len(providers))
	for t := range providers {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts
}

// xdpProvider serves BPF_PROG_TYPE_XDP.
type xdpProvider struct{}

func (xdpProvider) Type() ebpf.ProgramType { return ebpf.XDP }

func (xdpProvider) New(m *vm.Machine, in Input) (Instance, error) {
	x, err := NewXDP(m, in.Data, in.Ctx)
	if err != nil {
		return nil, err
	}
	x.types = in.KernelTypes
	return x, nil
}

func init() { Register(xdpProvider{}) }
