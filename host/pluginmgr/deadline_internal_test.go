package pluginmgr

import (
	"context"
	"testing"
	"time"
)

// timerLate is a context whose deadline has passed while its timer has not fired yet,
// as a loaded machine leaves one for a moment.
type timerLate struct{ context.Context }

func (timerLate) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }
func (timerLate) Err() error                  { return nil }

// TestDeadlinePassedBeforeTheTimer: a plugin's answer that its copy of the deadline
// ended can arrive before the host's timer runs; the error must still name the clock
// (TestConfigureTimeoutNamesTheSetting failed so on a loaded CI box).
func TestDeadlinePassedBeforeTheTimer(t *testing.T) {
	if !deadlinePassed(timerLate{context.Background()}) {
		t.Error("a passed deadline whose timer has not fired: not passed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if deadlinePassed(ctx) {
		t.Error("an hour left: passed")
	}
	cancel()
	if deadlinePassed(ctx) {
		t.Error("cancelled, not timed out: passed")
	}
	if deadlinePassed(context.Background()) {
		t.Error("no deadline: passed")
	}
}
