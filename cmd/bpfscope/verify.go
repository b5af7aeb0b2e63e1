package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/bpfscope/bpfscope/btfvalue"
	"github.com/bpfscope/bpfscope/helpers"
	"github.com/bpfscope/bpfscope/internal/kernel"
	"github.com/bpfscope/bpfscope/loader"
	"github.com/bpfscope/bpfscope/maps"
	"github.com/cilium/ebpf/btf"
)

const verifyUsage = `usage: bpfscope verify [flags] [PROG.o]

Runs every packet in bpfscope and, where bpf() is allowed (root, or
CAP_BPF with CAP_NET_ADMIN), in the running kernel with BPF_PROG_TEST_RUN,
and reports any difference in verdict, output packet or maps. The kernel
starts every packet from bpfscope's map contents before that packet, so
state carried across packets is compared too.

Compared maps: hash, array, LRU hash and LPM trie maps and the global data
sections. Per-CPU maps are left out (the kernel runs each packet on
whatever CPU the command is on), as are ring buffers, perf event arrays,
program arrays and maps of maps.

`

func cmdVerify(e *env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), verifyUsage); fs.PrintDefaults() }
	var in inputFlags
	in.register(fs)
	capFile := fs.String("capture", "", "replay the runs of the bpfscope capture `FILE` and compare with what the kernel did (see 'bpfscope capture')")
	force := fs.Bool("force", false, "with --capture: replay even when the object's program tag differs from the captured program's")
	traceLines := fs.Int("trace-lines", 60, "with --capture: print the last `N` lines of the first differing run's trace (0: all)")
	pos, err := parse(e, fs, args)
	if err != nil {
		return err
	}
	if *capFile != "" {
		return verifyCapture(e, &in, pos, *capFile, *force, traceLines)
	}
	p, err := in.load(pos)
	if err != nil {
		return err
	}
	if p.raw != nil {
		return errors.New("verify needs an ELF object")
	}
	if err := kernel.Available(); err != nil {
		return fmt.Errorf("the kernel cannot run programs here: %v", err)
	}
	objPath := p.objPath
	if objPath == "" {
		dir, err := os.MkdirTemp("", "bpfscope-verify")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		objPath = filepath.Join(dir, p.label)
		if err := os.WriteFile(objPath, p.elf, 0o600); err != nil {
			return err
		}
	}
	ctxIn, src, err := in.inputs(p)
	if err != nil {
		return err
	}
	defer src.Close()
	coll, err := p.collection()
	if err != nil {
		return err
	}
	inst, err := p.instantiate(coll, helpers.NewDefaultEnv())
	if err != nil {
		return err
	}
	n, diffs := 0, 0
	var readErr error
	for {
		pk, err := src.Next()
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
		n++
		before := snapshot(coll)
		kres, kerr := kernel.Run(objPath, p.name, kernel.Input{Data: pk.Data, Ctx: ctxIn, Maps: before})
		r := inst.execute(context.Background(), p.typ, pk, ctxIn, 0, nil)
		if kerr != nil {
			return fmt.Errorf("packet %d: kernel: %v", pk.N, kerr)
		}
		var found []string
		switch {
		case (r.Err != nil) != (kres.Err != nil):
			found = append(found, fmt.Sprintf("bpfscope error %v, kernel error %v", r.Err, kres.Err))
		case r.Err == nil:
			if r.Retval != kres.Retval {
				found = append(found, fmt.Sprintf("verdict: bpfscope %s, kernel %s", verdict(p.typ, r.Retval), verdict(p.typ, kres.Retval)))
			}
			if !bytes.Equal(r.DataOut, kres.DataOut) {
				found = append(found, fmt.Sprintf("output packet: bpfscope %d bytes %x, kernel %d bytes %x", len(r.DataOut), r.DataOut, len(kres.DataOut), kres.DataOut))
			}
		}
		found = append(found, compareMaps(coll, snapshot(coll), kres.Maps)...)
		status := "same"
		if len(found) > 0 {
			diffs++
			status = "DIFFERENT"
		}
		v := r.Verdict
		if r.Err != nil {
			v = "error"
		}
		fmt.Fprintf(e.stdout, "#%-4d %-13s %-9s %s\n", pk.N, v, status, summarize(pk.Data, src.LinkType()))
		for _, f := range found {
			fmt.Fprintf(e.stdout, "      %s\n", f)
		}
	}
	fmt.Fprintf(e.stdout, "\n%d packets, %d differ from the kernel\n", n, diffs)
	if readErr != nil {
		return readErr
	}
	if diffs > 0 {
		return errSilent
	}
	return nil
}

// comparable reports the maps verify passes to the kernel and compares.
func comparable(m maps.Map) bool {
	switch m.Spec().Type {
	case maps.Hash, maps.Array, maps.LRUHash, maps.LPMTrie:
		return true
	}
	return false
}

// snapshot dumps the comparable maps in the kernel package's layout.
func snapshot(c *loader.Collection) map[string][]kernel.KV {
	out := map[string][]kernel.KV{}
	for _, name := range c.MapNames() {
		m := c.Maps[name]
		if !comparable(m) {
			continue
		}
		kvs := []kernel.KV{}
		for k := range m.Keys() {
			v := make([]byte, m.UserValueSize())
			if m.Get(k, v) == nil {
				kvs = append(kvs, kernel.KV{Key: k, Value: v})
			}
		}
		out[name] = kvs
	}
	return out
}

// compareMaps lists the differences between bpfscope's and the kernel's
// maps after a run.
func compareMaps(c *loader.Collection, ours, theirs map[string][]kernel.KV) []string {
	var diffs []string
	names := make([]string, 0, len(ours))
	for n := range ours {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a, b := asMap(ours[n]), asMap(theirs[n])
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			va, oka := a[k]
			vb, okb := b[k]
			if oka != okb || !bytes.Equal(va, vb) {
				var kt, vt btf.Type
				if m, ok := c.Maps[n]; ok {
					spec := m.Spec()
					kt, vt = spec.Key, spec.Value
				}
				diffs = append(diffs, fmt.Sprintf("map %s key %s: bpfscope %s, kernel %s", n,
					btfvalue.AppendTextOrHex(nil, kt, []byte(k)), present(vt, va, oka), present(vt, vb, okb)))
			}
		}
	}
	return diffs
}

func asMap(kvs []kernel.KV) map[string][]byte {
	m := map[string][]byte{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// present shows a value, decoded by its BTF type t when it fits.
func present(t btf.Type, v []byte, ok bool) string {
	if !ok {
		return "absent"
	}
	return string(btfvalue.AppendTextOrHex(nil, t, v))
}
