package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestLookupDevicesAllocations pins the allocations of the device lookup every group
// commit makes, and checks it carries what ingestion decides with. Reading the whole
// device row through sqlx cost 56 allocations on PostgreSQL and 82 on SQLite for one
// device; the narrow row scanned by hand, 36 and 48 (measured 2026-12-06, go test
// without -race).
func TestLookupDevicesAllocations(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := newFixture(t, e, "lookup@x.io")
		ctx := context.Background()
		l := store.DeviceLookup{Provider: "acme", ProviderDeviceIDs: []string{"dev-lookup@x.io"}}
		ds, err := e.s.LookupDevices(ctx, l)
		if err != nil || len(ds) != 1 {
			t.Fatalf("lookup = %+v, %v", ds, err)
		}
		d := ds[0]
		want := store.Device{ID: f.device.ID, AccountID: f.account.ID, Provider: "acme", ProviderDeviceID: "dev-lookup@x.io",
			OwnerID: f.user.ID, AccountStatus: f.account.Status, PoolID: f.pool.ID, Verified: f.device.Verified,
			AccountExternalID: "ext-lookup@x.io", LinkActive: true}
		if d.ID != want.ID || d.AccountID != want.AccountID || d.Provider != want.Provider || d.ProviderDeviceID != want.ProviderDeviceID ||
			d.OwnerID != want.OwnerID || d.AccountStatus != want.AccountStatus || d.PoolID != want.PoolID || d.Verified != want.Verified ||
			d.AccountExternalID != want.AccountExternalID || d.LinkActive != want.LinkActive {
			t.Fatalf("lookup = %+v, want %+v", d, want)
		}
		if raceEnabled {
			return
		}
		n := testing.AllocsPerRun(50, func() {
			if _, err := e.s.LookupDevices(ctx, l); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%.0f allocations", n)
		limit := 40.0 // PostgreSQL
		if strings.HasSuffix(t.Name(), "/sqlite") {
			limit = 55
		}
		if n > limit {
			t.Errorf("%.0f allocations to look up one device, want at most %.0f", n, limit)
		}
	})
}

// TestLookupDevicesKeepsAGenericPlan: on PostgreSQL the prepared device lookup settles
// on its generic plan even when one provider has thousands of devices and another a
// handful. With the provider and the ids as plain parameters, the custom plan for the
// small provider was estimated ten times cheaper than the generic one, so PostgreSQL
// planned the lookup afresh on every group commit, forever: 0.3 ms of planning each,
// 18 % of the backends' CPU at 100 million readings (make bench-scale's ingest, whose
// 8 devices sit beside 20,000 of another provider).
func TestLookupDevicesKeepsAGenericPlan(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	f := newFixture(t, e, "generic-plan@x.io")
	if _, err := e.s.DB().ExecContext(ctx, `INSERT INTO integration_devices (account_id, provider, provider_device_id)
		SELECT $1, 'big', 'b' || g FROM generate_series(1, 5000) g`, f.account.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DB().ExecContext(ctx, `ANALYZE integration_devices`); err != nil {
		t.Fatal(err)
	}
	s := e.open(t, store.WithMaxOpenConns(1)) // one session, so its statements can be listed
	for range 10 {
		ds, err := s.LookupDevices(ctx, store.DeviceLookup{Provider: "acme", ProviderDeviceIDs: []string{"dev-generic-plan@x.io", "nope"}})
		if err != nil || len(ds) != 1 || ds[0].ID != f.device.ID {
			t.Fatalf("lookup = %+v, %v", ds, err)
		}
	}
	var generic, custom int
	if err := s.DB().QueryRowContext(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE '%FROM integration_devices d%' AND NOT from_sql`).Scan(&generic, &custom); err != nil {
		t.Fatal(err)
	}
	if generic == 0 {
		t.Errorf("the lookup ran %d custom plans and no generic one", custom)
	}
}
