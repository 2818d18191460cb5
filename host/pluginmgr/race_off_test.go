//go:build !race

package pluginmgr_test

const raceEnabled = false
