package poll_test

import (
	"context"
	"fmt"
	"net/http"
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
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// overWire is the Ondilo adapter reached through the plugin wire (the SDK's gRPC server
// and the host's client), so that what a failed poll hands back crosses it as it does
// from the plugin binary, while the adapter keeps the test's clock.
type overWire struct {
	*grpcplugin.Client
	desc sdk.Description
}

func (p overWire) Description() (sdk.Description, bool) { return p.desc, true }

// TestOndiloPartWayFailuresStayInQuota drives an Ondilo account of 26 pools (a poll of
// them all spends the hour's budget of 27 requests) through
// a simulated day, one worker tick a minute, against the Realistic fake (30 requests an
// hour and 5 a second, rotating hourly tokens), through the plugin wire. Every third
// poll fails part-way: a 503 after 1 to 9 of its requests were served. Each failure is
// recorded (lease released, error counted, next poll after the backoff) with the cursor
// the plugin handed back, so the next poll counts the failed one's requests: none is
// refused over quota, the account stays active, every success resets the error count,
// no measure is stored twice and no ICO is starved. Without the cursor on the failure,
// the poll after it spent the hour's whole budget again: 429s.
func TestOndiloPartWayFailuresStayInQuota(t *testing.T) {
	const pools, hours = 26, 24
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			clk.Add(clk.Now().Truncate(time.Hour).Add(time.Hour).Sub(clk.Now()))
			start := clk.Now()

			fake := ondilotest.NewServer(t)
			fake.RemovePools()
			var devices []string
			for i := range pools {
				uuid := fmt.Sprintf("ico-%d", i)
				devices = append(devices, uuid)
				fake.AddPool(ondilotest.Pool{ID: int64(900 + i), Name: uuid}, &ondilotest.Device{UUID: uuid}, nil)
			}
			measure := func(k int) {
				at := start.Add(time.Duration(k) * time.Hour).Format("2006-01-02 15:04:05")
				for i := range pools {
					fake.SetMeasures(int64(900+i), []ondilotest.Measure{{DataType: "ph", Value: ondilotest.Float(7 + float64(k%9)/10), ValueTime: at, IsValid: true}})
				}
			}
			measure(0)
			// Each request the fake serves moves the clock on as the adapter's spacing
			// would the wall clock.
			fake.Realistic(func() time.Time { clk.Add(ondilo.DefaultRequestSpacing); return clk.Now() })

			s := eng.Open(t, store.WithClock(clk.Now))
			access, refresh := fake.IssueTokens()
			w := ingesttest.Seed(t, s, ondilo.ID, "partway@example.com", map[string]string{
				"access_token": access, "refresh_token": refresh, "expiry": clk.Now().Add(time.Hour).Format(time.RFC3339),
			}, devices, nil)

			ad := ondilo.New(ondilo.WithClock(clk.Now), ondilo.WithRequestSpacing(0))
			if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
				t.Fatal(err)
			}
			desc, err := ad.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			plugin := overWire{sdktest.Connect(t, ad), desc}
			providers := []config.Provider{{ID: ondilo.ID, Enabled: true, Poll: true, PollInterval: 15 * time.Minute}}
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 7 * 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing,
				Pollers:   func(string) (poll.Poller, error) { return plugin, nil },
				Providers: func() []config.Provider { return providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "partway", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			state := func() store.PollState {
				t.Helper()
				ps, err := s.GetPollState(ctx, w.Account.ID)
				if err != nil {
					t.Fatal(err)
				}
				return ps
			}
			polls, failed := 0, 0
			for clk.Now().Before(start.Add(hours * time.Hour)) {
				tick := clk.Now().Truncate(time.Minute)
				if k := int(tick.Sub(start) / time.Hour); tick.Sub(start)%time.Hour == 0 && k > 0 {
					measure(k)
				}
				before := state()
				fail := !before.NextPollAt.After(clk.Now()) && polls%3 == 1
				if fail {
					fake.FailAfter(1+polls%9, 1, http.StatusServiceUnavailable)
				}
				st, err := worker.Tick(ctx)
				fake.FailNext(0, 0)
				if err != nil || st.Reauth+st.LeaseLost+st.StoreErrors > 0 {
					t.Fatalf("%v: %+v %v (last error %q)", clk.Now().Sub(start), st, err, state().LastError)
				}
				polls += st.Claimed
				after := state()
				if st.Claimed > 0 {
					if after.LeaseOwner != "" || !after.NextPollAt.After(clk.Now()) {
						t.Fatalf("%v: poll not recorded: %+v", clk.Now().Sub(start), after)
					}
				}
				switch {
				case st.Failed > 0:
					failed++
					if !fail || after.ConsecutiveErrors != before.ConsecutiveErrors+1 || after.Cursor == before.Cursor {
						t.Fatalf("%v: failure (armed %v) recorded as %+v; want one more error and the spent requests in the cursor", clk.Now().Sub(start), fail, after)
					}
				case st.Succeeded > 0 && after.ConsecutiveErrors != 0:
					t.Fatalf("%v: a success left %d errors", clk.Now().Sub(start), after.ConsecutiveErrors)
				}
				clk.Add(time.Minute - clk.Now().Sub(tick))
			}
			if n := fake.Limited(); n != 0 {
				t.Errorf("%d requests refused over quota (%d polls, %d failed part-way)", n, polls, failed)
			}
			if failed < 5 {
				t.Errorf("only %d of %d polls failed part-way: the test is not testing", failed, polls)
			}
			acc, err := s.GetAccount(ctx, w.Account.ID)
			if err != nil || acc.Status != store.AccountActive {
				t.Fatalf("account %q (%v), want active", acc.Status, err)
			}
			var rows []struct {
				Device string    `db:"device"`
				At     time.Time `db:"recorded_at"`
				N      int       `db:"n"`
			}
			if err := s.DB().Select(&rows, `SELECT d.provider_device_id AS device, r.recorded_at, COUNT(*) AS n
				FROM sensor_readings r JOIN integration_devices d ON d.id = r.device_id
				GROUP BY d.provider_device_id, r.recorded_at`); err != nil {
				t.Fatal(err)
			}
			perDevice := map[string]int{}
			for _, r := range rows {
				if r.N != 1 {
					t.Errorf("%s at %v stored %d times", r.Device, r.At, r.N)
				}
				perDevice[r.Device]++
			}
			// A poll of all 26 pools spends the hour's budget, and each failure spends
			// part of an hour's: an ICO whose hourly measure is not read before the next
			// replaces it loses that one (/lastmeasures has only the newest). None may
			// be starved.
			for _, d := range devices {
				if perDevice[d] < hours/4 {
					t.Errorf("%s: %d hourly measures stored in %d hours", d, perDevice[d], hours)
				}
			}
			t.Logf("%d polls, %d failed part-way; measures stored per ICO: %v", polls, failed, perDevice)
		})
	}
}
