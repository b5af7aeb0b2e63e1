package jsonl_test

import "github.com/bpfscope/bpfscope/hooks"

var hooksOutput = hooks.Output{PC: 3, Kind: "trace_printk", Data: []byte("a\"b\\c\n\x01é")}
