package main

import (
	"flag"
	"fmt"
)

// atLeast checks the integer flags named in mins that were given on the
// command line: each must be at least its minimum. A flag left at its
// default is not checked (--jobs 0 means "choose", --jobs 0 given does not).
func atLeast(fs *flag.FlagSet, mins map[string]int) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		min, ok := mins[f.Name]
		if !ok || err != nil {
			return
		}
		if v, isInt := f.Value.(flag.Getter).Get().(int); isInt && v < min {
			err = &statusError{code: 2, err: fmt.Errorf("--%s %d: want %d or more", f.Name, v, min)}
		}
	})
	return err
}
