package ondilo_test

import (
	"context"
	"fmt"
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
