package ingesttest

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

// Main builds the test plugins once per test binary into a temp dir, stores the dir in
// *pluginDir and runs the tests through pgtest.Main. Call it from TestMain:
//
//	var pluginDir string
//	func TestMain(m *testing.M) { ingesttest.Main(m, &pluginDir) }
func Main(m *testing.M, pluginDir *string) {
	dir, err := os.MkdirTemp("", "ingesttest-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*pluginDir = dir
	if err := BuildPlugins(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	pgtest.Main(m, func() { os.RemoveAll(dir) })
}

// Clock is a fake clock shared by a store (store.WithClock(c.Now)) and a worker, so a
// test moves time for both at once.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at the current time, in UTC and truncated to the second as the
// stores keep it.
func NewClock() *Clock { return &Clock{t: time.Now().UTC().Truncate(time.Second)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
