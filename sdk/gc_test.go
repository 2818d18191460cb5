package sdk

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCLeavesAnOperatorsGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	tuneGC()
	if got := debug.SetGCPercent(100); got != pluginGCPercent {
		t.Fatalf("GOGC unset: GC percent %d, want %d", got, pluginGCPercent)
	}

	t.Setenv("GOGC", "150") // the runtime read it at start; tuneGC must not override it
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: GC percent changed to %d", got)
	}
}
