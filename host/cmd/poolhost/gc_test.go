package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
)

// TestServeAppliesTheHostsGCDefaults runs `poolhost serve` (runServe, in this process)
// with neither GOGC nor GOMEMLIMIT set, and reads the result where an operator would:
// /metrics reports a percent above Go's 100 (host.GC's, lowered only for a live heap
// this test does not hold) and no memory limit. The runtime read this test
// process's own environment at start, so the test first puts Go's defaults back.
func TestServeAppliesTheHostsGCDefaults(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")

	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	addr := freeAddr(t)
	path := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, path, `
database_url    = "sqlite:`+filepath.Join(dir, "poolhost.db")+`"
listen          = "`+addr+`"
credentials_key = file("key")
http { drain_grace = "10ms" }
`)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runServe(ctx, path, &logs) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})

	var body []byte
	for deadline := time.Now().Add(e2eWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var status int
		var err error
		if status, body, err = tryGet("http://"+addr+"/metrics", ""); err == nil && status == http.StatusOK {
			break
		}
	}
	m := regexp.MustCompile(`\ngo_gc_gogc_percent (\d+)\n`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no go_gc_gogc_percent")
	}
	if p, _ := strconv.Atoi(string(m[1])); p <= 100 || p > host.GC.Percent {
		t.Errorf("go_gc_gogc_percent %d, want above Go's 100, at most host.GC's %d", p, host.GC.Percent)
	}
	if want := fmt.Sprintf("\ngo_gc_gomemlimit_bytes %g\n", float64(math.MaxInt64)); !strings.Contains(string(body), want) {
		t.Errorf("/metrics has no %q: the host set a memory limit", strings.TrimSpace(want))
	}
}
