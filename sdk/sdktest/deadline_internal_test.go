package sdktest

import (
	"strings"
	"testing"
	"time"
)

// TestDeadlineIsTheHosts: unless a test sets CallDeadline, each call gets the deadline
// the host gives that method by default (judge.DefaultDeadlines, which the host's config
// defaults to), so the kit neither fails a poll the host would wait for nor passes a
// webhook the host would give up on. It was 5s for every call: a 10-second poll failed
// here and passed in the host.
func TestDeadlineIsTheHosts(t *testing.T) {
	if CallDeadline != 0 {
		t.Fatalf("CallDeadline defaults to %s; want 0, the host's per-method deadlines", CallDeadline)
	}
	for method, want := range map[string]time.Duration{"describe": 5 * time.Second, "ingest_webhook": 7 * time.Second,
		"webhook": 5 * time.Second, "poll": 30 * time.Second, "discover": 30 * time.Second, "send_command": 15 * time.Second} {
		got, source := deadline(method)
		if got != want || !strings.Contains(source, "the host's default") {
			t.Errorf("%s: %s (%s), want %s, the host's default", method, got, source, want)
		}
	}
	CallDeadline = time.Second
	defer func() { CallDeadline = 0 }()
	if got, source := deadline("poll"); got != time.Second || source != "the kit's CallDeadline" {
		t.Errorf("with CallDeadline set: %s (%s)", got, source)
	}
}
