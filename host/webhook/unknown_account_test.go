package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/webhook"
	"github.com/poolhost/poolhost/sdk"
)

// recordingHandle passes every call to the real plugin and records what it was asked.
type recordingHandle struct {
	webhook.Handle
	mu    sync.Mutex
	calls []sdk.WebhookRequest
}

func (h *recordingHandle) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	h.mu.Lock()
	h.calls = append(h.calls, req)
	h.mu.Unlock()
	return h.Handle.IngestWebhook(ctx, req)
}

func (h *recordingHandle) last(t *testing.T, n int) sdk.WebhookRequest {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) != n {
		t.Fatalf("the plugin was asked to verify %d deliveries, want %d", len(h.calls), n)
	}
	return h.calls[n-1]
}

// The account-id side channel: an account-scoped delivery to an existing account cost a
// decryption and the plugin's verification, one to an unknown id neither, so the public
// URL told by timing (1.17 ms against 0.70 ms) which account ids exist. Now an unknown id
// goes through the same verification, by the real plugin, against a decoy secret — and
// is rejected with the same answer as a bad signature. Proven by what is done, not by a
// stopwatch (the store's decoy decryption: TestAccountWithCredentialsMissDecryptsLikeAHit).
func TestUnknownAccountIsVerifiedLikeAKnownOne(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			var rec *recordingHandle
			e := newEnv(t, eng, func(d *webhook.Deps, _ *ingest.Service) {
				mgr := d.Plugins
				d.Handles = func(id string) (webhook.Handle, error) {
					p, err := mgr.Get(id)
					if err != nil {
						return nil, err
					}
					if id != "generic" {
						return p, nil
					}
					if rec == nil {
						rec = &recordingHandle{Handle: p}
					}
					return rec, nil
				}
			})
			body := genericBody("probe", `{"metric": "ph", "value": 7.1}`)
			wrongSecret := "whsec_d3Jvbmctc2VjcmV0LW5vYm9keS1ob2xkcy0xMjM0NTY="

			known := e.signed(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID), wrongSecret, "msg_k", body)
			knownReq := rec.last(t, 1)
			unknown := e.signed(t, "/v1/webhooks/generic/accounts/987654", wrongSecret, "msg_u", body)
			unknownReq := rec.last(t, 2)

			if known.status != http.StatusUnauthorized || unknown.status != http.StatusUnauthorized {
				t.Fatalf("known account %d, unknown %d; want 401 both", known.status, unknown.status)
			}
			for _, r := range []reply{known, unknown} {
				delete(r.body, "request_id")
				delete(r.body, "instance")
			}
			if !reflect.DeepEqual(known.body, unknown.body) {
				t.Fatalf("known account answers %v, unknown %v; want the same", known.body, unknown.body)
			}
			// The same verification: an account-scoped request with a secret of the same
			// form (Standard Webhooks'), the delivery's own body.
			if unknownReq.Account == nil || unknownReq.Account.ID != "987654" || !strings.HasPrefix(unknownReq.AccountSecret, "whsec_") ||
				!strings.HasPrefix(knownReq.AccountSecret, "whsec_") || unknownReq.AccountSecret == knownReq.AccountSecret ||
				string(unknownReq.Body) != string(body) {
				t.Fatalf("unknown account verified with account %+v; want account 987654 and a decoy whsec_ secret", unknownReq.Account)
			}
			// Operators still tell them apart.
			if rejections(t, e.reg, "generic", "bad_signature") != 1 || rejections(t, e.reg, "generic", "unknown_account") != 1 {
				t.Fatalf("rejections: bad_signature %v, unknown_account %v; want 1 each",
					rejections(t, e.reg, "generic", "bad_signature"), rejections(t, e.reg, "generic", "unknown_account"))
			}

			// Signed with the decoy itself (were it leaked), an unknown id is still
			// rejected and nothing is stored.
			before := ingesttest.CountReadings(t, e.s)
			r := e.signed(t, "/v1/webhooks/generic/accounts/987654", unknownReq.AccountSecret, "msg_d", body)
			if r.status != http.StatusUnauthorized || ingesttest.CountReadings(t, e.s) != before || len(failures(t, e.s, "")) != 0 {
				t.Fatalf("signed with the decoy: %d %v, want 401 and nothing stored", r.status, r.body)
			}
		})
	}
}
