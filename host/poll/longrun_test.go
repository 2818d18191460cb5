package poll_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk"
)

// TestOndiloLongRun drives one Ondilo account through 30 simulated hours, one worker
// tick a minute, against the Realistic fake (hourly tokens that rotate, 30 requests an
// hour), through what a day brings besides measures:
//
//   - 08:30–09:30 Ondilo is down: every API and token call answers 503 (the access token
//     expires in the middle, so its refresh fails too). The worker backs off, the cursor
//     and the refresh token survive, and the measure of 09:00 is stored once Ondilo is
//     back, before 10:00 replaces it;
//   - 14:05 the host dies with the account's poll claimed, and starts again: the store is
//     opened anew and another worker (another lease owner) polls it once the dead
//     one's lease ends, from the cursor the database kept;
//   - 18:00–22:00 the ICO measures nothing: polls find nothing new, store nothing, and
//     keep the account active and the refreshed tokens;
//   - 26:10 the owner disconnects the account: no poll after that, no call to Ondilo, no
//     failure of the worker.
//
// Every measure taken while the account was connected is stored exactly once, and
// nothing else.
func TestOndiloLongRun(t *testing.T) {
	for _, eng := range []string{"sqlite", "postgres"} {
		t.Run(eng, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			clk.Add(clk.Now().Truncate(time.Hour).Add(time.Hour).Sub(clk.Now()))
			start := clk.Now()
			at := func(h, m int) time.Time { return start.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

			fake := ondilotest.NewServer(t)
			fake.Realistic(clk.Now)
			const poolID = 234
			measure := func(k int) {
				when := at(k, 0).Format("2006-01-02 15:04:05")
				v := func(f float64) *float64 { return &f }
				fake.SetMeasures(poolID, []ondilotest.Measure{
					{DataType: "temperature", Value: v(20 + float64(k%10)/10), ValueTime: when, IsValid: true},
					{DataType: "ph", Value: v(7.2 + float64(k%5)/100), ValueTime: when, IsValid: true},
				})
			}
			measure(0)

			// The store is opened again at the restart, from the same database.
			url := "sqlite:" + filepath.Join(t.TempDir(), "poolhost.db")
			if eng == "postgres" {
				url = pgtest.NewDatabase(t)
			}
			cipher := ingesttest.NewCipher()
			open := func() *store.Store {
				s, err := store.Open(ctx, url, store.WithCipher(cipher), store.WithClock(clk.Now))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				if _, err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				return s
			}
			s := open()
			access, refresh := fake.IssueTokens()
			w := ingesttest.Seed(t, s, ondilo.ID, "longrun@example.com", map[string]string{
				"access_token": access, "refresh_token": refresh,
				"expiry": clk.Now().Add(time.Hour).Format(time.RFC3339),
			}, []string{ondilotest.SampleDeviceUUID}, nil)

			ad := ondilo.New(ondilo.WithClock(clk.Now), ondilo.WithRequestSpacing(0))
			if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
				t.Fatal(err)
			}
			desc, err := ad.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			providers := []config.Provider{{ID: ondilo.ID, Enabled: true, Poll: true, PollInterval: 15 * time.Minute}}
			newWorker := func(s *store.Store, owner string) *poll.Worker {
				ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 7 * 24 * time.Hour}, nil, nil)
				return poll.New(poll.Deps{
					Store: s, Ingest: ing,
					Pollers:   func(string) (poll.Poller, error) { return inProcess{ad, desc}, nil },
					Providers: func() []config.Provider { return providers },
				}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: owner, Now: clk.Now, Rand: func() float64 { return 0.5 }})
			}
			worker := newWorker(s, "first")

			const hours = 30
			down := func(m int) bool { return m >= 8*60+30 && m < 9*60+30 }
			quiet := func(k int) bool { return k >= 18 && k < 22 }
			const restartAt, disconnectAt = 14*60 + 5, 26*60 + 10
			var failed, succeeded int
			var requestsAtDisconnect int
			for m := 0; m < hours*60; m++ {
				if k := m / 60; m%60 == 0 && m > 0 && !quiet(k) {
					measure(k)
				}
				switch {
				case m == 8*60+30:
					fake.FailNext(1<<30, 503)
					fake.FailTokenNext(1<<30, 503)
				case m == 9*60+30:
					fake.FailNext(0, 0)
					fake.FailTokenNext(0, 0)
				case m == restartAt:
					// The host dies holding the account's lease: claimed, never finished.
					ps, err := s.ClaimDuePolls(ctx, []string{ondilo.ID}, "first", 1, config.DefaultPollWorker.Lease)
					if err != nil || len(ps) != 1 {
						t.Fatalf("minute %d: claim before the crash: %v %v", m, ps, err)
					}
					s.Close()
					s = open()
					worker = newWorker(s, "second")
				case m == disconnectAt:
					if _, err := s.DisconnectAccount(ctx, w.Account.ID); err != nil {
						t.Fatal(err)
					}
					requestsAtDisconnect = len(fake.Requests())
				}
				st, err := worker.Tick(ctx)
				if err != nil {
					t.Fatalf("minute %d: tick: %v", m, err)
				}
				if st.Reauth+st.LeaseLost+st.StoreErrors > 0 || (st.Failed > 0 && !down(m)) {
					ps, _ := s.GetPollState(ctx, w.Account.ID)
					t.Fatalf("minute %d: %+v (last error %q)", m, st, ps.LastError)
				}
				failed += st.Failed
				succeeded += st.Succeeded
				if m == 9*60+59 {
					// Back since 09:30: polled again, errors cleared, the 09:00 measure in.
					ps, err := s.GetPollState(ctx, w.Account.ID)
					if err != nil {
						t.Fatal(err)
					}
					if ps.ConsecutiveErrors != 0 || ps.LastError != "" {
						t.Errorf("after the outage: %d consecutive errors, last %q", ps.ConsecutiveErrors, ps.LastError)
					}
				}
				clk.Add(time.Minute)
			}
			if failed == 0 || failed > 4 {
				t.Errorf("%d failed polls during the hour Ondilo was down, want 1 to 4 (backing off)", failed)
			}
			if n := fake.Limited(); n != 0 {
				t.Errorf("%d calls answered 429 Limit Exceeded", n)
			}
			if n := len(fake.Requests()); n != requestsAtDisconnect {
				t.Errorf("%d calls to Ondilo after the account was disconnected", n-requestsAtDisconnect)
			}

			var rows []struct {
				Metric string    `db:"metric"`
				At     time.Time `db:"recorded_at"`
			}
			if err := s.DB().Select(&rows, `SELECT metric, recorded_at FROM sensor_readings ORDER BY recorded_at, metric`); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, r := range rows {
				seen[fmt.Sprintf("%s@%s", r.Metric, r.At.UTC().Format(time.RFC3339))]++
			}
			want := 0
			for k := 0; k < hours; k++ {
				stamp := at(k, 0).UTC().Format(time.RFC3339)
				expect := 1
				if quiet(k) || at(k, 0).After(at(0, disconnectAt)) {
					expect = 0
				}
				want += 2 * expect
				for _, metric := range []string{"temperature", "ph"} {
					if n := seen[metric+"@"+stamp]; n != expect {
						t.Errorf("%s measured at %02d:00 stored %d times, want %d", metric, k, n, expect)
					}
				}
			}
			if len(rows) != want {
				t.Errorf("%d readings stored, want %d", len(rows), want)
			}
			t.Logf("%d polls succeeded, %d failed; %d API calls; refreshes %d", succeeded, failed, len(fake.Requests()), fake.TokenRequests("refresh_token"))
		})
	}
}
