package connect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestOndiloAccountWithoutPool, through the real Ondilo plugin binary: an Ondilo user
// with no pool yet connects (the plugin names the account after its user, from
// /user/info); later a pool with an ICO appears, and discovery and polls find it under
// the same account, whose id has not changed; a reconnect, which the plugin now
// identifies by the pool, renews that very account, keeping its id and its readings,
// and polls go on.
func TestOndiloAccountWithoutPool(t *testing.T) {
	bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/plugins/ondilo/cmd/poolhost-provider-ondilo")
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			fake := ondilotest.NewServer(t)
			fake.RemovePools()
			w := ingesttest.Seed(t, s, "generic", "ico@example.com", nil, nil, nil) // a user and a pool

			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "creds.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(fmt.Sprintf(`
database_url    = "sqlite:unused.db"
credentials_key = file("creds.key")
plugin_dir      = %q
public_url      = "https://poolhost.example"
provider "ondilo" {
  binary        = %q
  poll          = true
  poll_interval = "15m"
  settings      = { base_url = %q }
}
`, filepath.Dir(bin), bin, fake.URL)))
			if err != nil {
				t.Fatal(err)
			}
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			rec := audit.NewRecorder(audit.StoreWriter(s), nil)
			svc := connect.New(connect.Deps{Store: s, Plugins: connect.FromManager(mgr), Pools: pools.New(s, rec), Audit: rec,
				Config: func() *config.Config { return cfg }})
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})
			owner := auth.Actor{UserID: w.User.ID}

			connectOndilo := func() connect.Account {
				t.Helper()
				res, err := svc.Connect(ctx, owner, "ondilo", nil)
				if err != nil || res.AuthorizeURL == "" {
					t.Fatalf("connect: %+v, %v", res, err)
				}
				q := consent(t, res.AuthorizeURL)
				acc, err := svc.Callback(ctx, &owner, "ondilo", map[string]string{"code": q.Get("code"), "state": q.Get("state")})
				if err != nil {
					t.Fatalf("callback: %v", err)
				}
				return acc
			}
			tick := func(what string) {
				t.Helper()
				if st, err := worker.Tick(ctx); err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("%s: poll %+v, %v", what, st, err)
				}
				clk.Add(15 * time.Minute)
			}

			acc := connectOndilo()
			if !strings.HasPrefix(acc.ExternalAccountID, "user:") {
				t.Fatalf("account without pool linked as %q, want user:…", acc.ExternalAccountID)
			}
			tick("no pool yet")

			at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second).Format("2006-01-02 15:04:05")
			fake.AddPool(ondilotest.Pool{ID: 901, Name: "New Pool"}, &ondilotest.Device{UUID: "ico-new"},
				[]ondilotest.Measure{{DataType: "ph", Value: ondilotest.Float(7.3), ValueTime: at, IsValid: true}})
			devices, err := svc.Discover(ctx, owner, acc.ID)
			if err != nil || len(devices) != 1 {
				t.Fatalf("discover: %+v, %v", devices, err)
			}
			if _, err := svc.Link(ctx, owner, devices[0].ID, w.Pool.ID); err != nil {
				t.Fatal(err)
			}
			tick("pool appeared")
			if n := ingesttest.CountReadings(t, s); n != 1 {
				t.Fatalf("%d readings after the pool appeared, want 1", n)
			}
			if got, err := s.GetAccount(ctx, acc.ID); err != nil || got.ExternalAccountID != acc.ExternalAccountID {
				t.Fatalf("account now %q (%v), want its id %q kept", got.ExternalAccountID, err, acc.ExternalAccountID)
			}

			again := connectOndilo()
			if again.ID != acc.ID || again.ExternalAccountID != acc.ExternalAccountID {
				t.Fatalf("reconnect linked account %d %q, want the same %d %q", again.ID, again.ExternalAccountID, acc.ID, acc.ExternalAccountID)
			}
			all, err := s.ListAccounts(ctx, w.User.ID)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, a := range all {
				if a.Provider == "ondilo" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d ondilo accounts after the reconnect, want 1", n)
			}
			fake.SetMeasures(901, []ondilotest.Measure{{DataType: "ph", Value: ondilotest.Float(7.4),
				ValueTime: time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format("2006-01-02 15:04:05"), IsValid: true}})
			tick("after the reconnect") // the renewed credentials decrypt and work
			if n := ingesttest.CountReadings(t, s); n != 2 {
				t.Fatalf("%d readings after the reconnect, want 2", n)
			}
		})
	}
}

// consent follows an authorize URL on the fake, which approves at once, and returns
// the query it redirects back with (code and state).
func consent(t *testing.T, authorizeURL string) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: HTTP %d, %v", resp.StatusCode, err)
	}
	return loc.Query()
}
