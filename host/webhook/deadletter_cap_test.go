package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// deadLetters counts an account's dead letters and their payload bytes.
func deadLetters(t *testing.T, s *store.Store, accountID int64) (int, int64) {
	t.Helper()
	u, err := s.DeadLetterUsage(context.Background(), "generic", accountID)
	if err != nil {
		t.Fatal(err)
	}
	return u.Count, u.Bytes
}

// Any user could fill the disk: 40 correctly signed megabyte deliveries of non-JSON to
// one's own account URL were 40 dead letters. Now an account's dead letters stay within
// ingest.max_dead_letters_per_account and max_dead_letter_bytes_per_account; past them a
// delivery is answered 202 "discarded" (final for providers), counted, and audited once
// per interval — and another account's deliveries go on as before.
func TestDeadLettersStayWithinTheAccountCap(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			e.svc.SetDeadLetterCap(webhook.DeadLetterCap{Count: 5, Bytes: 200 << 10})
			other := ingesttest.Seed(t, e.s, "generic", "bystander@example.com", map[string]string{"webhook_secret": accountSecret}, []string{"bystander-probe"}, nil)
			mineURL := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID)
			otherURL := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", other.Account.ID)
			junk := func(i, n int) []byte { // not JSON: the plugin can never parse it
				return append([]byte(fmt.Sprintf("junk %d ", i)), bytes.Repeat([]byte("x"), n)...)
			}

			// 40 deliveries of 60 KB: the byte cap (200 KiB) holds at 3.
			statuses := map[string]int{}
			for i := range 40 {
				r := e.signed(t, mineURL, accountSecret, fmt.Sprintf("msg_junk_%d", i), junk(i, 60_000))
				if r.status != http.StatusAccepted {
					t.Fatalf("delivery %d: %d %v, want 202", i, r.status, r.body)
				}
				statuses[fmt.Sprint(r.body["status"])]++
			}
			if statuses["dead"] != 3 || statuses["discarded"] != 37 {
				t.Fatalf("answers %v, want 3 dead and 37 discarded", statuses)
			}
			if n, b := deadLetters(t, e.s, e.mine.Account.ID); n != 3 || b > 200<<10 {
				t.Fatalf("%d dead letters of %d bytes kept, want 3 within 200 KiB", n, b)
			}

			// Another account is unaffected: its readings are stored, its own dead letters
			// kept, up to its own cap (the count, 5, for small ones).
			at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
			r := e.signed(t, otherURL, accountSecret, "msg_other_ok", genericBody("bystander-probe", fmt.Sprintf(`{"metric": "ph", "value": 7.2, "recorded_at": %q}`, at)))
			if r.status != http.StatusOK || num(r.body["accepted"]) != 1 {
				t.Fatalf("the other account's reading: %d %v, want 200 with 1 accepted", r.status, r.body)
			}
			for i := range 40 {
				r := e.signed(t, otherURL, accountSecret, fmt.Sprintf("msg_other_junk_%d", i), junk(i, 100))
				want := "dead"
				if i >= 5 {
					want = "discarded"
				}
				if r.status != http.StatusAccepted || r.body["status"] != want {
					t.Fatalf("other account's delivery %d: %d %v, want 202 %s", i, r.status, r.body, want)
				}
			}
			if n, _ := deadLetters(t, e.s, other.Account.ID); n != 5 {
				t.Fatalf("the other account kept %d dead letters, want 5", n)
			}

			// Audited once per account within the interval; every discard counted.
			evs := ingesttest.Audit(t, e.s, webhook.ActionDeadLetterDiscarded)
			if len(evs) != 2 {
				t.Fatalf("%d %s rows, want one per account", len(evs), webhook.ActionDeadLetterDiscarded)
			}
			if got := counter(t, e.reg, "generic", webhook.OutcomeDiscarded); got != 37+35 {
				t.Fatalf("discarded deliveries counted %v, want %d", got, 37+35)
			}
		})
	}
}
