package poll_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk"
)

// inProcess is the ondilo adapter linked into the test, so that it runs on the same
// simulated clock as the worker and the fake (a plugin process would read the wall
// clock).
type inProcess struct {
	*ondilo.Adapter
	desc sdk.Description
}

func (p inProcess) Description() (sdk.Description, bool) { return p.desc, true }

// soakHours is how long the soak drives one Ondilo account, in simulated hours.
const soakHours = 48

// TestOndiloSoak drives one Ondilo account through two simulated days against a fake
// that behaves as Ondilo documents: 30 requests per hour and 5 per second per user
// (429 {"message":"Limit Exceeded"} beyond), access tokens that expire after an hour,
// and refresh tokens that rotate (a refresh revokes the old pair). The ICO measures once
// an hour, on the hour, but every sixth measure is 20 minutes late. The adapter tells
// the host when the next measure can be there (PollResult.NotBefore), so a punctual
// hour costs one poll; a late one costs polls every 15 minutes that find nothing new
// until it comes. Every hourly measure must be stored exactly once, with no 429 and no
// reauth.
func TestOndiloSoak(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			// Start on the hour, so that measure k is taken at start + k hours.
			clk.Add(clk.Now().Truncate(time.Hour).Add(time.Hour).Sub(clk.Now()))
			start := clk.Now()

			fake := ondilotest.NewServer(t)
			fake.Realistic(clk.Now)
			const poolID = 234 // the documented sample pool, with its ICO
			measure := func(k int) {
				at := start.Add(time.Duration(k) * time.Hour).Format("2006-01-02 15:04:05")
				v := func(f float64) *float64 { return &f }
				fake.SetMeasures(poolID, []ondilotest.Measure{
					{DataType: "temperature", Value: v(20 + float64(k%10)/10), ValueTime: at, IsValid: true},
					{DataType: "ph", Value: v(7.2 + float64(k%5)/100), ValueTime: at, IsValid: true},
					{DataType: "orp", Value: v(650 + float64(k%7)), ValueTime: at, IsValid: true},
					{DataType: "salt", Value: nil, ValueTime: at, IsValid: true},
				})
			}
			measure(0)

			s := eng.Open(t, store.WithClock(clk.Now))
			access, refresh := fake.IssueTokens()
			w := ingesttest.Seed(t, s, ondilo.ID, "soak@example.com", map[string]string{
				"access_token": access, "refresh_token": refresh,
				"expiry": clk.Now().Add(time.Hour).Format(time.RFC3339),
			}, []string{"111112222233333444445555"}, nil)

			ad := ondilo.New(ondilo.WithClock(clk.Now), ondilo.WithRequestSpacing(0))
			if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
				t.Fatal(err)
			}
			desc, err := ad.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			providers := []config.Provider{{ID: ondilo.ID, Enabled: true, Poll: true, PollInterval: 15 * time.Minute}}
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 7 * 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing,
				Pollers:   func(string) (poll.Poller, error) { return inProcess{ad, desc}, nil },
				Providers: func() []config.Provider { return providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "soak", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			// The worker ticks every minute of simulated time. Measure k is readable
			// from minute 60k, or 60k+20 when it is late.
			late := func(k int) bool { return k%6 == 5 }
			polls := 0
			for m := 0; m < soakHours*60; m++ {
				if k := m / 60; m > 0 && (m%60 == 0 && !late(k) || m%60 == 20 && late(k)) {
					measure(k)
				}
				st, err := worker.Tick(ctx)
				if err != nil {
					t.Fatalf("minute %d: tick: %v", m, err)
				}
				if st.Failed+st.Reauth+st.LeaseLost > 0 {
					ps, _ := s.GetPollState(ctx, w.Account.ID)
					t.Fatalf("minute %d: %+v (last error %q)", m, st, ps.LastError)
				}
				polls += st.Succeeded
				clk.Add(time.Minute)
			}

			// One poll per punctual hour; a late hour adds a quiet poll: at :05 it
			// finds nothing new, and the next, 15 minutes later, finds the measure.
			if lates := soakHours / 6; polls != soakHours+lates {
				t.Errorf("%d polls, want %d", polls, soakHours+lates)
			}
			if n := fake.Limited(); n != 0 {
				t.Errorf("%d calls answered 429 Limit Exceeded", n)
			}
			acc, err := s.GetAccount(ctx, w.Account.ID)
			if err != nil || acc.Status != store.AccountActive {
				t.Fatalf("account %q (%v), want active", acc.Status, err)
			}
			// Every hourly measure of the three non-null metrics, exactly once.
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
			for k := 0; k < soakHours; k++ {
				at := start.Add(time.Duration(k) * time.Hour).UTC().Format(time.RFC3339)
				for _, metric := range []string{"temperature", "ph", "orp"} {
					if n := seen[metric+"@"+at]; n != 1 {
						t.Errorf("%s measured at %s stored %d times, want 1", metric, at, n)
					}
				}
			}
			if want := soakHours * 3; len(rows) != want {
				t.Errorf("%d readings stored, want %d", len(rows), want)
			}

			// Requests per simulated hour, for the record (and the quota).
			perHour := make([]int, soakHours)
			for _, at := range fake.Served() {
				if h := int(at.Sub(start) / time.Hour); h >= 0 && h < soakHours {
					perHour[h]++
				}
			}
			most := 0
			var line []string
			for _, n := range perHour {
				most = max(most, n)
				line = append(line, fmt.Sprint(n))
			}
			if most > ondilotest.QuotaPerHour {
				t.Errorf("%d API calls in one hour, quota %d", most, ondilotest.QuotaPerHour)
			}
			t.Logf("%d polls in %d simulated hours; API calls per hour: %s; token refreshes: %d",
				polls, soakHours, strings.Join(line, " "), fake.TokenRequests("refresh_token"))
		})
	}
}

func TestNextPoll(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		notBefore time.Time
		want      time.Time
	}{
		{"no hint: the interval", time.Time{}, now.Add(15 * time.Minute)},
		{"a hint sooner than the interval is ignored", now.Add(time.Minute), now.Add(15 * time.Minute)},
		{"a later hint defers the poll", now.Add(65 * time.Minute), now.Add(65 * time.Minute)},
		{"a hint past the limit is cut to it", now.Add(72 * time.Hour), now.Add(poll.MaxDeferral)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := poll.NextPoll(now, 15*time.Minute, tc.notBefore); !got.Equal(tc.want) {
				t.Fatalf("next poll at %v, want %v", got.Sub(now), tc.want.Sub(now))
			}
		})
	}
}
