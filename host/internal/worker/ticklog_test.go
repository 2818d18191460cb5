package worker_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/internal/worker"
)

// TestTickLogFoldsADatabaseOutage: ticks failing because the database is unreachable
// are one outage in the log, not an ERROR each (the command dispatcher ticks every
// second); a tick failing for another reason is logged whole every time.
func TestTickLogFoldsADatabaseOutage(t *testing.T) {
	var b bytes.Buffer
	l := worker.NewTickLog(hclog.New(&hclog.LoggerOptions{Output: &b, Level: hclog.Info}), "command tick failed")
	down := fmt.Errorf("expire commands: dial tcp 127.0.0.1:5432: %w", syscall.ECONNREFUSED)
	for range 10 {
		l.Fail(down)
	}
	out := b.String()
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, "command tick failed, the database unreachable: outage started") || !strings.Contains(out, "connection refused") {
		t.Fatalf("10 ticks failing on an unreachable database logged %d lines, want the outage's start with the error:\n%s", n, out)
	}
	b.Reset()
	other := errors.New("list due polls: invalid cursor")
	l.Fail(other)
	l.Fail(other)
	if n := strings.Count(b.String(), "[ERROR] command tick failed: error=\"list due polls: invalid cursor\""); n != 2 {
		t.Fatalf("two ticks failing otherwise logged %d such lines, want 2:\n%s", n, b.String())
	}
}
