package broken

import (
	"context"
	"sync"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// Poll bugs: each makes [Poller] wrong in one way a provider team's poll has been.
const (
	PollCorrect = ""
	// PollIgnoresCursor answers every reading whatever the cursor, and the cursor it
	// was given: it never advances.
	PollIgnoresCursor = "ignores-cursor"
	// PollInclusiveCursor resumes at the cursor's reading rather than after it, so each
	// poll answers the previous poll's last reading again.
	PollInclusiveCursor = "inclusive-cursor"
	// PollEmitsPH names its metric "pH", outside the vocabulary.
	PollEmitsPH = "emits-pH"
	// PollAbsurdValue reports a pH of 42, outside the metric's range.
	PollAbsurdValue = "absurd-value"
	// PollFailsWhenEmpty turns "nothing new" into an error.
	PollFailsWhenEmpty = "fails-when-empty"
	// PollResetsWhenEmpty answers NextCursor "" when it finds nothing new: the host stores
	// it, and the next poll starts from the beginning.
	PollResetsWhenEmpty = "resets-when-empty"
	// PollNULCursor answers a cursor holding a NUL byte, which the database cannot store.
	PollNULCursor = "nul-cursor"
	// PollDropsCredentials refreshes an expired token, which rotates the refresh token,
	// but does not hand the new tokens back: the next poll is locked out.
	PollDropsCredentials = "drops-credentials"
	// PollIgnoresDeadline waits on its upstream with no regard for its context, until
	// Release is closed.
	PollIgnoresDeadline = "ignores-deadline"
	// PollSlow honours its context but waits on an upstream slower than its deadline.
	PollSlow = "slow"
)

// PollAccount is the account the tests poll [Poller] with: its access token has expired,
// so the first poll refreshes it.
func PollAccount() sdk.Account {
	return sdk.Account{ID: "1", ExternalAccountID: "acct-1", Credentials: sdk.Credentials{"access_token": "expired", "refresh_token": "r1"}}
}

// Poller polls a fake provider of five pH readings, two a page, with the time of the
// last reading returned as its cursor; Bug makes it wrong. Use [NewPoller].
type Poller struct {
	Good
	Bug     string
	Release chan struct{} // PollIgnoresDeadline waits for it

	readings []sdk.Reading
	mu       sync.Mutex
	refresh  string // the refresh token the fake provider honours now
	n        int    // tokens minted
}

// NewPoller returns a Poller whose readings were measured in the last hour.
func NewPoller(bug string) *Poller {
	p := &Poller{Bug: bug, Release: make(chan struct{}), refresh: "r1"}
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i := range 5 {
		p.readings = append(p.readings, sdk.Reading{ProviderDeviceID: "pool-1", Metric: "ph", Value: 7.1 + float64(i)/10, RecordedAt: start.Add(time.Duration(i) * 10 * time.Minute)})
	}
	return p
}

func (p *Poller) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := p.Good.Describe(ctx)
	d.Capabilities.Poll = true
	return d, err
}

func (p *Poller) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	var res sdk.PollResult
	creds, err := p.authorize(req.Account.Credentials)
	if err != nil {
		return res, err
	}
	if p.Bug != PollDropsCredentials {
		res.RefreshedCredentials = creds
	}
	switch p.Bug {
	case PollIgnoresDeadline:
		<-p.Release
	case PollSlow:
		<-ctx.Done()
		return sdk.PollResult{}, ctx.Err()
	}
	var since time.Time
	if req.Cursor != "" {
		if since, err = time.Parse(time.RFC3339Nano, req.Cursor); err != nil {
			since = time.Time{}
		}
	}
	res.NextCursor = req.Cursor
	for _, r := range p.readings {
		newer := r.RecordedAt.After(since) || (p.Bug == PollInclusiveCursor && r.RecordedAt.Equal(since))
		if (newer || p.Bug == PollIgnoresCursor) && len(res.Readings) < 2 {
			res.Readings = append(res.Readings, r)
			if p.Bug != PollIgnoresCursor {
				res.NextCursor = r.RecordedAt.Format(time.RFC3339Nano)
			}
		}
	}
	for i := range res.Readings {
		switch p.Bug {
		case PollEmitsPH:
			res.Readings[i].Metric = "pH"
		case PollAbsurdValue:
			res.Readings[i].Value = 42
		}
	}
	if len(res.Readings) == 0 {
		switch p.Bug {
		case PollFailsWhenEmpty:
			return sdk.PollResult{}, sdk.Temporary("no new readings")
		case PollResetsWhenEmpty:
			res.NextCursor = ""
		}
	}
	if p.Bug == PollNULCursor {
		res.NextCursor += "\x00"
	}
	return res, nil
}

// authorize is the fake provider's token check: an expired access token is refreshed
// with the refresh token, which rotates (the old one is refused after). It returns the
// credentials refreshed, or nil when the access token was good.
func (p *Poller) authorize(creds sdk.Credentials) (sdk.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if creds["access_token"] != "expired" {
		return nil, nil
	}
	if creds["refresh_token"] != p.refresh {
		return nil, sdk.Reauth("refresh token %q was already used: the provider rotated it", creds["refresh_token"])
	}
	p.n++
	p.refresh = "r" + string(rune('1'+p.n))
	return sdk.Credentials{"access_token": "expired", "refresh_token": p.refresh}, nil
}
