//go:build race

package signature_test

// raceEnabled: sync.Pool drops items at random under the race detector, so allocation
// counts that rely on a pool are not meaningful there.
const raceEnabled = true
