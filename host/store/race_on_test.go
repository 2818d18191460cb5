//go:build race

package store_test

// raceEnabled: allocation counts under the race detector are not the program's.
const raceEnabled = true
