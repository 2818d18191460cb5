//go:build !race

package generic_test

const raceEnabled = false
