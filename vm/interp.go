package vm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/bpfscope/bpfscope/hooks"
)

// checkEvery is how many instructions may pass between two looks at the
// context's cancellation: the interpreter looks at the first taken jump,
// call or exit once m.nextCheck is reached, callbacks at their entry;
// helper work (Charge) has its own count, m.nextWorkCheck.
const checkEvery = 1 << 16

// budgetHint says how to raise the limit a run ran out of.
const budgetHint = "raise vm.Config.MaxInsns, or the command's --max-insns"

// resume runs the interpreter from m.pc until the program exits, faults or a
// hook pauses it, and turns a panic of the helper it is calling into
// ErrHelperPanic at the calling pc: a bug in a helper ends the run, never
// the embedder. Recovering here, once per run, rather than around every
// helper call keeps a deferred call off each call; helpers called from
// callbacks are guarded one by one (callGuarded), so that the helper that
// called back sees the error and cleans up. Panics outside helpers (a
// hook's) go on.
func (m *Machine) resume(ctx context.Context) (r0 uint64, err error) {
	defer func() {
		if s := &m.site; s.calling {
			s.calling = false
			if p := recover(); p != nil {
				_, _, err = m.helperReturned(s, 0, m.helperPanicked(s, 0, p))
				r0, err = m.stop(0, err)
			}
		}
	}()
	return m.interp(ctx)
}

