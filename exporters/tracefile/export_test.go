package tracefile

// Diff exposes the event comparison to the external tests.
var Diff = diff
