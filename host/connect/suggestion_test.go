package connect_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOndiloPoolSuggestion: discovery through the real Ondilo plugin binary, against a
// fake of Ondilo's API whose /pools says 15 m³, outdoor in-ground, chlorine. The device
// carries that as a suggestion; the pool's configuration stays as the user set it and
// no reading is stored, until an editor accepts the suggestion, which configures the
// pool exactly as PATCH would. A viewer may not accept it, and a device of another pool
// is not found.
func TestOndiloPoolSuggestion(t *testing.T) {
	bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/plugins/ondilo/cmd/poolhost-provider-ondilo")
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s := eng.Open(t)
			fake := ondilotest.NewServer(t)
			access, refresh := fake.IssueTokens()
			w := ingesttest.Seed(t, s, "ondilo", "ico@example.com", map[string]string{"access_token": access, "refresh_token": refresh}, nil, nil)
			other := ingesttest.Seed(t, s, "generic", "other@example.com", nil, []string{"theirs"}, nil)
			viewer, err := s.CreateUser(ctx, "viewer@example.com", false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetPoolMember(ctx, w.Pool.ID, viewer.ID, store.RoleViewer); err != nil {
				t.Fatal(err)
			}

			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "creds.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(fmt.Sprintf(`
database_url    = "sqlite:unused.db"
credentials_key = file("creds.key")
plugin_dir      = %q
provider "ondilo" {
  binary   = %q
  poll     = true
  settings = { base_url = %q }
}
`, filepath.Dir(bin), bin, fake.URL)))
			if err != nil {
				t.Fatal(err)
			}
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			rec := audit.NewRecorder(audit.StoreWriter(s), nil)
			poolSvc := pools.New(s, rec)
			svc := connect.New(connect.Deps{Store: s, Plugins: connect.FromManager(mgr), Pools: poolSvc, Audit: rec,
				Config: func() *config.Config { return cfg }})
			owner := auth.Actor{UserID: w.User.ID}

			// The user had set the volume already; discovery must not touch it.
			if _, err := poolSvc.UpdateConfig(ctx, owner, w.Pool.ID, pools.Patch{"volumeLiters": []byte("42000")}); err != nil {
				t.Fatal(err)
			}
			devices, err := svc.Discover(ctx, owner, w.Account.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := store.PoolSuggestion{VolumeLiters: 15000, Kind: "pool", Location: "outdoor", Sanitizer: "chlorine"}
			if len(devices) != 1 || devices[0].Suggestion == nil || *devices[0].Suggestion != want {
				t.Fatalf("discovered %+v, want one device suggesting %+v", devices, want)
			}
			dev := devices[0]
			if page, err := svc.Devices(ctx, owner, w.Account.ID, nil, 0); err != nil || len(page.Devices) != 1 || page.Devices[0].Suggestion == nil || *page.Devices[0].Suggestion != want {
				t.Fatalf("listed %+v (%v): the suggestion was not stored", page.Devices, err)
			}
			if _, err := svc.Link(ctx, owner, dev.ID, w.Pool.ID); err != nil {
				t.Fatal(err)
			}
			config := func() store.PoolConfig {
				t.Helper()
				p, err := s.GetPool(ctx, w.Pool.ID)
				if err != nil {
					t.Fatal(err)
				}
				return p.PoolConfig
			}
			if c := config(); c.VolumeLiters == nil || *c.VolumeLiters != 42000 || c.Kind != "" || c.Location != "" || c.Sanitizer != "" {
				t.Fatalf("pool configured before anyone accepted: %+v", c)
			}

			viewerActor := auth.Actor{UserID: viewer.ID}
			if _, err := poolSvc.AcceptSuggestion(ctx, viewerActor, w.Pool.ID, dev.ID); host.ErrorCode(err) != host.EFORBIDDEN {
				t.Fatalf("viewer accepting: %v, want forbidden", err)
			}
			if _, err := poolSvc.AcceptSuggestion(ctx, owner, w.Pool.ID, other.Devices["theirs"].ID); host.ErrorCode(err) != host.ENOTFOUND {
				t.Fatalf("accepting another pool's device: %v, want not found", err)
			}
			if _, err := poolSvc.AcceptSuggestion(ctx, auth.Actor{UserID: other.User.ID}, w.Pool.ID, dev.ID); host.ErrorCode(err) != host.ENOTFOUND {
				t.Fatalf("a stranger accepting: %v, want not found", err)
			}
			if c := config(); c.VolumeLiters == nil || *c.VolumeLiters != 42000 || c.Kind != "" {
				t.Fatalf("refused accepts changed the pool: %+v", c)
			}

			p, err := poolSvc.AcceptSuggestion(ctx, owner, w.Pool.ID, dev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c := config(); c.VolumeLiters == nil || *c.VolumeLiters != 15000 || c.Kind != "pool" || c.Location != "outdoor" || c.Sanitizer != "chlorine" {
				t.Fatalf("after accepting: %+v (answer %+v)", c, p)
			}
			if n := ingesttest.CountReadings(t, s); n != 0 {
				t.Fatalf("%d sensor readings: configuration leaked into measurements", n)
			}
			events := ingesttest.Audit(t, s, audit.PoolConfigured)
			if len(events) != 2 {
				t.Fatalf("%d pool.configured audit events, want the PATCH and the accept", len(events))
			}
		})
	}
}