// interp is the one interpreter loop, in two parts: run executes the
// call-free instructions, interp the rest. Tracing swaps the code slice
// (see trace.go) rather than testing for hooks, so an untraced run pays
// nothing.
func (m *Machine) interp(ctx context.Context) (r0 uint64, err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	m.ctx = ctx
	m.state = running
	r := &m.regs
	code, orig := m.codeOf(m.prog), m.prog.code
	gen := m.hooks.gen
	pc, n := m.pc, m.n
	ins := &code[pc]

	for {
		lim := m.budget
		if c := m.nextCheck; c < lim {
			lim = c
		}
		if m.hooks.pcs != nil {
			if c := n + m.pcs.room(len(code)); c < lim {
				lim = c
			}
		}
		if ins, pc, n = m.run(code, ins, pc, n, lim); ins == nil {
			goto slow
		}

		// Instructions that call out: memory the fast path could not serve
		// (views, map values, faults), atomics, LD_ABS, calls, exit and traps.
		m.pc, m.n = pc-1, n
		if ins.op >= recorded { // run recorded it
			ins = &orig[pc-1]
			if m.callsOut(ins.op) {
				m.flushBefore()
			}
			if writesMany[ins.op] {
				m.pcs.snapshot(r, m.depth)
			}
			m.recordMemory(ins)
		}
		switch ins.op {
		case opLdxB, opLdxH, opLdxW, opLdxDW, opLdxSB, opLdxSH, opLdxSW, opLoadAcqB, opLoadAcqH, opLoadAcqW, opLoadAcqDW:
			v, err := m.load(r[ins.src]+uint64(int64(ins.off)), loadSize[ins.op])
			if err != nil {
				return m.stop(0, err)
			}
			switch ins.op {
			case opLdxSB:
				v = uint64(int64(int8(v)))
			case opLdxSH:
				v = uint64(int64(int16(v)))
			case opLdxSW:
				v = uint64(int64(int32(v)))
			}
			r[ins.dst] = v

		case opStB, opStH, opStW, opStDW:
			if err := m.store(r[ins.dst]+uint64(int64(ins.off)), storeSize[ins.op], uint64(ins.imm)); err != nil {
				return m.stop(0, err)
			}
		case opStxB, opStxH, opStxW, opStxDW, opStoreRelB, opStoreRelH, opStoreRelW, opStoreRelDW:
			if err := m.store(r[ins.dst]+uint64(int64(ins.off)), storeSize[ins.op], r[ins.src]); err != nil {
				return m.stop(0, err)
			}
		case opAtomicW, opAtomicDW:
			if err := m.atomic(ins); err != nil {
				return m.stop(0, err)
			}

		case opLdAbsB, opLdAbsH, opLdAbsW, opLdIndB, opLdIndH, opLdIndW:
			v, ok, err := m.ldAbs(ins)
			if err != nil {
				return m.stop(0, err)
			}
			if !ok { // the kernel ends the program with r0 = 0
				r[0] = 0
				return m.stop(0, nil)
			}
			r[0] = v

		case opCallHelper, opCallX:
			id := int(ins.imm)
			if ins.op == opCallX {
				target, isLocal, err := m.callTarget(ins)
				if err != nil {
					return m.stop(0, err)
				}
				if isLocal {
					if err = m.pushFrame(pc, target); err != nil {
						return m.stop(0, err)
					}
					pc = target
					break
				}
				id = target
			}
			ret, done, err := m.callHelper(id)
			if err != nil || done {
				return m.stop(ret, err)
			}
			r[0] = ret
			n = m.n                 // callbacks the helper ran (bpf_loop) count too
			if gen != m.hooks.gen { // an alarm in a callback attached hooks
				code, orig, gen = m.codeOf(m.prog), m.prog.code, m.hooks.gen
			}
			if m.tailProg != nil {
				m.prog, m.tailProg = m.tailProg, nil
				m.flushPCs() // a batch holds the pcs of one program
				code, orig = m.codeOf(m.prog), m.prog.code
				pc = 0
				if m.hooks.call != nil {
					if m.hooks.traced { // the call's After comes first
						m.request(m.flushAfter())
					}
					m.callEvent(hooks.TailCall, 0, m.prog.FuncAt(0))
				}
			}
			if p := m.trace.pause; p == hooks.Abort || p == hooks.Stop && m.nested == 0 {
				m.pc, m.n = pc, n
				if err := m.paused(p); err != nil {
					return m.stop(0, err)
				}
				return 0, ErrPaused
			}
		case opCallLocal:
			if err := m.pushFrame(pc, int(ins.off)); err != nil {
				return m.stop(0, err)
			}
			pc = int(ins.off)
		case opExit:
			if m.depth == 0 {
				return m.stop(r[0], nil)
			}
			if pc = m.popFrame(); pc < 0 { // a callback returns to its helper
				return r[0], nil
			}
			if p := m.prog; &p.code[0] != &orig[0] {
				m.flushPCs()
				code, orig = m.codeOf(p), p.code
			}

		case opTrap:
			if act := m.trap(); act == hooks.Abort || act == hooks.Stop && m.nested == 0 {
				if err := m.paused(act); err != nil {
					return m.stop(0, err)
				}
				return 0, ErrPaused
			}
			if gen != m.hooks.gen { // a hook attached others (see Attach)
				code, orig, gen = m.codeOf(m.prog), m.prog.code, m.hooks.gen
			}
			// Dispatch the real instruction: undo the count the trap took.
			pc, n = pc-1, n-1
			ins = &orig[pc]
			continue

		default: // op 0 and opSecondSlot cannot be reached in a validated program
			return m.stop(0, m.fault(ErrUnsupported, 0, 0, "invalid instruction reached"))
		}
		if n < lim && (m.hooks.pcs == nil || m.pcs.room(len(code)) > 0) {
			ins = &code[pc]
			continue
		}

	slow:
		// A taken jump or call found the instruction count at its limit:
		// enforce the budget, look for cancellation, and hand a nearly full
		// PC batch to its hook.
		m.pc, m.n = pc, n
		if m.hooks.pcs != nil && m.pcs.room(len(code)) == 0 {
			m.flushPCs()
		}
		if n >= m.budget {
			if !m.ring() {
				return m.stop(0, m.fault(ErrBudget, 0, 0, budgetHint))
			}
			code, orig, gen = m.codeOf(m.prog), m.prog.code, m.hooks.gen
		}
		if n >= m.nextCheck {
			m.nextCheck = n + checkEvery
			if ctx.Err() != nil {
				return m.stop(0, m.canceled(ctx))
			}
		}
		ins = &code[pc]
	}
}

