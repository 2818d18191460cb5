package webhook_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// The same signed delivery sent 50 times within its signature window — a provider
// retrying, or someone replaying a captured request — is answered as the first every
// time and adds no rows: one webhook.received row for a stored delivery, one dead letter
// for a payload that cannot be parsed.
func TestReplaysAddNoRows(t *testing.T) {
	const copies = 50
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			path := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID)
			body := genericBody("probe", fmt.Sprintf(`{"metric": "ph", "value": 7.2, "recorded_at": %q}`,
				time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)))
			stored := ingesttest.Sign(t, accountSecret, "msg_replayed", time.Now(), body)

			dead := []byte(`{"device_id": "probe", "fail": "permanent"}`)
			deadHeaders := ingesttest.Sign(t, ingesttest.FaultySecret, "msg_dead", time.Now(), dead)

			for i := 0; i < copies; i++ {
				// The first copy stores its reading; the others hear it is a duplicate.
				r := e.post(t, path, stored, body)
				first := i == 0
				if r.status != http.StatusOK || (num(r.body["accepted"]) == 1) != first || (num(r.body["duplicates"]) == 1) == first {
					t.Fatalf("copy %d: %d %v", i, r.status, r.body)
				}
				if r := e.post(t, "/v1/webhooks/faulty", deadHeaders, dead); r.status != http.StatusAccepted {
					t.Fatalf("dead copy %d: %d %v, want 202", i, r.status, r.body)
				}
			}
			if evs := ingesttest.Audit(t, e.s, webhook.ActionReceived); len(evs) != 1 {
				t.Errorf("%d %s rows, want 1", len(evs), webhook.ActionReceived)
			}
			if fs := failures(t, e.s, store.FailureDead); len(fs) != 1 {
				t.Errorf("%d dead letters, want 1", len(fs))
			}
			if n := ingesttest.CountReadings(t, e.s); n != 1 {
				t.Errorf("%d readings, want 1", n)
			}
			if n := replays(t, e, "generic"); n != copies-1 {
				t.Errorf("replays metric for generic = %v, want %d", n, copies-1)
			}
		})
	}
}

func replays(t *testing.T, e *env, provider string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_webhook_replays_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" && l.GetValue() == provider {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// An account-scoped URL answers an unknown account exactly as it answers a known one
// with a bad signature, so it cannot be used without a secret to learn which account
// ids exist.
func TestUnknownAccountsAnswerLikeBadSignatures(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			body := genericBody("probe", `{"metric": "ph", "value": 7.2}`)
			wrong := "whsec_d3Jvbmctc2VjcmV0LWZvci1lbnVtZXJhdGlvbi0x"
			var answers []reply
			for _, id := range []int64{e.mine.Account.ID, 987654, e.faulty.Account.ID} {
				answers = append(answers, e.signed(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", id), wrong, "msg_enum", body))
			}
			for i, r := range answers {
				delete(r.body, "request_id")
				delete(r.body, "instance")
				if r.status != http.StatusUnauthorized || fmt.Sprint(r.body) != fmt.Sprint(answers[0].body) {
					t.Errorf("answer %d: %d %v, want the known account's 401 %v", i, r.status, r.body, answers[0].body)
				}
			}
			// The sender cannot tell them apart; the operator can.
			if bad, unknown := rejections(t, e.reg, "generic", "bad_signature"), rejections(t, e.reg, "generic", "unknown_account"); bad != 1 || unknown != 2 {
				t.Errorf("rejections: bad_signature %v, unknown_account %v; want 1 and 2", bad, unknown)
			}
		})
	}
}
