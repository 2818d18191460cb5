package outage

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestOutageLines: 3000 failures in three intervals write one start line, one line per
// interval with the count, and one end line naming start, end and total — not 3000.
func TestOutageLines(t *testing.T) {
	var out syncBuf
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info})
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	// The clock that counts intervals is fake; the end-of-outage timer is real, and
	// short, so the test waits for it without fixed sleeps.
	l := newLog(log, "database unreachable", 50*time.Millisecond, clock)
	defer l.Close()
	start := now
	err := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	for i := range 3000 {
		if i%1000 == 0 && i > 0 {
			mu.Lock()
			now = now.Add(60 * time.Millisecond) // the next interval
			mu.Unlock()
		}
		l.Fail(err, "request_id", "r1")
	}
	end := clock()
	mu.Lock()
	now = now.Add(time.Second) // quiet since: the timer's check sees it
	mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "outage over") {
		if time.Now().After(deadline) {
			t.Fatalf("no end line:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines for 3000 failures in three intervals, want 4 (start, 2 counts, end):\n%s", len(lines), out.String())
	}
	for i, want := range []string{
		"outage started; further failures are counted and reported every 50ms: request_id=r1 since=" + start.Format(time.RFC3339Nano),
		"outage goes on: since=" + start.Format(time.RFC3339Nano) + " failed_in_interval=1000 failed_total=1001",
		"failed_in_interval=1000 failed_total=2001",
		"outage over, no failure for 50ms: started=" + start.Format(time.RFC3339Nano) + " ended=" + end.Format(time.RFC3339Nano) + " duration=120ms failed_total=3000",
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to contain %s", i, lines[i], want)
		}
	}
	// A new failure after the end starts a new outage.
	l.Fail(err)
	if got := strings.Count(out.String(), "outage started"); got != 2 {
		t.Errorf("%d start lines after a failure past the end, want 2", got)
	}
}
