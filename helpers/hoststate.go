package helpers

import (
	"fmt"
	"strings"
)

// hostState says, for HELPERS.md, which state each helper keeps host-side
// (issue 12: a helper never takes a length, offset, pointer or state word
// from memory the program can write without checking it against
// bpfscope's own bookkeeping). Every helper reads program memory only
// through vm.Machine.Bytes, checked like an instruction's access, at sizes
// it knows (the map's key and value sizes, a size argument); what it reads
// there is data, never bookkeeping. "-" means it keeps nothing beyond that.
var hostState = map[string]string{
	"bpf_map_lookup_elem":        "-; the value pointer is computed from the map's own slot, not read back",
	"bpf_map_update_elem":        "-",
	"bpf_get_local_storage":      "RunState: the run's storage regions by map (and CPU), unmapped when the run ends",
	"bpf_snprintf_btf":           "the 32-byte safe copy of the object, as the kernel's btf_show; types from kernel BTF, never from program memory",
	"bpf_lwt_push_encap":         "packet bounds kept by the context provider (ctx.SKB)",
	"bpf_map_delete_elem":        "-",
	"bpf_map_push_elem":          "-",
	"bpf_map_pop_elem":           "-",
	"bpf_map_peek_elem":          "-",
	"bpf_map_lookup_percpu_elem": "-",
	"bpf_for_each_map_elem":      "the key snapshot of a hash map (charged to the budget); a read-only key buffer per map and call depth, mapped once per run",
	"bpf_loop":                   "-; each callback entry looks at the budget and the context",
	"bpf_tail_call":              "the run's tail-call count (vm.Machine); programs from the ProgramArrayMap, not from memory",
	"bpf_spin_lock":              "the lock held (address) in the run's state and a mutex per lock word, shared by machines; the lock word only shows it; unlocked when the run ends",
	"bpf_spin_unlock":            "as bpf_spin_lock: only the lock this run took",
	"bpf_ringbuf_reserve":        "each reservation (ring, offset, size) in the run's state; the record is mapped as exactly its payload, headers are unreachable; discarded when the run ends",
	"bpf_ringbuf_submit":         "accepts only a pointer reserve returned in this run, then unmaps it; output bytes (vm.Config.MaxOutput)",
	"bpf_ringbuf_discard":        "as bpf_ringbuf_submit",
	"bpf_ringbuf_output":         "output bytes (vm.Config.MaxOutput)",
	"bpf_ringbuf_query":          "positions kept by the map",
	"bpf_perf_event_output":      "records kept by the map; output bytes (vm.Config.MaxOutput)",
	"bpf_trace_printk":           "RunState.Printk; output bytes (vm.Config.MaxOutput)",
	"bpf_trace_vprintk":          "as bpf_trace_printk",
	"bpf_snprintf":               "-; the format walk is charged to the budget",
	"bpf_strtol":                 "-; the buffer walk is charged to the budget",
	"bpf_strtoul":                "as bpf_strtol",
	"bpf_strncmp":                "-; the constant string walk is charged to the budget",
	"bpf_csum_diff":              "-",
	"bpf_redirect":               "RunState.Redirect",
	"bpf_redirect_map":           "RunState.Redirect",
	"bpf_fib_lookup":             "-",
	"bpf_send_signal":            "RunState.Signals",
	"bpf_send_signal_thread":     "RunState.Signals",
	"bpf_get_stack":              "-",
	"bpf_get_stackid":            "-",
	"bpf_get_current_comm":       "-",
	"bpf_user_ringbuf_drain":     "the sample's dynptr, in a region of its own per call, checked as any dynptr; each callback entry looks at the budget and the context",
	"bpf_timer_init":             "RunState.Timers, by the timer's address; the bpf_timer bytes are not read back",
	"bpf_timer_set_callback":     "as bpf_timer_init; the callback is recorded, never called",
	"bpf_timer_start":            "as bpf_timer_init",
	"bpf_timer_cancel":           "as bpf_timer_init",
	"bpf_dynptr_from_mem":        "the dynptr's bytes as written, per run: every later use checks the program left them alone (the verifier forbids writing them)",
	"bpf_dynptr_read":            "checks the dynptr against the bytes its helper wrote",
	"bpf_dynptr_write":           "checks the dynptr against the bytes its helper wrote",
	"bpf_dynptr_data":            "checks the dynptr against the bytes its helper wrote",
	"bpf_ringbuf_reserve_dynptr": "as bpf_ringbuf_reserve and bpf_dynptr_from_mem",
	"bpf_ringbuf_submit_dynptr":  "as bpf_ringbuf_submit, after checking the dynptr",
	"bpf_ringbuf_discard_dynptr": "as bpf_ringbuf_submit, after checking the dynptr",
	"bpf_dynptr_from_skb":        "as bpf_dynptr_from_mem; the packet through the context provider",
	"bpf_dynptr_from_xdp":        "as bpf_dynptr_from_mem; the packet through the context provider",
	"bpf_dynptr_slice":           "checks the dynptr against the bytes its helper wrote",
	"bpf_dynptr_slice_rdwr":      "checks the dynptr against the bytes its helper wrote",
	"bpf_dynptr_size":            "checks the dynptr against the bytes its helper wrote",
	"bpf_dynptr_is_null":         "checks the dynptr against the bytes its helper wrote",
	"bpf_dynptr_is_rdonly":       "checks the dynptr against the bytes its helper wrote",
	"bpf_dynptr_adjust":          "checks the dynptr against the bytes its helper wrote, records the new ones",
	"bpf_dynptr_clone":           "checks the source dynptr, records the clone's bytes",
	"bpf_iter_num_new":           "the iterator's bytes as written, per run; bpf_iter_num_next checks the program left them alone",
	"bpf_iter_num_next":          "as bpf_iter_num_new",
	"bpf_iter_num_destroy":       "as bpf_iter_num_new",
	"bpf_ct_insert_entry":        "the nf_conn images the conntrack kfuncs returned in this run (a Conn per address), not the image's bytes",
	"bpf_ct_release":             "as bpf_ct_insert_entry",
	"bpf_ct_set_timeout":         "as bpf_ct_insert_entry",
	"bpf_ct_change_timeout":      "as bpf_ct_insert_entry",
	"bpf_ct_set_status":          "as bpf_ct_insert_entry",
	"bpf_ct_change_status":       "as bpf_ct_insert_entry",
	"bpf_ct_set_nat_info":        "as bpf_ct_insert_entry",
}

