package sdktest_test

import (
	"io"
	"os"
	"testing"

	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestServeNeverReturns: sdk.Serve never returns, as its doc and PLUGINS.md say ("A
// provider binary's main hands its adapter to Serve, which never returns"): once the
// host stops the plugin, the process exits, and no code after Serve in main runs.
// go-plugin's own Serve returns when the host stops the plugin, so a main with code
// after sdk.Serve (a log.Fatal, a second Serve, cleanup assuming a crash) ran it on every
// stop: a second Serve kept the process alive until the host killed it.
func TestServeNeverReturns(t *testing.T) {
	bin := sdktest.BuildBinary(t, "./testdata/afterserve")
	c, stop, err := sdktest.Launch(bin, io.Discard)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	if d, err := c.Describe(t.Context()); err != nil || d.ID != "afterserve" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	stop() // the host's shutdown: GRPCController.Shutdown, then waits for the exit
	if b, err := os.ReadFile(bin + ".returned"); err == nil {
		t.Fatalf("code after sdk.Serve ran once the host stopped the plugin: %s", b)
	}
}