// run interprets from ins, the instruction at pc, while instructions need
// no function call: ALU, jumps, loads and stores of plain memory, and
// BPF-to-BPF calls and returns within one program. It returns the
// instruction that needs more (a helper call, a call or exit it cannot
// make, a trap, atomic, LD_ABS or memory the fast path cannot serve) with
// pc past it, or nil with pc at the next instruction when a taken jump,
// call or return finds n at lim. Being call-free lets the compiler keep
// its state in registers.
func (m *Machine) run(code []insn, ins *insn, pc int, n, lim uint64) (*insn, int, uint64) {
	r := &m.regs
	for {
		pc++
		n++
		// Every case has a recorded twin just before it: the recording
		// copy of the code (a PC hook listens) records the instruction
		// there and falls through to the real case. Untraced code never
		// reaches a twin. A twin must stay one small call (a store's
		// also notes the memory it overwrites): past the compiler's
		// big-function size, readable and writable would no longer be
		// inlined (TestRunIsCallFree).
		switch ins.op {
		case opAdd64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAdd64K:
			r[ins.dst] += uint64(ins.imm)
		case opAdd64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAdd64X:
			r[ins.dst] += r[ins.src]
		case opSub64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSub64K:
			r[ins.dst] -= uint64(ins.imm)
		case opSub64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSub64X:
			r[ins.dst] -= r[ins.src]
		case opMul64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMul64K:
			r[ins.dst] *= uint64(ins.imm)
		case opMul64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMul64X:
			r[ins.dst] *= r[ins.src]
		case opDiv64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opDiv64K:
			r[ins.dst] = div(r[ins.dst], uint64(ins.imm))
		case opDiv64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opDiv64X:
			r[ins.dst] = div(r[ins.dst], r[ins.src])
		case opSDiv64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSDiv64K:
			r[ins.dst] = uint64(sdiv(int64(r[ins.dst]), ins.imm))
		case opSDiv64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSDiv64X:
			r[ins.dst] = uint64(sdiv(int64(r[ins.dst]), int64(r[ins.src])))
		case opMod64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMod64K:
			r[ins.dst] = mod(r[ins.dst], uint64(ins.imm))
		case opMod64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMod64X:
			r[ins.dst] = mod(r[ins.dst], r[ins.src])
		case opSMod64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSMod64K:
			r[ins.dst] = uint64(smod(int64(r[ins.dst]), ins.imm))
		case opSMod64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSMod64X:
			r[ins.dst] = uint64(smod(int64(r[ins.dst]), int64(r[ins.src])))
		case opOr64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opOr64K:
			r[ins.dst] |= uint64(ins.imm)
		case opOr64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opOr64X:
			r[ins.dst] |= r[ins.src]
		case opAnd64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAnd64K:
			r[ins.dst] &= uint64(ins.imm)
		case opAnd64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAnd64X:
			r[ins.dst] &= r[ins.src]
		case opXor64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opXor64K:
			r[ins.dst] ^= uint64(ins.imm)
		case opXor64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opXor64X:
			r[ins.dst] ^= r[ins.src]
		case opLsh64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLsh64K:
			r[ins.dst] <<= uint64(ins.imm) & 63
		case opLsh64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLsh64X:
			r[ins.dst] <<= r[ins.src] & 63
		case opRsh64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opRsh64K:
			r[ins.dst] >>= uint64(ins.imm) & 63
		case opRsh64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opRsh64X:
			r[ins.dst] >>= r[ins.src] & 63
		case opArsh64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opArsh64K:
			r[ins.dst] = uint64(int64(r[ins.dst]) >> (uint64(ins.imm) & 63))
		case opArsh64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opArsh64X:
			r[ins.dst] = uint64(int64(r[ins.dst]) >> (r[ins.src] & 63))
		case opNeg64 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opNeg64:
			r[ins.dst] = -r[ins.dst]
		case opMov64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMov64K:
			r[ins.dst] = uint64(ins.imm)
		case opMov64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMov64X:
			r[ins.dst] = r[ins.src]
		case opMovSX8to64 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMovSX8to64:
			r[ins.dst] = uint64(int64(int8(r[ins.src])))
		case opMovSX16to64 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMovSX16to64:
			r[ins.dst] = uint64(int64(int16(r[ins.src])))
		case opMovSX32to64 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMovSX32to64:
			r[ins.dst] = uint64(int64(int32(r[ins.src])))

		case opAdd32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAdd32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) + uint32(ins.imm))
		case opAdd32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAdd32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) + uint32(r[ins.src]))
		case opSub32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSub32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) - uint32(ins.imm))
		case opSub32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSub32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) - uint32(r[ins.src]))
		case opMul32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMul32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) * uint32(ins.imm))
		case opMul32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMul32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) * uint32(r[ins.src]))
		case opDiv32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opDiv32K:
			r[ins.dst] = uint64(div(uint32(r[ins.dst]), uint32(ins.imm)))
		case opDiv32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opDiv32X:
			r[ins.dst] = uint64(div(uint32(r[ins.dst]), uint32(r[ins.src])))
		case opSDiv32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSDiv32K:
			r[ins.dst] = uint64(uint32(sdiv(int32(r[ins.dst]), int32(ins.imm))))
		case opSDiv32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSDiv32X:
			r[ins.dst] = uint64(uint32(sdiv(int32(r[ins.dst]), int32(r[ins.src]))))
		case opMod32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMod32K:
			r[ins.dst] = uint64(mod(uint32(r[ins.dst]), uint32(ins.imm)))
		case opMod32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMod32X:
			r[ins.dst] = uint64(mod(uint32(r[ins.dst]), uint32(r[ins.src])))
		case opSMod32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSMod32K:
			r[ins.dst] = uint64(uint32(smod(int32(r[ins.dst]), int32(ins.imm))))
		case opSMod32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opSMod32X:
			r[ins.dst] = uint64(uint32(smod(int32(r[ins.dst]), int32(r[ins.src]))))
		case opOr32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opOr32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) | uint32(ins.imm))
		case opOr32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opOr32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) | uint32(r[ins.src]))
		case opAnd32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAnd32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) & uint32(ins.imm))
		case opAnd32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opAnd32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) & uint32(r[ins.src]))
		case opXor32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opXor32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) ^ uint32(ins.imm))
		case opXor32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opXor32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) ^ uint32(r[ins.src]))
		case opLsh32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLsh32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) << (uint32(ins.imm) & 31))
		case opLsh32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLsh32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) << (uint32(r[ins.src]) & 31))
		case opRsh32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opRsh32K:
			r[ins.dst] = uint64(uint32(r[ins.dst]) >> (uint32(ins.imm) & 31))
		case opRsh32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opRsh32X:
			r[ins.dst] = uint64(uint32(r[ins.dst]) >> (uint32(r[ins.src]) & 31))
		case opArsh32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opArsh32K:
			r[ins.dst] = uint64(uint32(int32(r[ins.dst]) >> (uint32(ins.imm) & 31)))
		case opArsh32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opArsh32X:
			r[ins.dst] = uint64(uint32(int32(r[ins.dst]) >> (uint32(r[ins.src]) & 31)))
		case opNeg32 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opNeg32:
			r[ins.dst] = uint64(-uint32(r[ins.dst]))
		case opMov32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMov32K:
			r[ins.dst] = uint64(uint32(ins.imm))
		case opMov32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMov32X:
			r[ins.dst] = uint64(uint32(r[ins.src]))
		case opMovSX8to32 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMovSX8to32:
			r[ins.dst] = uint64(uint32(int32(int8(r[ins.src]))))
		case opMovSX16to32 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMovSX16to32:
			r[ins.dst] = uint64(uint32(int32(int16(r[ins.src]))))

		case opLE16 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLE16:
			r[ins.dst] = uint64(uint16(r[ins.dst]))
		case opLE32 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLE32:
			r[ins.dst] = uint64(uint32(r[ins.dst]))
		case opLE64 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLE64:
		case opBE16 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opBE16:
			r[ins.dst] = uint64(bits.ReverseBytes16(uint16(r[ins.dst])))
		case opBE32 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opBE32:
			r[ins.dst] = uint64(bits.ReverseBytes32(uint32(r[ins.dst])))
		case opBE64 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opBE64:
			r[ins.dst] = bits.ReverseBytes64(r[ins.dst])

		case opJA + recorded, opJA32 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJA, opJA32:
			pc = int(ins.off)
			if n >= lim {
				return nil, pc, n
			}
		case opJEq64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJEq64K:
			if r[ins.dst] == uint64(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJEq64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJEq64X:
			if r[ins.dst] == r[ins.src] {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGt64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGt64K:
			if r[ins.dst] > uint64(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGt64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGt64X:
			if r[ins.dst] > r[ins.src] {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGe64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGe64K:
			if r[ins.dst] >= uint64(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGe64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGe64X:
			if r[ins.dst] >= r[ins.src] {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSet64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSet64K:
			if r[ins.dst]&uint64(ins.imm) != 0 {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSet64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSet64X:
			if r[ins.dst]&r[ins.src] != 0 {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJNe64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJNe64K:
			if r[ins.dst] != uint64(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJNe64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJNe64X:
			if r[ins.dst] != r[ins.src] {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGt64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGt64K:
			if int64(r[ins.dst]) > ins.imm {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGt64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGt64X:
			if int64(r[ins.dst]) > int64(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGe64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGe64K:
			if int64(r[ins.dst]) >= ins.imm {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGe64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGe64X:
			if int64(r[ins.dst]) >= int64(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLt64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLt64K:
			if r[ins.dst] < uint64(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLt64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLt64X:
			if r[ins.dst] < r[ins.src] {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLe64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLe64K:
			if r[ins.dst] <= uint64(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLe64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLe64X:
			if r[ins.dst] <= r[ins.src] {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLt64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLt64K:
			if int64(r[ins.dst]) < ins.imm {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLt64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLt64X:
			if int64(r[ins.dst]) < int64(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLe64K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLe64K:
			if int64(r[ins.dst]) <= ins.imm {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLe64X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLe64X:
			if int64(r[ins.dst]) <= int64(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJEq32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJEq32K:
			if uint32(r[ins.dst]) == uint32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJEq32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJEq32X:
			if uint32(r[ins.dst]) == uint32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGt32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGt32K:
			if uint32(r[ins.dst]) > uint32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGt32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGt32X:
			if uint32(r[ins.dst]) > uint32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGe32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGe32K:
			if uint32(r[ins.dst]) >= uint32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJGe32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJGe32X:
			if uint32(r[ins.dst]) >= uint32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSet32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSet32K:
			if uint32(r[ins.dst])&uint32(ins.imm) != 0 {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSet32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSet32X:
			if uint32(r[ins.dst])&uint32(r[ins.src]) != 0 {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJNe32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJNe32K:
			if uint32(r[ins.dst]) != uint32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJNe32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJNe32X:
			if uint32(r[ins.dst]) != uint32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGt32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGt32K:
			if int32(r[ins.dst]) > int32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGt32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGt32X:
			if int32(r[ins.dst]) > int32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGe32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGe32K:
			if int32(r[ins.dst]) >= int32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSGe32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSGe32X:
			if int32(r[ins.dst]) >= int32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLt32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLt32K:
			if uint32(r[ins.dst]) < uint32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLt32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLt32X:
			if uint32(r[ins.dst]) < uint32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLe32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLe32K:
			if uint32(r[ins.dst]) <= uint32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJLe32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJLe32X:
			if uint32(r[ins.dst]) <= uint32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLt32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLt32K:
			if int32(r[ins.dst]) < int32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLt32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLt32X:
			if int32(r[ins.dst]) < int32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLe32K + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLe32K:
			if int32(r[ins.dst]) <= int32(ins.imm) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opJSLe32X + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opJSLe32X:
			if int32(r[ins.dst]) <= int32(r[ins.src]) {
				pc = int(ins.off)
				if n >= lim {
					return nil, pc, n
				}
			}
		case opMayGoto + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opMayGoto:
			// Fall through while the frame's BPF_MAX_LOOPS budget lasts,
			// then take the jump, as the kernel's may_goto does.
			if l := &m.loops[m.depth]; *l > 0 {
				*l--
			} else {
				pc = int(ins.off) // may be backward: look at the limits as jumps do
				if n >= lim {
					return nil, pc, n
				}
			}

		case opLdImm64 + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdImm64:
			r[ins.dst] = uint64(ins.imm)
			pc++
		case opLdMapFD + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdMapFD:
			r[ins.dst] = m.mapByIdx[uint32(ins.imm)].handle
			pc++
		case opLdMapValue + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdMapValue:
			r[ins.dst] = m.mapByIdx[uint32(ins.imm)].values + uint64(uint32(ins.imm>>32))
			pc++
		case opLdFunc + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdFunc:
			r[ins.dst] = funcAddr(int(ins.off))
			pc++

		case opLdxB + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdxB:
			if b := m.readable(r[ins.src]+uint64(int64(ins.off)), 1); b != nil {
				r[ins.dst] = uint64(b[0])
				break
			}
			return ins, pc, n
		case opLdxH + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdxH:
			if b := m.readable(r[ins.src]+uint64(int64(ins.off)), 2); b != nil {
				r[ins.dst] = uint64(binary.LittleEndian.Uint16(b))
				break
			}
			return ins, pc, n
		case opLdxW + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdxW:
			if b := m.readable(r[ins.src]+uint64(int64(ins.off)), 4); b != nil {
				r[ins.dst] = uint64(binary.LittleEndian.Uint32(b))
				break
			}
			return ins, pc, n
		case opLdxDW + recorded:
			m.record(pc-1, ins)
			fallthrough
		case opLdxDW:
			if b := m.readable(r[ins.src]+uint64(int64(ins.off)), 8); b != nil {
				r[ins.dst] = binary.LittleEndian.Uint64(b)
				break
			}
			return ins, pc, n
		case opStxB + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 1); b != nil {
				m.recordOld(uint64(b[0]))
			}
			fallthrough
		case opStxB:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 1); b != nil {
				b[0] = byte(r[ins.src])
				break
			}
			return ins, pc, n
		case opStxH + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 2); b != nil {
				m.recordOld(uint64(binary.LittleEndian.Uint16(b)))
			}
			fallthrough
		case opStxH:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 2); b != nil {
				binary.LittleEndian.PutUint16(b, uint16(r[ins.src]))
				break
			}
			return ins, pc, n
		case opStxW + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 4); b != nil {
				m.recordOld(uint64(binary.LittleEndian.Uint32(b)))
			}
			fallthrough
		case opStxW:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 4); b != nil {
				binary.LittleEndian.PutUint32(b, uint32(r[ins.src]))
				break
			}
			return ins, pc, n
		case opStxDW + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 8); b != nil {
				m.recordOld(binary.LittleEndian.Uint64(b))
			}
			fallthrough
		case opStxDW:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 8); b != nil {
				binary.LittleEndian.PutUint64(b, r[ins.src])
				break
			}
			return ins, pc, n
		case opStB + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 1); b != nil {
				m.recordOld(uint64(b[0]))
			}
			fallthrough
		case opStB:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 1); b != nil {
				b[0] = byte(ins.imm)
				break
			}
			return ins, pc, n
		case opStH + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 2); b != nil {
				m.recordOld(uint64(binary.LittleEndian.Uint16(b)))
			}
			fallthrough
		case opStH:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 2); b != nil {
				binary.LittleEndian.PutUint16(b, uint16(ins.imm))
				break
			}
			return ins, pc, n
		case opStW + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 4); b != nil {
				m.recordOld(uint64(binary.LittleEndian.Uint32(b)))
			}
			fallthrough
		case opStW:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 4); b != nil {
				binary.LittleEndian.PutUint32(b, uint32(ins.imm))
				break
			}
			return ins, pc, n
		case opStDW + recorded:
			m.record(pc-1, ins)
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 8); b != nil {
				m.recordOld(binary.LittleEndian.Uint64(b))
			}
			fallthrough
		case opStDW:
			if b := m.writable(r[ins.dst]+uint64(int64(ins.off)), 8); b != nil {
				binary.LittleEndian.PutUint64(b, uint64(ins.imm))
				break
			}
			return ins, pc, n
		case opCallLocal:
			// A call or a return within one program takes no function
			// call when no call hook listens; the rest (depth limit,
			// callbacks, returns across a tail call, a frame last used
			// by another program) go to interp.
			if d := m.depth; d+1 < MaxCallDepth && m.hooks.call == nil && m.frames[d].prog == m.prog {
				m.enter(pc-1, pc)
				pc = int(ins.off) // a way back to old code: look at the limits as jumps do
				if n >= lim {
					return nil, pc, n
				}
				break
			}
			return ins, pc, n
		case opExit:
			if d := m.depth - 1; d >= 0 && m.hooks.call == nil {
				if f := &m.frames[d]; f.ret >= 0 && f.prog == m.prog {
					pc = m.leave(f)
					if n >= lim {
						return nil, pc, n
					}
					break
				}
			}
			return ins, pc, n
		default:
			if ins.op >= recorded { // the cases above record their own
				m.record(pc-1, ins)
			}
			return ins, pc, n
		}
		ins = &code[pc]
	}
}

// stop ends the run: it reports the exit to hooks and leaves the machine idle.
func (m *Machine) stop(r0 uint64, err error) (uint64, error) {
	if m.nested > 0 { // a callback failed: its helper's caller ends the run
		return 0, err
	}
	if errors.Is(err, ErrUnwind) {
		err = nil
	}
	if err == nil {
		m.regs[0] = r0
	}
	// An error between instructions leaves the last one complete; any
	// other is the fault of the last one, which then has no After.
	between := err == nil || errors.Is(err, ErrBudget) || errors.Is(err, ErrCanceled) || errors.Is(err, ErrAborted)
	if m.hooks.traced && between {
		m.flushAfter()
	}
	m.pcs.faulted = !between
	m.flushPCs()
	m.state = idle
	m.endRun(err)
	m.result = m.regs[0]
	if m.hooks.run != nil {
		ev := &m.trace.runEv
		ev.R0, ev.Err, ev.Insns = m.regs[0], err, m.n
		m.hooks.run.Exit(ev)
	}
	if err != nil {
		return 0, err
	}
	return m.regs[0], nil
}

var loadSize = [numOps]uint32{
	opLdxB: 1, opLdxH: 2, opLdxW: 4, opLdxDW: 8, opLdxSB: 1, opLdxSH: 2, opLdxSW: 4,
	opLoadAcqB: 1, opLoadAcqH: 2, opLoadAcqW: 4, opLoadAcqDW: 8,
}

var storeSize = [numOps]uint32{
	opStB: 1, opStH: 2, opStW: 4, opStDW: 8, opStxB: 1, opStxH: 2, opStxW: 4, opStxDW: 8,
	opStoreRelB: 1, opStoreRelH: 2, opStoreRelW: 4, opStoreRelDW: 8,
	opAtomicW: 4, opAtomicDW: 8,
}

// pushFrame enters a BPF-to-BPF call (run enters most itself, see enter)
// and reports it to a call hook.
func (m *Machine) pushFrame(ret, target int) error {
	if m.depth+1 >= MaxCallDepth {
		return m.fault(ErrCallDepth, 0, 0, "")
	}
	m.frames[m.depth].prog = m.prog
	m.enter(m.pc, ret)
	if m.hooks.call != nil {
		m.callEvent(0, target, m.prog.FuncAt(target))
	}
	return nil
}

// popFrame returns from a BPF-to-BPF call, reports it to a call hook and
// yields the pc to resume at.
func (m *Machine) popFrame() int {
	f := &m.frames[m.depth-1]
	m.prog = f.prog
	ret := m.leave(f)
	if m.hooks.call != nil {
		m.callEvent(1, ret, m.prog.FuncAt(ret))
	}
	return ret
}

// callTarget resolves a callx: a local function (a function address) or a
// helper id.
func (m *Machine) callTarget(ins *insn) (target int, local bool, err error) {
	v := m.regs[ins.dst]
	if v>>regionShift == codeRegion {
		pc := int(uint32(v) / 8)
		if uint32(v)%8 != 0 || pc >= len(m.prog.code) || m.prog.code[pc].op == opSecondSlot {
			return 0, false, m.fault(ErrBadCall, 0, 0, "callx to a misaligned or out-of-range address")
		}
		return pc, true, nil
	}
	if v > math.MaxInt32 {
		return 0, false, m.fault(ErrBadCall, 0, 0, "callx target is neither a function nor a helper id")
	}
	return int(v), false, nil
}

// helperSite is a helper call in progress: what its end reports, and the
// state to go back to if it panics.
type helperSite struct {
	calling   bool
	listening bool  // a helper hook listened at the call: args are kept for its event
	id, outer int32 // the helper, and m.curHelper before it
	pc, depth int
	writes    int // len(m.trace.helperWrites) before the call
	prog      *Program
	args      Args
}

// callHelper runs helper id with r1..r5. done reports that the program ends
// with ret (an unwinding helper).
func (m *Machine) callHelper(id int) (ret uint64, done bool, err error) {
	var fn HelperFunc
	if id < len(m.helpers) {
		fn = m.helpers[id]
	}
	if fn == nil && m.cfg.Helpers != nil { // callx may name any helper
		if h, ok := m.cfg.Helpers.Helper(int32(id)); ok {
			fn = h.Fn
		}
	}
	if fn == nil {
		return 0, false, m.fault(ErrUnknownHelper, 0, 0, "helper "+strconv.Itoa(id))
	}
	var nested helperSite
	s := &m.site // resume's, which it recovers
	if m.nested > 0 {
		s = &nested
	}
	s.calling, s.listening = true, m.hooks.helper != nil
	s.id, s.outer, m.curHelper = int32(id), m.curHelper, int32(id)
	s.pc, s.depth, s.prog, s.writes = m.pc, m.depth, m.prog, len(m.trace.helperWrites)
	if s.listening { // the event shows them as they were: a callback changes r1..r5
		s.args = Args(m.regs[1:6])
	}
	if m.nested == 0 {
		ret, err = fn(m, Args(m.regs[1:6]))
	} else {
		ret, err = m.callGuarded(fn, s)
	}
	s.calling = false
	if err == nil && m.hooks.helper == nil && m.hooks.access == nil {
		m.curHelper = s.outer
		return ret, false, nil
	}
	return m.helperReturned(s, ret, err)
}

// callGuarded calls a helper from a callback, turning its panic into
// ErrHelperPanic for the helper that called back to handle (resume
// guards the outermost calls).
func (m *Machine) callGuarded(fn HelperFunc, s *helperSite) (ret uint64, err error) {
	nested := m.nested
	defer func() {
		if p := recover(); p != nil {
			ret, err = 0, m.helperPanicked(s, nested, p)
		}
	}()
	return fn(m, Args(m.regs[1:6]))
}

// helperReturned reports a helper call's end to hooks and sorts its error:
// ErrUnwind ends the program, a RunError stands, anything else is the
// helper's failure at the calling pc.
func (m *Machine) helperReturned(s *helperSite, ret uint64, err error) (uint64, bool, error) {
	if m.hooks.access != nil {
		m.reportHelperWrites(s.writes)
	}
	m.curHelper = s.outer
	if m.hooks.helper != nil { // maybe attached or detached during the call
		a := s.args
		if !s.listening {
			a = Args(m.regs[1:6])
		}
		m.helperEvent(s.id, a, ret, err)
	}
	switch {
	case err == nil:
		return ret, false, nil
	case errors.Is(err, ErrUnwind):
		return ret, true, nil
	}
	var re *RunError
	if errors.As(err, &re) {
		return 0, false, err
	}
	return 0, false, m.fault(ErrHelperFailed, 0, 0, m.HelperName(s.id)+": "+err.Error())
}

// helperPanicked takes the machine back to the call of a helper that
// panicked (a panic inside a callback leaves its frames behind) and
// returns the ErrHelperPanic that ends the run there.
func (m *Machine) helperPanicked(s *helperSite, nested int, p any) error {
	m.nested, m.pc, m.depth, m.prog = nested, s.pc, s.depth, s.prog
	m.setFP()
	return m.fault(ErrHelperPanic, 0, 0, fmt.Sprintf("%s: %v", m.HelperName(s.id), p))
}

// atomic executes a BPF_ATOMIC read-modify-write.
func (m *Machine) atomic(ins *insn) error {
	size := storeSize[ins.op]
	addr := m.regs[ins.dst] + uint64(int64(ins.off))
	b := m.span(addr, size, true)
	if b == nil {
		return m.accessError(addr, size, true)
	}
	m.setFetched(ins, atomicRMW(b, uint8(ins.imm), m.regs[ins.src], m.regs[0]))
	return nil
}

func (m *Machine) setFetched(ins *insn, old uint64) {
	switch {
	case uint8(ins.imm) == 0xf1: // cmpxchg returns the old value in r0
		m.regs[0] = old
	case ins.imm&1 != 0: // fetch variants and xchg return it in src
		m.regs[ins.src] = old
	}
}

// ldAbs runs LD_ABS / LD_IND against the socket buffer. ok is false when the
// offset is outside the packet: the kernel then ends the program with 0.
func (m *Machine) ldAbs(ins *insn) (v uint64, ok bool, err error) {
	if m.skb == nil {
		return 0, false, m.fault(ErrNoPacket, 0, 0, "")
	}
	off := int64(int32(ins.imm))
	if ins.op >= opLdIndB {
		off = int64(int32(uint32(m.regs[ins.src]) + uint32(ins.imm)))
	}
	size := [3]int{1, 2, 4}[(ins.op-opLdAbsB)%3]
	b, ok := m.skb.LoadAbs(off, size)
	if !ok {
		return 0, false, nil
	}
	switch size {
	case 1:
		return uint64(b[0]), true, nil
	case 2:
		return uint64(b[0])<<8 | uint64(b[1]), true, nil
	}
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]), true, nil
}

// CallFunc calls the BPF function at addr, a function pointer the program
// passed (ld_imm64 src 4), with args in r1..r5, and returns its r0. Helpers
// that take callbacks (bpf_loop, bpf_for_each_map_elem) use it. The callee
// runs in a new frame of the same machine, under the same budget and hooks;
// a hook's Stop inside a callback is ignored.
func (m *Machine) CallFunc(addr uint64, args ...uint64) (uint64, error) {
	if addr>>regionShift != codeRegion || uint32(addr)%8 != 0 {
		return 0, m.fault(ErrBadCall, 0, 0, "callback is not a function address")
	}
	pc := int(uint32(addr) / 8)
	if pc >= len(m.prog.code) || m.prog.code[pc].op == opSecondSlot {
		return 0, m.fault(ErrBadCall, 0, 0, "callback address out of range")
	}
	if len(args) > 5 {
		return 0, m.fault(ErrBadCall, 0, 0, "more than 5 callback arguments")
	}
	// A helper may call back millions of times (bpf_loop): each entry
	// looks at the budget and, every CheckInterval, at the context.
	if m.n >= m.budget && !m.ring() {
		return 0, m.fault(ErrBudget, 0, 0, budgetHint)
	}
	if m.n >= m.nextCheck {
		m.nextCheck = m.n + checkEvery
		if m.ctx.Err() != nil {
			return 0, m.canceled(m.ctx)
		}
	}
	callPC := m.pc
	if err := m.pushFrame(-1, pc); err != nil {
		return 0, err
	}
	clear(m.regs[1:6])
	for k, v := range args { // not copy: a call of memmove per callback
		m.regs[1+k] = v
	}
	m.pc = pc
	m.nested++
	r0, err := m.interp(m.ctx) // the helper's call guards it (callGuarded, resume)
	m.nested--
	m.pc = callPC
	return r0, err
}
