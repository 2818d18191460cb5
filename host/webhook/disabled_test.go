package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// rolloutConfig is a config with the generic provider in the given state; an operator
// edits this block and reloads.
func rolloutConfig(t *testing.T, dir string, enabled, webhooks bool) *config.Config {
	t.Helper()
	for name, v := range map[string]string{
		"generic.secret": ingesttest.GenericSecret,
		"creds.key":      "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := fmt.Sprintf(`
database_url    = "sqlite:unused.db"
plugin_dir      = %q
credentials_key = file("creds.key")
provider "generic" {
  enabled  = %t
  webhooks = %t
  secrets  = { webhook_secret = file("generic.secret") }
}
`, pluginDir, enabled, webhooks)
	cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(src))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

// TestDisabledProviderWebhooks: a disabled provider (or one without webhooks) answers
// 404 provider-not-found on both webhook routes with nothing stored, its data stays, and
// enabling it again through a reload makes it accept deliveries again.
func TestDisabledProviderWebhooks(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "rollout@example.com", map[string]string{"webhook_secret": accountSecret}, []string{"probe"}, nil)
			dir := t.TempDir()
			log := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
			mgr := ingesttest.StartManager(t, rolloutConfig(t, dir, true, true), log)
			reg := prometheus.NewRegistry()
			e := &env{s: s, srv: serve(t, s, mgr, log, reg, log, nil).Server, reg: reg}

			reload := func(enabled, webhooks bool) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				if err := mgr.Reload(ctx, rolloutConfig(t, dir, enabled, webhooks)); err != nil {
					t.Fatalf("reload: %v", err)
				}
			}
			accountPath := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", w.Account.ID)
			n := 0
			deliver := func(path, secret string) reply {
				t.Helper()
				n++
				at := time.Now().UTC().Add(-time.Duration(n) * time.Second).Format(time.RFC3339Nano)
				return e.signed(t, path, secret, fmt.Sprintf("msg_%d", n),
					genericBody("probe", fmt.Sprintf(`{"metric": "ph", "value": 7.2, "recorded_at": %q}`, at)))
			}
			routes := []struct{ name, path, secret string }{
				{"provider-level", "/v1/webhooks/generic", ingesttest.GenericSecret},
				{"account-scoped", accountPath, accountSecret},
			}
			accepted := func() {
				t.Helper()
				for _, rt := range routes {
					if r := deliver(rt.path, rt.secret); r.status != http.StatusOK || num(r.body["accepted"]) != 1 {
						t.Fatalf("%s: got %d %v, want 200 with 1 accepted", rt.name, r.status, r.body)
					}
				}
			}
			refused := func(state string) {
				t.Helper()
				readings := ingesttest.CountReadings(t, s)
				received := len(ingesttest.Audit(t, s, webhook.ActionReceived))
				for _, rt := range routes {
					r := deliver(rt.path, rt.secret)
					if r.status != http.StatusNotFound || !strings.HasSuffix(fmt.Sprint(r.body["type"]), "/provider-not-found") {
						t.Fatalf("%s while %s: got %d %v, want a 404 provider-not-found problem", rt.name, state, r.status, r.body)
					}
					// It says what an operator looking at the sender's failed deliveries
					// should check (it said only "provider not found"), the same words
					// for an id that never existed.
					if d := fmt.Sprint(r.body["detail"]); d != "provider not found: unknown, disabled by the operator, or not taking webhooks" {
						t.Errorf("%s while %s: detail %q", rt.name, state, d)
					}
					// Nor a bad signature: the provider does not exist for the sender.
					if r := e.post(t, rt.path, nil, []byte(`{}`)); r.status != http.StatusNotFound {
						t.Fatalf("%s unsigned while %s: got %d, want 404", rt.name, state, r.status)
					}
				}
				if got := ingesttest.CountReadings(t, s); got != readings {
					t.Fatalf("readings %d -> %d while %s", readings, got, state)
				}
				if fs := failures(t, s, ""); len(fs) != 0 {
					t.Fatalf("failures stored while %s: %+v", state, fs)
				}
				if got := len(ingesttest.Audit(t, s, webhook.ActionReceived)); got != received {
					t.Fatalf("webhook.received rows %d -> %d while %s", received, got, state)
				}
				if got := ingesttest.Audit(t, s, webhook.ActionRejected); len(got) != 0 {
					t.Fatalf("webhook.rejected audited while %s: %+v", state, got)
				}
			}

			accepted()
			stored := ingesttest.CountReadings(t, s)

			reload(false, true)
			refused("disabled")
			if got := ingesttest.CountReadings(t, s); got != stored {
				t.Fatalf("disabling lost readings: %d -> %d", stored, got)
			}

			reload(true, true)
			accepted()
			if got := ingesttest.CountReadings(t, s); got != stored+len(routes) {
				t.Fatalf("readings after re-enabling = %d, want %d", got, stored+len(routes))
			}

			// Enabled but not taking webhooks: the same answer.
			reload(true, false)
			refused("without webhooks")
			reload(true, true)
			accepted()

			// Every refusal was counted, none under the provider's label.
			if got := counter(t, reg, "unknown", webhook.OutcomeNotFound); got != 2*float64(len(routes)) {
				t.Errorf("not_found deliveries of a disabled provider = %v, want %d", got, 2*len(routes))
			}
			if got := counter(t, reg, "generic", webhook.OutcomeNotFound); got != 2*float64(len(routes)) {
				t.Errorf("not_found deliveries of a provider without webhooks = %v, want %d", got, 2*len(routes))
			}
			if got, err := s.ListFailures(context.Background(), store.FailureFilter{}); err != nil || len(got) != 0 {
				t.Fatalf("failures: %+v %v", got, err)
			}
		})
	}
}
