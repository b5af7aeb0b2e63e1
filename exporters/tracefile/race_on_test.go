//go:build race

package tracefile

// raceEnabled: the race detector slows the reader down about tenfold.
const raceEnabled = true
