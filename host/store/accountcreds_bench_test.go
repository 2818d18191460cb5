package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// BenchmarkAccountWithCredentials is what an account-scoped webhook delivery costs
// beyond a provider-level one before its plugin is called: reading its account with the
// credentials and opening them (store.AccountWithCredentials), once per op, on one
// session (WithMaxOpenConns(1)) so that on PostgreSQL its backend's CPU can be read
// from /proc (backend-cpu-us/op; only for a server on this machine, pgtest's own), and
// this process's CPU, SQLite's included (host-cpu-us/op):
//
//	go test -run '^$' -bench AccountWithCredentials -benchmem ./host/store/
//
// "miss" is an id of no account, which costs what a hit costs (the decoy).
func BenchmarkAccountWithCredentials(b *testing.B) {
	for _, eng := range engines {
		for _, miss := range []bool{false, true} {
			name := eng.name + "/hit"
			if miss {
				name = eng.name + "/miss"
			}
			b.Run(name, func(b *testing.B) {
				e := newEnv(b, eng, true)
				f := newFixture(b, e, "bench-acct@x.io")
				ctx := context.Background()
				acc, _, err := e.s.UpsertAccount(ctx, store.NewAccount{UserID: f.user.ID, Provider: "generic",
					ExternalAccountID: "ext-bench", Credentials: map[string]string{
						"webhook_secret": "whsec_YWNjb3VudC1hLXNlY3JldC1mb3ItdGVzdHMtMTIz"}})
				if err != nil {
					b.Fatal(err)
				}
				s := e.open(b, store.WithMaxOpenConns(1))
				id := acc.ID
				if miss {
					id += 1000
				}
				lookup := func() {
					_, creds, err := s.AccountWithCredentials(ctx, id, "generic")
					if miss != (err != nil) || !miss && creds["webhook_secret"] == "" {
						b.Fatalf("lookup = %v, %v", creds != nil, err)
					}
				}
				// Past the plan cache's first five (custom) plans, as a running host is.
				for range 8 {
					lookup()
				}
				pid := 0
				if eng.name == "postgres" {
					if err := s.DB().GetContext(ctx, &pid, `SELECT pg_backend_pid()`); err != nil {
						b.Fatal(err)
					}
					if _, ok := backendCPU(pid); !ok {
						pid = 0
					}
				}
				var c0 time.Duration
				if pid != 0 {
					c0, _ = backendCPU(pid)
				}
				b.ReportAllocs()
				b.ResetTimer()
				h0 := cpuTime()
				for range b.N {
					lookup()
				}
				h1 := cpuTime()
				b.StopTimer()
				b.ReportMetric(float64((h1-h0).Nanoseconds())/1e3/float64(b.N), "host-cpu-us/op")
				if pid != 0 {
					c1, _ := backendCPU(pid)
					b.ReportMetric(float64((c1-c0).Nanoseconds())/1e3/float64(b.N), "backend-cpu-us/op")
				}
			})
		}
	}
}
