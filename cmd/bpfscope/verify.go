package main

func cmdVerify(e *env, args []string) error { return nil }
