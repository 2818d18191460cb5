package retention_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/retention"
	"github.com/poolhost/poolhost/host/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestPrune(t *testing.T) {
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "p.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	}
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := start
			kr, err := credentials.NewKeyring(make([]byte, 32)) // OAuth states seal their PKCE verifier
			if err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(ctx, url(t), store.WithClock(func() time.Time { return now }), store.WithCipher(kr))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			u, err := st.CreateUser(ctx, "ana@example.com", false)
			if err != nil {
				t.Fatal(err)
			}
			// One state and one delivery id old enough to go, one of each recent enough to stay.
			if _, _, err := st.CreateOAuthState(ctx, u.ID, 0, "ondilo", "http://x/cb", 10*time.Minute); err != nil {
				t.Fatal(err)
			}
			key := func(id string) store.DeliveryKey {
				return store.DeliveryKey{Provider: "generic", DeliveryID: id}
			}
			if _, err := st.RecordDelivery(ctx, key("msg_old"), start); err != nil {
				t.Fatal(err)
			}
			now = start.Add(40 * 24 * time.Hour)
			if _, _, err := st.CreateOAuthState(ctx, u.ID, 0, "ondilo", "http://x/cb", 10*time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := st.RecordDelivery(ctx, key("msg_new"), now); err != nil {
				t.Fatal(err)
			}

			p := retention.New(st, retention.Config{DeliveryIDs: 30 * 24 * time.Hour, Now: func() time.Time { return now }}, nil)
			s, err := p.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.OAuthStates != 1 || s.DeliveryIDs != 1 {
				t.Errorf("first run = %+v, want one state and one delivery id", s)
			}
			// The survivor is still a replay: its first receipt time comes back.
			first, err := st.RecordDelivery(ctx, key("msg_new"), now.Add(time.Hour))
			if err != nil || !first.Equal(now) {
				t.Errorf("kept delivery id first seen %v (%v), want %v", first, err, now)
			}
			if s, err := p.Run(ctx); err != nil || s.OAuthStates != 0 || s.DeliveryIDs != 0 {
				t.Errorf("second run = %+v, %v; want nothing left to prune", s, err)
			}
		})
	}
}

// Two replicas' pruners over one database: one prunes, the other stands by.
func TestPruneOnOneReplica(t *testing.T) {
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "p.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	}
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			a := retention.New(st, retention.Config{DeliveryIDs: time.Hour}, nil)
			b := retention.New(st, retention.Config{DeliveryIDs: time.Hour}, nil)
			for i := range 2 {
				ranA, _, errA := a.Tick(ctx)
				ranB, _, errB := b.Tick(ctx)
				if errA != nil || errB != nil || !ranA || ranB {
					t.Fatalf("round %d: a ran %v (%v), b ran %v (%v); want only a", i, ranA, errA, ranB, errB)
				}
			}
		})
	}
}
