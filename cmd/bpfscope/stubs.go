package main

func cmdDump(e *env, args []string) error    { return nil }
func cmdReplay(e *env, args []string) error  { return nil }
func cmdDiff(e *env, args []string) error    { return nil }
func cmdCover(e *env, args []string) error   { return nil }
func cmdProfile(e *env, args []string) error { return nil }
func cmdVerify(e *env, args []string) error  { return nil }
func cmdDisasm(e *env, args []string) error  { return nil }
