package ctx

import (
	"sync"

	"github.com/bpfscope/bpfscope/isa"
	"github.com/bpfscope/bpfscope/vm"
)

// ctxReach caches MaxCtxOffset per program: a raw_tp test run checks it
// on every run.
var ctxReach sync.Map // *vm.Program -> int

func maxCtxOffsetOf(p *vm.Program) int {
	if v, ok := ctxReach.Load(p); ok {
		return v.(int)
	}
	n := MaxCtxOffset(p.Insns)
	ctxReach.Store(p, n)
	return n
}

// maxCtxTrack caps the offsets the analysis follows: past it a pointer is
// no longer taken for the context (no context is this large).
const maxCtxTrack = 1 << 12

// MaxCtxOffset is the end of the furthest context access of a program
// (offset + size), what the kernel's verifier records as
// prog->aux->max_ctx_offset in check_ctx_access and what a raw
// tracepoint test run requires ctx_size_in to cover (EINVAL otherwise,
// before the program runs). It follows the context pointer from r1
// through register moves, constant additions, stack spills and
// bpf-to-bpf calls over every path of the program, as the verifier
// explores them (without pruning paths the verifier finds dead).
func MaxCtxOffset(insns []isa.Insn) int {
	type state struct {
		regs  [11]int32 // ctx offset a register points at, or -1
		stack map[int16]int32
		seen  bool
	}
	states := make([]state, len(insns)+1)
	var work []int
	merge := func(pc int, s *state) {
		if pc < 0 || pc >= len(insns) {
			return
		}
		d := &states[pc]
		changed := !d.seen
		if !d.seen {
			d.seen, d.regs = true, s.regs
			d.stack = make(map[int16]int32, len(s.stack))
			for k, v := range s.stack {
				d.stack[k] = v
			}
		} else {
			for r := range d.regs {
				if s.regs[r] > d.regs[r] {
					d.regs[r], changed = s.regs[r], true
				}
			}
			for k, v := range s.stack {
				if old, ok := d.stack[k]; !ok || v > old {
					d.stack[k], changed = v, true
				}
			}
		}
		if changed {
			work = append(work, pc)
		}
	}
	entry := state{stack: map[int16]int32{}}
	for r := range entry.regs {
		entry.regs[r] = -1
	}
	entry.regs[1] = 0
	merge(0, &entry)
	maxEnd := 0
	access := func(base int32, off int16, size int) {
		if base < 0 {
			return
		}
		if end := int(base) + int(off) + size; end > maxEnd {
			maxEnd = end
		}
	}
	sizes := map[uint8]int{isa.SizeB: 1, isa.SizeH: 2, isa.SizeW: 4, isa.SizeDW: 8}
	for steps := 0; len(work) > 0 && steps < 64*len(insns)+1024; steps++ {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		in := states[pc]
		s := state{regs: in.regs, stack: make(map[int16]int32, len(in.stack))}
		for k, v := range in.stack {
			s.stack[k] = v
		}
		ins := insns[pc]
		dst, src := ins.Dst&0xf, ins.Src&0xf
		set := func(r uint8, v int32) {
			if r < 11 {
				s.regs[r] = v
			}
		}
		get := func(r uint8) int32 {
			if r < 11 {
				return s.regs[r]
			}
			return -1
		}
		next := pc + 1
		switch ins.Class() {
		case isa.ClassLD:
			if ins.IsLdImm64() {
				next = pc + 2
				set(dst, -1)
			} else { // legacy packet loads: r0 and the scratch registers
				for r := uint8(0); r <= 5; r++ {
					set(r, -1)
				}
			}
		case isa.ClassLDX:
			size := sizes[ins.Op&0x18]
			access(get(src), ins.Off, size)
			v := int32(-1)
			if src == 10 && size == 8 {
				if sv, ok := s.stack[ins.Off]; ok {
					v = sv
				}
			}
			set(dst, v)
		case isa.ClassST, isa.ClassSTX:
			size := sizes[ins.Op&0x18]
			access(get(dst), ins.Off, size)
			if dst == 10 {
				v := int32(-1)
				if ins.Class() == isa.ClassSTX && size == 8 && ins.Op&0xe0 == isa.ModeMEM {
					v = get(src)
				}
				s.stack[ins.Off] = v
			}
			if ins.Op&0xe0 == isa.ModeATOMIC && ins.Imm&isa.AtomicFetch != 0 {
				set(src, -1)
				if ins.Imm == isa.AtomicCmpXchg {
					set(0, -1)
				}
			}
		case isa.ClassALU64:
			v := int32(-1)
			switch ins.Op & 0xf8 {
			case isa.ALUMov | isa.SrcX:
				if ins.Off == 0 { // not movsx
					v = get(src)
				}
			case isa.ALUAdd | isa.SrcK:
				if b := get(dst); b >= 0 {
					v = b + ins.Imm
				}
			case isa.ALUSub | isa.SrcK:
				if b := get(dst); b >= 0 {
					v = b - ins.Imm
				}
			}
			if v < 0 || v > maxCtxTrack {
				v = -1
			}
			set(dst, v)
		case isa.ClassALU:
			set(dst, -1)
		case isa.ClassJMP, isa.ClassJMP32:
			op := ins.Op & 0xf0
			switch {
			case op == isa.JmpExit && ins.Class() == isa.ClassJMP:
				continue
			case op == isa.JmpCall && ins.Class() == isa.ClassJMP:
				if src == 1 { // bpf-to-bpf: the callee sees r1-r5, a frame of its own
					callee := state{regs: s.regs, stack: map[int16]int32{}}
					callee.regs[0] = -1
					for r := 6; r <= 10; r++ {
						callee.regs[r] = -1
					}
					merge(pc+int(ins.Imm)+1, &callee)
				}
				for r := uint8(0); r <= 5; r++ {
					set(r, -1)
				}
			case op == isa.JmpJA:
				target := pc + int(ins.Off) + 1
				if ins.Class() == isa.ClassJMP32 {
					target = pc + int(ins.Imm) + 1
				}
				next = target
			default: // conditional (and may_goto): both ways
				merge(pc+int(ins.Off)+1, &s)
			}
		}
		merge(next, &s)
	}
	return maxEnd
}
