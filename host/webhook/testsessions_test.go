package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/webhook"
)

// TestTestSessionsOldAndNewPlugin: the generic plugin as built before test sessions
// existed (ingesttest.PreTestSessionsCommit) still serves the current host — the same
// payload's readings are stored and its test_sessions, which it cannot parse, are simply
// not there — while today's plugin hands the sessions over and the host stores them as
// test sessions of the device's pool, never as readings, once however often delivered.
func TestTestSessionsOldAndNewPlugin(t *testing.T) {
	oldDir := t.TempDir()
	if err := ingesttest.BuildGenericAt(ingesttest.PreTestSessionsCommit, oldDir); err != nil {
		// A shallow clone or a source tarball has no old commit to build. That is how
		// the source was fetched, not a defect of this tree, so even CI skips (loudly)
		// rather than fails; a full clone runs the test.
		if errors.Is(err, ingesttest.ErrNoHistory) {
			t.Skipf("old plugin cannot be built here (clone with history to run this test): %v", err)
		}
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(pluginDir, config.BinaryPrefix+"faulty"), filepath.Join(oldDir, config.BinaryPrefix+"faulty"))

	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	body := []byte(fmt.Sprintf(`{"device_id": "probe",
		"readings": [{"metric": "ph", "value": 7.3}],
		"test_sessions": [{"taken_at": %q, "method": "photometer", "notes": "monthly",
			"results": [{"metric": "free_chlorine", "value": 2, "unit": "mg/L"}, {"metric": "cyanuric_acid", "value": 35},
			            {"metric": "turbidity", "value": 1}]}]}`, at.Format(time.RFC3339)))
	sessions := func(t *testing.T, e *env) int {
		t.Helper()
		var n int
		if err := e.s.DB().Get(&n, `SELECT COUNT(*) FROM test_sessions`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name+"/old plugin", func(t *testing.T) {
			e := newEnvIn(t, eng, oldDir, nil)
			r := e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_old", body)
			if r.status != http.StatusOK || num(r.body["accepted"]) != 1 || r.body["testSessions"] != nil {
				t.Fatalf("old plugin: %d %v, want 200 with the reading and no test sessions", r.status, r.body)
			}
			if n := sessions(t, e); n != 0 {
				t.Fatalf("%d test sessions from a plugin that cannot report them", n)
			}
		})
		t.Run(eng.Name+"/new plugin", func(t *testing.T) {
			e := newEnv(t, eng, nil)
			for i, want := range []struct{ accepted, duplicates int }{{1, 0}, {0, 1}} {
				// The second delivery is the provider resending it under a new id.
				r := e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, fmt.Sprintf("msg_new_%d", i), body)
				ts, _ := r.body["testSessions"].(map[string]any)
				rd, _ := ts["resultsDropped"].(map[string]any)
				if r.status != http.StatusOK || num(ts["accepted"]) != want.accepted || num(ts["duplicates"]) != want.duplicates ||
					num(rd["unknown_metric"]) != 1 {
					t.Fatalf("delivery %d: %d %v, want sessions %+v and turbidity dropped", i, r.status, r.body, want)
				}
			}
			// A replay of the first delivery (same id, same bytes) answers what storing it
			// again would: its session is a duplicate, and the key is there.
			r := e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_new_0", body)
			ts, _ := r.body["testSessions"].(map[string]any)
			rd, _ := ts["resultsDropped"].(map[string]any)
			if r.status != http.StatusOK || num(ts["accepted"]) != 0 || num(ts["duplicates"]) != 1 || num(rd["unknown_metric"]) != 1 ||
				num(r.body["duplicates"]) != 1 {
				t.Fatalf("replay: %d %v, want the session as a duplicate", r.status, r.body)
			}
			if n := sessions(t, e); n != 1 {
				t.Fatalf("%d test sessions, want 1", n)
			}
			got, _, err := e.s.ListTestSessions(context.Background(), e.mine.Pool.ID, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			s := got[0]
			if len(got) != 1 || !s.TakenAt.Equal(at) || s.Method != "photometer" || s.Notes != "monthly" || s.Provider != "generic" ||
				s.DeviceID == nil || *s.DeviceID != e.mine.Devices["probe"].ID || len(s.Results) != 2 ||
				s.Results[0].Metric != "cyanuric_acid" || s.Results[1].Metric != "free_chlorine" || s.Results[1].Unit != "ppm" {
				t.Fatalf("stored sessions %+v", got)
			}
			// The ph reading went to sensor_readings twice (two receipts, no time of its
			// own); no result of the session did.
			var n int
			if err := e.s.DB().Get(&n, `SELECT COUNT(*) FROM sensor_readings WHERE metric <> 'ph'`); err != nil || n != 0 {
				t.Fatalf("%d session results in sensor_readings (%v)", n, err)
			}
			audits := ingesttest.Audit(t, e.s, webhook.ActionReceived)
			if len(audits) != 2 || audits[0].Details["test_sessions_result"] == nil {
				t.Fatalf("webhook.received audit: %+v", audits)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
