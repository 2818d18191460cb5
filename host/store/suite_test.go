package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
)

// The suite: every Test in this package runs each case against both engines through
// forEachEngine — a real SQLite file and a real PostgreSQL database of its own.

func TestMain(m *testing.M) { pgtest.Main(m) }

type engine struct {
	name string
	url  func(t testing.TB) string
}

var engines = []engine{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "poolhost.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.NewDatabase(t) }},
}

// clock is a settable clock shared by a test's stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	url   string
	s     *store.Store
	clock *clock
	key   []byte
	ring  *credentials.Keyring
}

// open opens another store on the env's database, with the same clock.
func (e *env) open(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	opts = append([]store.Option{store.WithClock(e.clock.Now), store.WithCipher(e.ring)}, opts...)
	s, err := store.Open(context.Background(), e.url, opts...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newEnv(t testing.TB, eng engine, migrate bool) *env {
	t.Helper()
	key, err := credentials.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := credentials.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{url: eng.url(t), clock: newClock(), key: key, ring: ring}
	e.s = e.open(t)
	if migrate {
		if _, err := e.s.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	return e
}

// onEngine is newEnv on the engine of that name (sqlite, postgres) alone: for a case
// that only one engine has.
func onEngine(t testing.TB, name string, migrate bool) *env {
	t.Helper()
	for _, eng := range engines {
		if eng.name == name {
			return newEnv(t, eng, migrate)
		}
	}
	t.Fatalf("no engine %q", name)
	return nil
}

// forEachEngine runs fn as a subtest per engine, on a freshly migrated database.
func forEachEngine(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			fn(t, newEnv(t, eng, true))
		})
	}
}

// fixture is a user with a pool, an account and one linked device.
type fixture struct {
	user    store.User
	pool    store.Pool
	account store.Account
	device  store.Device
}

func newFixture(t testing.TB, e *env, email string) fixture {
	t.Helper()
	ctx := context.Background()
	u, err := e.s.CreateUser(ctx, email, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.s.CreatePool(ctx, "pool of "+email, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := e.s.UpsertAccount(ctx, store.NewAccount{
		UserID: u.ID, Provider: "acme", ExternalAccountID: "ext-" + email, DisplayName: "Acme",
		Credentials: map[string]string{"access_token": "tok-" + email},
	})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := e.s.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: "dev-" + email, Name: "probe"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.LinkDevice(ctx, ds[0].ID, p.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	d, err := e.s.GetDevice(ctx, ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{user: u, pool: p, account: a, device: d}
}

// deliveryMetrics are the ten metrics of a delivery in the group commit's tests and
// benchmarks.
var deliveryMetrics = []string{"ph", "orp", "temperature", "free_chlorine", "total_chlorine",
	"combined_chlorine", "cyanuric_acid", "total_alkalinity", "calcium_hardness", "salt"}

// ingestDelivery is delivery seq as ingest writes a webhook's: a reading of each of
// deliveryMetrics from f's device, recorded at base + seq×step and received at now, with
// its replay key and its webhook.received audit row.
func ingestDelivery(f fixture, seq int, base time.Time, step time.Duration, now time.Time) store.DeliveryWrite {
	rs := make([]store.Reading, len(deliveryMetrics))
	for i, m := range deliveryMetrics {
		rs[i] = store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: m, Value: 7.2,
			RecordedAt: base.Add(time.Duration(seq) * step), ReceivedAt: now, Quality: "ok"}
	}
	id := fmt.Sprintf("msg_%d", seq)
	return store.DeliveryWrite{Readings: rs,
		Once: &store.DeliveryKey{Provider: "generic", AccountID: f.account.ID, DeliveryID: id},
		Audit: &store.AuditEvent{At: now, Action: "webhook.received", Actor: "provider:generic", Provider: "generic",
			RequestID: id, Details: store.Details{"readings": len(rs), "delivery_id": id}}}
}

// withHoldPools runs write, which calls today's WriteDeliveries, on whatever schema the
// test migrated to, as the migration tests of versions before 00039 do. On PostgreSQL the
// group commit's statement calls poolhost_hold_pools (00039, pool deletion's guard): on
// an older schema a stand-in that holds nothing answers meanwhile, dropped again before
// the test migrates up, where 00039 creates the real one. SQLite's writes call no
// function.
func withHoldPools(t testing.TB, e *env, eng engine, write func()) {
	t.Helper()
	ctx := context.Background()
	var missing bool
	if eng.name == "postgres" {
		if err := e.s.DB().GetContext(ctx, &missing, `SELECT to_regprocedure('poolhost_hold_pools(bigint[])') IS NULL`); err != nil {
			t.Fatal(err)
		}
	}
	if !missing {
		write()
		return
	}
	if _, err := e.s.DB().ExecContext(ctx, `CREATE FUNCTION poolhost_hold_pools(ids BIGINT[]) RETURNS BOOLEAN
		LANGUAGE sql AS 'SELECT true'`); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := e.s.DB().ExecContext(ctx, `DROP FUNCTION poolhost_hold_pools(BIGINT[])`); err != nil {
			t.Fatal(err)
		}
	}()
	write()
}
