//go:build !race

package grpcplugin_test

const raceEnabled = false
