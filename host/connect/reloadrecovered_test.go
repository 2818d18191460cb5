package connect_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
)

// statesPlugins reports the states it is set to.
type statesPlugins struct {
	mu     sync.Mutex
	states map[string]connect.PluginState
}

func (p *statesPlugins) Adapter(string) (connect.Adapter, error) {
	return nil, connect.ErrPluginNotFound
}
func (p *statesPlugins) States() map[string]connect.PluginState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states
}
func (p *statesPlugins) set(states map[string]connect.PluginState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states = states
}

// TestReloadNamesRecoveredPlugins: a plugin that kept crashing is failed until a
// reload, which restarts it even though its block did not change. The answer said
// "changed": [] and poolhost reload printed "reloaded: nothing changed", so the reload
// the README prescribes read as one that did nothing. It now names the providers that
// were failed and run again (recovered, also in the audit row); one still failed, or one
// running before, is not named.
func TestReloadNamesRecoveredPlugins(t *testing.T) {
	ctx := context.Background()
	s := ingesttest.Engines[0].Open(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "creds.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(`
database_url    = "sqlite:unused.db"
credentials_key = file("creds.key")
provider "ttn" {}
provider "iopool" {}
provider "generic" {}
`))
	if err != nil {
		t.Fatal(err)
	}
	plugins := &statesPlugins{states: map[string]connect.PluginState{
		"ttn": {State: "failed"}, "iopool": {State: "failed"}, "generic": {State: "running"},
	}}
	rec := audit.NewRecorder(audit.StoreWriter(s), nil)
	svc := connect.New(connect.Deps{Store: s, Plugins: plugins, Audit: rec,
		Config: func() *config.Config { return cfg },
		Reload: func(context.Context) (connect.ReloadReport, error) {
			// The manager restarts both failed plugins; iopool fails again.
			plugins.set(map[string]connect.PluginState{
				"ttn": {State: "running", Restarts: 5}, "iopool": {State: "failed"}, "generic": {State: "running"},
			})
			return connect.ReloadReport{}, nil
		}})
	rep, err := svc.Reload(ctx, auth.System("signal"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Recovered, []string{"ttn"}) || len(rep.Changed) != 0 {
		t.Errorf("reload report: recovered %q, changed %q; want ttn recovered, nothing changed", rep.Recovered, rep.Changed)
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{Action: audit.ProviderReloaded})
	if err != nil || len(evs) != 1 {
		t.Fatalf("reload audit: %+v %v", evs, err)
	}
	if got, _ := evs[0].Details["recovered"].([]any); len(got) != 1 || got[0] != "ttn" {
		t.Errorf("audit details: %+v", evs[0].Details)
	}

	// Nothing failed before: recovered is empty, not null.
	rep, err = svc.Reload(ctx, auth.System("signal"))
	if err != nil || rep.Recovered == nil || len(rep.Recovered) != 0 {
		t.Errorf("second reload: %+v %v", rep.Recovered, err)
	}
}
