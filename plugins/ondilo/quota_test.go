package ondilo_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk"
)

// TestQuietPoolsStayInQuota: an account with several pools whose ICOs have stopped
// measuring (winter, a flat battery): nothing new on any poll for a day. Polled as the
// host does — every MinPollInterval, or at the adapter's NotBefore when later — the
// account must stay inside Ondilo's documented 30 requests an hour per user: a poll
// costs one request per pool plus /pools, and polls of quiet pools come every
// interval, so the adapter has to space them by what they cost — and, past 26 pools
// (14 when it looks for every ICO), read them over several polls.
func TestQuietPoolsStayInQuota(t *testing.T) {
	for _, pools := range []int{1, 4, 5, 6, 8, 14, 15, 27, 40} {
		t.Run(strconv.Itoa(pools)+" pools", func(t *testing.T) {
			ctx := context.Background()
			// The adapter paces one poll's requests on the wall clock (250 ms apart by
			// default, under 5 a second); the fake sees them that far apart on the
			// simulated one.
			var mu sync.Mutex
			now := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			request := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				now = now.Add(ondilo.DefaultRequestSpacing)
				return now
			}
			set := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }
			fake := ondilotest.NewServer(t)
			fake.RemovePools()
			last := clock().Add(-30 * 24 * time.Hour).Format("2006-01-02 15:04:05")
			for i := range pools {
				id := int64(500 + i)
				fake.AddPool(ondilotest.Pool{ID: id, Name: fmt.Sprint("pool ", i)},
					&ondilotest.Device{UUID: fmt.Sprintf("ico-%d", i)},
					[]ondilotest.Measure{{DataType: "ph", Value: ondilotest.Float(7.2), ValueTime: last, IsValid: true}})
			}
			fake.Realistic(request)
			access, refresh := fake.IssueTokens()
			creds := sdk.Credentials{"access_token": access, "refresh_token": refresh, "expiry": clock().Add(time.Hour).Format(time.RFC3339)}
			ad := ondilo.New(ondilo.WithClock(clock), ondilo.WithRequestSpacing(0))
			if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
				t.Fatal(err)
			}
			cursor := ""
			end := clock().Add(24 * time.Hour)
			polls := 0
			for clock().Before(end) {
				res, err := ad.PollReadings(ctx, sdk.PollRequest{Account: sdk.Account{ID: "1", Credentials: creds}, Cursor: cursor})
				if err != nil {
					t.Fatalf("poll %d at %s: %v (%d calls refused over quota)", polls, clock().Format("15:04"), err, fake.Limited())
				}
				polls++
				if res.RefreshedCredentials != nil {
					creds = res.RefreshedCredentials
				}
				cursor = res.NextCursor
				next := clock().Add(ondilo.MinPollInterval)
				if res.NotBefore.After(next) {
					next = res.NotBefore
				}
				set(next)
			}
			if n := fake.Limited(); n != 0 {
				t.Errorf("%d calls answered 429 Limit Exceeded in a quiet day of %d polls", n, polls)
			}
			t.Logf("%d polls in 24 h", polls)
		})
	}
}

// TestFailedPollsStayInQuota: polls that fail part-way — a 503 after some of the
// poll's requests were served — over two simulated days, against a fake that refuses
// what Ondilo's 30 requests an hour refuse. The host stores the cursor a failed poll
// hands back (sdk.WithNextCursor) and polls again after its backoff, here the shortest
// it can be, MinPollInterval. The requests a failed poll spent count against the hour
// as a successful poll's do, so no request may be refused over quota; and the pools are
// still all read, none of their measures returned twice. Before, the failed poll's
// requests were forgotten: the next poll, a quarter of an hour later, spent the hour's
// whole budget again on top of them.
func TestFailedPollsStayInQuota(t *testing.T) {
	for _, pools := range []int{3, 12, 40} {
		t.Run(strconv.Itoa(pools)+" pools", func(t *testing.T) {
			ctx := context.Background()
			start := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
			clk := &simClock{now: start}
			fake := ondilotest.NewServer(t)
			fake.RemovePools()
			for i := range pools {
				id := int64(700 + i)
				fake.AddPool(ondilotest.Pool{ID: id, Name: fmt.Sprint("pool ", i)}, &ondilotest.Device{UUID: fmt.Sprintf("ico-%d", i)}, nil)
			}
			fake.Realistic(clk.request)
			access, refresh := fake.IssueTokens()
			creds := sdk.Credentials{"access_token": access, "refresh_token": refresh, "expiry": start.Add(time.Hour).Format(time.RFC3339)}
			ad := ondilo.New(ondilo.WithClock(clk.Now), ondilo.WithRequestSpacing(0))
			if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
				t.Fatal(err)
			}
			cursor := ""
			returned := map[string]int{}
			read := map[string]bool{}
			polls, failed := 0, 0
			for clk.Now().Before(start.Add(48 * time.Hour)) {
				// Every ICO measures on the hour.
				vt := clk.Now().Truncate(time.Hour).Format(valueTime)
				for i := range pools {
					fake.SetMeasures(int64(700+i), []ondilotest.Measure{{DataType: "ph", Value: ondilotest.Float(7.2), ValueTime: vt, IsValid: true}})
				}
				// Every third poll fails after 1 to 9 requests served.
				if polls%3 == 1 {
					fake.FailAfter(1+polls%9, 1, http.StatusServiceUnavailable)
				}
				res, err := ad.PollReadings(ctx, sdk.PollRequest{Account: sdk.Account{ID: "1", Credentials: creds}, Cursor: cursor})
				polls++
				next := clk.Now().Add(ondilo.MinPollInterval)
				if err != nil {
					if sdk.KindOf(err) != sdk.KindTemporary {
						t.Fatalf("poll %d: %v, want a temporary failure", polls, err)
					}
					failed++
					fake.FailNext(0, 0)
					if c, ok := sdk.NextCursorOf(err); ok {
						cursor = c
					}
					if fresh, ok := sdk.RefreshedCredentialsOf(err); ok {
						creds = fresh
					}
					clk.Set(next)
					continue
				}
				if res.RefreshedCredentials != nil {
					creds = res.RefreshedCredentials
				}
				cursor = res.NextCursor
				for _, r := range res.Readings {
					returned[r.ProviderDeviceID+"|"+r.Metric+"|"+r.RecordedAt.String()]++
					read[r.ProviderDeviceID] = true
				}
				if res.NotBefore.After(next) {
					next = res.NotBefore
				}
				clk.Set(next)
			}
			if n := fake.Limited(); n != 0 {
				t.Errorf("%d requests refused over quota in %d polls (%d failed part-way)", n, polls, failed)
			}
			if failed < 10 {
				t.Errorf("only %d of %d polls failed part-way: the test is not testing", failed, polls)
			}
			if len(read) != pools {
				t.Errorf("%d of %d ICOs read", len(read), pools)
			}
			for k, n := range returned {
				if n != 1 {
					t.Errorf("%s returned %d times", k, n)
				}
			}
			t.Logf("%d polls, %d failed part-way, %d measures returned", polls, failed, len(returned))
		})
	}
}
