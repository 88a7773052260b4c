//go:build race

package server_test

// raceEnabled: the race detector slows the server tenfold; the long
// scenarios run shorter under it.
const raceEnabled = true