// packetState is the host-side state of the helpers that work on the
// packet: its bounds live in the context provider (ctx.SKB, ctx.XDP), found
// from the ctx pointer's region, never from __sk_buff or xdp_md bytes.
const packetState = "packet bounds kept by the context provider (ctx.SKB/ctx.XDP), not read from the ctx structure"

// hostStateOf returns helper name's entry for HELPERS.md.
func hostStateOf(name string) string {
	if s, ok := hostState[name]; ok {
		return s
	}
	if strings.HasPrefix(name, "bpf_skb_") || strings.HasPrefix(name, "bpf_xdp_") || strings.HasPrefix(name, "bpf_l3_") ||
		strings.HasPrefix(name, "bpf_l4_") || strings.HasPrefix(name, "bpf_csum_") || strings.Contains(name, "hash") ||
		name == "bpf_get_cgroup_classid" || name == "bpf_get_socket_cookie" {
		return packetState
	}
	return "-"
}

// writeHostState writes HELPERS.md's section on host-side state: one row
// per helper, in the order of names.
func writeHostState(b *strings.Builder, names []string) {
	b.WriteString("\n## State kept host-side\n\n")
	b.WriteString("What each helper keeps in bpfscope's own bookkeeping rather than trusting memory the\n")
	b.WriteString("program can write. Program memory is read only through checked accesses, at sizes the\n")
	b.WriteString(`helper knows; "-" means nothing beyond that. What a run holds is released when it ends,` + "\n")
	b.WriteString("however it ends (vm.Machine.OnRunEnd).\n\n")
	b.WriteString("| name | host-side state |\n|---|---|\n")
	for _, n := range names {
		fmt.Fprintf(b, "| `%s` | %s |\n", n, hostStateOf(n))
	}
}
