package poll_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
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

// recordingPoller is the in-process Ondilo adapter, seen by the test: which refresh
// token each poll started with, and when. Every poll is told its access token has
// expired, so every poll refreshes — and rotates — its account's tokens.
type recordingPoller struct {
	inProcess

	mu    sync.Mutex
	polls map[string][]time.Time // account id → poll start times
	ok    map[string]int         // account id → polls that returned without error
	seen  map[string]string      // refresh token → the account that used it
	reuse []string
}

func (p *recordingPoller) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	p.mu.Lock()
	p.polls[req.Account.ID] = append(p.polls[req.Account.ID], time.Now())
	rt := req.Account.Credentials["refresh_token"]
	if _, dup := p.seen[rt]; dup {
		p.reuse = append(p.reuse, fmt.Sprintf("account %s reused %s", req.Account.ID, rt))
	}
	p.seen[rt] = req.Account.ID
	p.mu.Unlock()
	creds := sdk.Credentials{}
	for k, v := range req.Account.Credentials {
		creds[k] = v
	}
	creds["expiry"] = time.Now().Add(-time.Minute).Format(time.RFC3339) // refresh first
	req.Account.Credentials = creds
	res, err := p.inProcess.PollReadings(ctx, req)
	if err == nil {
		p.mu.Lock()
		p.ok[req.Account.ID]++
		p.mu.Unlock()
	}
	return res, err
}

func (p *recordingPoller) done(accounts, rounds int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ok) < accounts {
		return false
	}
	for _, n := range p.ok {
		if n < rounds {
			return false
		}
	}
	return true
}

// TestSlowUpstreamTwoWorkers: two poll workers (two replicas) over twenty Ondilo
// accounts with rotating refresh tokens, behind an upstream so slow that one poll takes
// longer than the lease divided by the batch. A worker that leased the whole batch and
// polled it in sequence outlived the leases of the accounts late in the batch; the other
// worker claimed those and polled them at the same time, with the same refresh token,
// and the loser of the two refreshes sent its user to reconnect. Each slot now holds one
// lease at a time, so every account is polled once per interval, every refresh token is
// used once, and no account needs reauthorisation.
func TestSlowUpstreamTwoWorkers(t *testing.T) {
	const (
		accounts = 20
		perCall  = 150 * time.Millisecond // per upstream request; a poll makes a few
		lease    = 10 * time.Second       // 20 polls in sequence take longer
		every    = 4 * time.Second        // poll interval
		rounds   = 2
	)
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s := eng.Open(t)
			fake := ondilotest.NewServer(t)
			fake.RotateRefreshTokens()
			target, _ := url.Parse(fake.URL)
			proxy := httputil.NewSingleHostReverseProxy(target)
			slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(perCall)
				proxy.ServeHTTP(w, r)
			}))
			t.Cleanup(slow.Close)

			ids := map[int64]bool{}
			for i := range accounts {
				access, refresh := fake.IssueTokens()
				w := ingesttest.Seed(t, s, ondilo.ID, fmt.Sprintf("u%d@example.com", i), map[string]string{
					"access_token": access, "refresh_token": refresh,
				}, []string{ondilotest.SampleDeviceUUID}, nil)
				ids[w.Account.ID] = true
			}

			ad := ondilo.New(ondilo.WithRequestSpacing(0))
			if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: slow.URL}}); err != nil {
				t.Fatal(err)
			}
			desc, err := ad.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			desc.Capabilities.MinPollInterval = 0 // the test's interval is seconds
			rec := &recordingPoller{inProcess: inProcess{ad, desc}, polls: map[string][]time.Time{}, ok: map[string]int{}, seen: map[string]string{}}

			providers := []config.Provider{{ID: ondilo.ID, Enabled: true, Poll: true, PollInterval: every}}
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 7 * 24 * time.Hour}, nil, nil)
			var workers []*poll.Worker
			for _, owner := range []string{"replica-a", "replica-b"} {
				w := poll.New(poll.Deps{
					Store: s, Ingest: ing,
					Pollers:   func(string) (poll.Poller, error) { return rec, nil },
					Providers: func() []config.Provider { return providers },
				}, poll.Config{
					PollWorker: config.PollWorker{Enabled: true, Interval: 50 * time.Millisecond, BatchSize: accounts, Lease: lease},
					Owner:      owner,
				})
				w.Start(ctx)
				workers = append(workers, w)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for !rec.done(accounts, rounds) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			for _, w := range workers {
				w.Close()
			}
			if !rec.done(accounts, rounds) {
				for id := range ids {
					ps, _ := s.GetPollState(ctx, id)
					t.Logf("account %d: next in %v, errors %d %q, polls %d", id, time.Until(ps.NextPollAt), ps.ConsecutiveErrors, ps.LastError, len(rec.polls[fmt.Sprint(id)]))
				}
				t.Fatalf("not every account was polled %d times: %d accounts polled", rounds, len(rec.polls))
			}

			rec.mu.Lock()
			defer rec.mu.Unlock()
			// Polls cut short by Close may not have refreshed; every finished one did.
			finished := 0
			for _, n := range rec.ok {
				finished += n
			}
			if n := fake.TokenRequests("refresh_token"); n < finished {
				t.Errorf("%d refreshes for %d polls; every poll must refresh", n, finished)
			}
			for _, r := range rec.reuse {
				t.Errorf("refresh token used twice: %s", r)
			}
			for id, ts := range rec.polls {
				for i := 1; i < len(ts); i++ {
					if gap := ts[i].Sub(ts[i-1]); gap < every {
						t.Errorf("account %s polled twice within one interval (%v apart)", id, gap)
					}
				}
			}
			for id := range ids {
				acc, err := s.GetAccount(ctx, id)
				if err != nil || acc.Status != store.AccountActive {
					t.Errorf("account %d is %q (%v), want active", id, acc.Status, err)
				}
				ps, err := s.GetPollState(ctx, id)
				if err != nil || ps.ConsecutiveErrors != 0 {
					t.Errorf("account %d: %d failed polls (%q), %v", id, ps.ConsecutiveErrors, ps.LastError, err)
				}
			}
		})
	}
}
