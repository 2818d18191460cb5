package poll_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// TestPollStopsAtLostAccess: a polled device feeds a pool only while its owner may write
// to it. Each of bob's accounts is polled with its probe linked to another user's pool
// (or, for the owner who leaves, his own pool with a co-owner); once bob is removed,
// lowered to viewer, or has left as owner, the next poll stores nothing there and is
// audited with whose link it was — yet the poll itself succeeds (cursor, next poll),
// since nothing is wrong with the account. Once bob is disabled, his account is not
// polled at all: neither claimed nor called, so his data is not pulled with his
// credentials and the provider's quota is not spent.
func TestPollStopsAtLostAccess(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			readings := func(ph float64, ago time.Duration) string {
				return fmt.Sprintf(`[{"metric": "ph", "value": "%g", "recorded_at": %q}]`, ph, clk.Now().Add(-ago).Format(time.RFC3339))
			}
			type world struct {
				w     ingesttest.World
				other store.User
				pool  int64
			}
			ways := []string{"removed", "viewer", "disabled", "owner_left"}
			worlds := map[string]world{}
			for _, way := range ways {
				probe := "probe-" + way
				w := ingesttest.Seed(t, s, "faulty", "bob-"+way+"@example.com",
					map[string]string{"device_id": probe, "readings": readings(7.2, 3*time.Hour)}, []string{probe}, nil)
				other, err := s.CreateUser(ctx, "other-"+way+"@example.com", false)
				if err != nil {
					t.Fatal(err)
				}
				wd := world{w: w, other: other, pool: w.Pool.ID}
				if way == "owner_left" {
					if _, err := s.SetPoolMember(ctx, w.Pool.ID, other.ID, store.RoleOwner); err != nil {
						t.Fatal(err)
					}
				} else {
					p, err := s.CreatePool(ctx, "pool of "+other.Email, other.ID)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := s.SetPoolMember(ctx, p.ID, w.User.ID, store.RoleEditor); err != nil {
						t.Fatal(err)
					}
					if _, err := s.LinkDevice(ctx, w.Devices[probe].ID, p.ID, w.User.ID); err != nil {
						t.Fatal(err)
					}
					wd.pool = p.ID
				}
				worlds[way] = wd
			}

			cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "10m"`)
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			pw := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})
			count := func(pool int64) int {
				t.Helper()
				var n int
				if err := s.DB().Get(&n, s.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE pool_id = ?`), pool); err != nil {
					t.Fatal(err)
				}
				return n
			}

			if st, err := pw.Tick(ctx); err != nil || st != (poll.Stats{Claimed: 4, Succeeded: 4}) {
				t.Fatalf("first poll: %+v %v", st, err)
			}
			for _, way := range ways {
				if n := count(worlds[way].pool); n != 1 {
					t.Fatalf("%s: %d readings in the pool before, want 1", way, n)
				}
			}

			for _, way := range ways {
				wd := worlds[way]
				var err error
				switch way {
				case "removed", "owner_left":
					_, err = s.RemovePoolMember(ctx, wd.pool, wd.w.User.ID)
				case "viewer":
					_, err = s.SetPoolMember(ctx, wd.pool, wd.w.User.ID, store.RoleViewer)
				case "disabled":
					_, err = s.DisableUser(ctx, wd.w.User.ID)
				}
				if err != nil {
					t.Fatalf("%s: %v", way, err)
				}
				// The provider now has a new reading for the probe.
				if err := s.UpdateAccountCredentials(ctx, wd.w.Account.ID, map[string]string{
					"device_id": "probe-" + way, "readings": readings(4.0, time.Hour),
				}); err != nil {
					t.Fatal(err)
				}
			}
			disabled := worlds["disabled"].w.Account.ID
			before, err := s.GetPollState(ctx, disabled)
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(10 * time.Minute)
			if st, err := pw.Tick(ctx); err != nil || st != (poll.Stats{Claimed: 3, Succeeded: 3}) {
				t.Fatalf("second poll: %+v %v, want every poll done but the disabled user's", st, err)
			}
			after, err := s.GetPollState(ctx, disabled)
			if err != nil {
				t.Fatal(err)
			}
			if after.LeaseOwner != "" || after.Cursor != before.Cursor || !after.NextPollAt.Equal(before.NextPollAt) ||
				after.LastPolledAt == nil || !after.LastPolledAt.Equal(*before.LastPolledAt) {
				t.Errorf("disabled: poll state %+v after, want untouched %+v (neither claimed nor polled)", after, before)
			}
			events := ingesttest.Audit(t, s, ingest.ActionInactiveLink)
			for _, way := range ways {
				wd := worlds[way]
				if n := count(wd.pool); n != 1 {
					t.Errorf("%s: %d readings in the pool after, want still the 1 from before", way, n)
				}
				dev := wd.w.Devices["probe-"+way].ID
				if way == "disabled" {
					for _, ev := range events {
						if ev.TargetType == "device" && ev.TargetID == fmt.Sprint(dev) {
							t.Errorf("disabled: %s event %+v, want none: the account is not polled", ingest.ActionInactiveLink, ev)
						}
					}
					continue
				}
				found := false
				for _, ev := range events {
					if ev.TargetType != "device" || ev.TargetID != fmt.Sprint(dev) || ev.Details["account_id"] != float64(wd.w.Account.ID) {
						continue
					}
					links, _ := ev.Details["inactive_links"].([]any)
					if len(links) == 1 {
						l := links[0].(map[string]any)
						found = l["poolId"] == float64(wd.pool) && l["userId"] == float64(wd.w.User.ID) && l["dropped"] == float64(1)
					}
				}
				if !found {
					t.Errorf("%s: no %s event for device %d in pool %d among %+v", way, ingest.ActionInactiveLink, dev, wd.pool, events)
				}
			}
		})
	}
}
