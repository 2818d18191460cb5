package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
)

// replicaWorld is a primary with a streaming standby, one pool with a linked device
// and a reading, and a token of the pool's owner.
type replicaWorld struct {
	primary, standby *pgtest.Cluster
	url, readURL     string
	seed             *store.Store // on the primary alone
	world            ingesttest.World
	token            string
}

func newReplicaWorld(t *testing.T) *replicaWorld {
	t.Helper()
	w := &replicaWorld{primary: pgtest.NewCluster(t)}
	w.url = w.primary.NewDatabase(t)
	w.standby = w.primary.NewStandby(t)
	w.readURL = w.standby.StandbyURL(t, w.url)
	ctx := context.Background()
	s, err := store.Open(ctx, w.url, store.WithCipher(ingesttest.NewCipher()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w.seed = s
	w.world = ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"d1"}, nil)
	if w.token, _, err = s.CreateAPIToken(ctx, w.world.User.ID, "replica"); err != nil {
		t.Fatal(err)
	}
	w.insert(t, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	pgtest.WaitReplayed(t, w.primary, w.standby)
	return w
}

// insert stores one reading on the primary, recorded at at.
func (w *replicaWorld) insert(t *testing.T, at time.Time) {
	t.Helper()
	d := w.world.Devices["d1"]
	if _, err := w.seed.InsertReadings(context.Background(), []store.Reading{{
		DeviceID: d.ID, PoolID: w.world.Pool.ID, Metric: "ph", Value: 7.2, Unit: "pH",
		RecordedAt: at, ReceivedAt: at, Quality: "good",
	}}); err != nil {
		t.Fatalf("insert reading: %v", err)
	}
}

func (w *replicaWorld) open(t *testing.T, maxLag time.Duration, reg prometheus.Registerer) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), w.url, store.WithCipher(ingesttest.NewCipher()),
		store.WithReadReplica(w.readURL, maxLag), store.WithRegisterer(reg))
	if err != nil {
		t.Fatalf("open with read replica: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (w *replicaWorld) readings(t *testing.T, s *store.Store) int {
	t.Helper()
	rs, _, err := s.ListReadings(context.Background(), store.ReadingQuery{PoolID: w.world.Pool.ID, Limit: 100})
	if err != nil {
		t.Fatalf("list readings: %v", err)
	}
	return len(rs)
}

func (w *replicaWorld) standbySQL(t *testing.T, stmt string) {
	t.Helper()
	s, err := store.Open(context.Background(), w.standby.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.DB().Exec(stmt); err != nil {
		t.Fatalf("%s on the standby: %v", stmt, err)
	}
}

// waitFor polls cond until it holds (a bounded poll: the monitor checks every second).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within two minutes: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Lag-tolerant reads go to the standby while it lags within the bound, to the primary
// (counted) once it lags past it, and keep answering from the standby while the primary
// is stopped — tokens and pool roles included.
func TestReadReplicaRoutesReads(t *testing.T) {
	w := newReplicaWorld(t)
	ctx := context.Background()
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	patient := w.open(t, time.Hour, regA)       // the standby is always recent enough
	strict := w.open(t, time.Millisecond, regB) // the standby lags past this at once when paused

	// Hold the standby still: what the primary writes now is not replayed.
	w.standbySQL(t, "SELECT pg_wal_replay_pause()")
	w.insert(t, time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC))
	if n := w.readings(t, patient); n != 1 {
		t.Errorf("within the lag bound: %d readings, want 1 (the standby's: the new one is not replayed)", n)
	}
	waitFor(t, "the strict store sees the standby lag past its bound", func() bool {
		return errors.Is(strict.PingReadReplica(ctx), host.ErrDegraded)
	})
	if n := w.readings(t, strict); n != 2 {
		t.Errorf("past the lag bound: %d readings, want 2 (the primary's)", n)
	}
	if got := fallbacks(t, regB, "lagging"); got < 1 {
		t.Errorf("lagging fallbacks = %v, want at least 1", got)
	}
	if err := patient.PingReadReplica(ctx); err != nil {
		t.Errorf("patient store's read replica readiness: %v, want ok", err)
	}
	w.standbySQL(t, "SELECT pg_wal_replay_resume()")
	pgtest.WaitReplayed(t, w.primary, w.standby)

	// The primary stops: reads, token checks and pool roles go to the standby.
	if err := w.primary.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := w.readings(t, patient); n != 2 {
		t.Errorf("primary stopped: %d readings, want 2 from the standby", n)
	}
	if _, _, err := patient.AuthenticateToken(ctx, w.token); err != nil {
		t.Errorf("primary stopped: token check: %v, want it answered by the standby", err)
	}
	if r, err := patient.PoolRole(ctx, w.world.Pool.ID, w.world.User.ID); err != nil || r != store.RoleOwner {
		t.Errorf("primary stopped: pool role = %q, %v; want owner from the standby", r, err)
	}
	if err := patient.PingPrimary(ctx); !errors.Is(err, host.ErrDegraded) {
		t.Errorf("primary stopped, standby up: primary readiness = %v, want degraded", err)
	}
	// Writes have no standby to go to.
	if _, err := patient.CreateUser(ctx, "new@example.com", false); host.ErrorCode(store.Unavailable(err)) != host.EUNAVAILABLE {
		t.Errorf("primary stopped: a write = %v, want unavailable", err)
	}
}

// A standby that is down costs nothing but a fallback: reads answer from the primary,
// counted, and go back to the standby once it answers again.
func TestReadReplicaDownFallsBack(t *testing.T) {
	w := newReplicaWorld(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	s := w.open(t, 10*time.Second, reg)
	if err := s.PingReadReplica(ctx); err != nil {
		t.Fatalf("standby readiness at start: %v", err)
	}
	if err := w.standby.Stop(); err != nil {
		t.Fatal(err)
	}
	// The first read after the stop may find it gone before the monitor does: it is
	// retried on the primary either way.
	if n := w.readings(t, s); n != 1 {
		t.Errorf("standby stopped: %d readings, want 1 from the primary", n)
	}
	waitFor(t, "the monitor sees the standby down", func() bool {
		return errors.Is(s.PingReadReplica(ctx), host.ErrDegraded)
	})
	if n := w.readings(t, s); n != 1 {
		t.Errorf("standby down: %d readings, want 1 from the primary", n)
	}
	if got := fallbacks(t, reg, "down") + fallbacks(t, reg, "error"); got < 2 {
		t.Errorf("fallbacks (down + error) = %v, want at least 2", got)
	}
	if err := w.standby.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby usable again", func() bool { return s.PingReadReplica(ctx) == nil })
	before := fallbacks(t, reg, "down") + fallbacks(t, reg, "error")
	if n := w.readings(t, s); n != 1 {
		t.Errorf("standby back: %d readings, want 1", n)
	}
	if after := fallbacks(t, reg, "down") + fallbacks(t, reg, "error"); after != before {
		t.Errorf("standby back: a read still fell back (%v → %v)", before, after)
	}
}

// fallbacks is poolhost_database_read_fallbacks_total{reason} in reg.
func fallbacks(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_database_read_fallbacks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no poolhost_database_read_fallbacks_total{reason=%q}", reason)
	return 0
}
