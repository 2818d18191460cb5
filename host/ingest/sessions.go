package ingest

import (
	"context"
	"slices"
	"time"

	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
)

// Test sessions a provider submits (sdk.TestSession) travel with readings in one
// request and one transaction, but they are water tests, not sensor readings: each
// becomes a test session of its device's pool (store.InsertTestSession), routed by
// resolve exactly as a reading of the same device would be, its results judged by
// CheckMeasurement exactly as readings are.

// TestMethods are the methods of a water test. A provider's session with another
// method, or none, is stored as "other".
var TestMethods = judge.Methods

// Reasons a whole test session is dropped, besides the readings' time and device ones.
const (
	// DropNoResults: none of the session's results could be kept.
	DropNoResults = judge.NoResults
	// DropDuplicateMetric: a session has one result per metric; a repeated one is
	// dropped (a result's reason, like the measurement ones).
	DropDuplicateMetric = judge.DuplicateMetric
)

// SessionsResult counts what became of a request's test sessions.
type SessionsResult struct {
	// Accepted sessions were stored; Duplicates were already (a redelivery: same
	// device, same time taken). A session fanned out to several linked copies of one
	// device counts once per copy.
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	// Dropped counts sessions stored nowhere, by reason: no_results, too_far_future,
	// too_old, or a device reason (unknown_device, foreign_device, ...).
	Dropped map[string]int `json:"dropped"`
	// ResultsDropped counts the results left out of sessions, by reason: the readings'
	// measurement reasons (unknown_metric, bad_unit, ...) and duplicate_metric.
	ResultsDropped map[string]int `json:"resultsDropped"`
}

func (r *SessionsResult) clone() *SessionsResult {
	if r == nil {
		return nil
	}
	c := *r
	c.Dropped, c.ResultsDropped = map[string]int{}, map[string]int{}
	for k, v := range r.Dropped {
		c.Dropped[k] = v
	}
	for k, v := range r.ResultsDropped {
		c.ResultsDropped[k] = v
	}
	return &c
}

// DroppedResult says why one submitted result was not kept.
type DroppedResult = judge.DroppedResult

// CheckResults judges a session's results exactly as readings' values are
// (judge.Results): the kept ones in canonical units, and the dropped ones with their
// reasons. Members' sessions (host/pools) and providers' go through it alike.
func CheckResults(in []sdk.TestResult) ([]store.TestResult, []DroppedResult) {
	kept, dropped := judge.Results(in)
	return storeResults(kept), dropped
}

func storeResults(in []judge.Result) []store.TestResult {
	out := make([]store.TestResult, len(in))
	for i, r := range in {
		out[i] = store.TestResult{Metric: r.Metric, Value: r.Value, Unit: r.Unit, Quality: string(r.Quality), Qualifier: string(r.Qualifier)}
	}
	return out
}

// checkedSession is a provider's session that passed the device-independent checks.
type checkedSession struct {
	in      sdk.TestSession
	takenAt time.Time
	untimed bool
	method  string
	results []store.TestResult
}

// prepareSessions runs the device-independent checks on req's sessions, into p.
func (p *pending) prepareSessions(win Window) {
	if len(p.req.TestSessions) == 0 {
		return
	}
	sr := &SessionsResult{Dropped: map[string]int{}, ResultsDropped: map[string]int{}}
	p.checked.TestSessions = sr
	seen := make(map[string]bool, len(p.ids))
	for _, id := range p.ids {
		seen[id] = true
	}
	for _, s := range p.req.TestSessions {
		k, dropped, reason := judge.Session(s, p.receivedAt, win)
		for _, d := range dropped {
			sr.ResultsDropped[d.Reason]++
		}
		if reason != "" {
			sr.Dropped[reason]++
			continue
		}
		untimed := k.Untimed
		p.sessions = append(p.sessions, checkedSession{
			in: s, takenAt: k.TakenAt, untimed: untimed, method: k.Method, results: storeResults(k.Results),
		})
		if untimed && p.req.DeliveryID != "" {
			p.untimedDelivery = true
		}
		if !seen[s.ProviderDeviceID] && s.ProviderDeviceID != "" {
			seen[s.ProviderDeviceID] = true
			p.ids = append(p.ids, s.ProviderDeviceID)
		}
	}
}

// buildSessions resolves the checked sessions against devices into rows, as build does
// for readings with the same targets.
func (p *pending) buildSessions(targets targets) {
	p.sessionRows, p.sessionStampLater = nil, nil
	sr := p.res.TestSessions
	for _, s := range p.sessions {
		t, ok := targets.get(s.in.ProviderDeviceID)
		if !ok {
			t.reason = DropUnknownDevice
		}
		p.res.noteInactive(t.inactive)
		if t.reason != "" {
			sr.Dropped[t.reason]++
			if t.reason == DropUnverifiedDevice || t.reason == DropAmbiguousDevice {
				p.res.noteUnowned(t.reason, s.in.ProviderDeviceID)
			}
			continue
		}
		for _, d := range t.devices {
			if s.untimed {
				p.sessionStampLater = append(p.sessionStampLater, len(p.sessionRows))
			}
			id := d.ID
			p.sessionRows = append(p.sessionRows, store.TestSession{
				PoolID: d.PoolID, TakenAt: s.takenAt, Method: s.method, Notes: s.in.Notes,
				Provider: p.req.Provider, DeviceID: &id, Results: slices.Clone(s.results),
			})
		}
	}
}

// insertSessions stores the session rows in tx, counting new ones and replays.
func (p *pending) insertSessions(ctx context.Context, tx *store.Tx) error {
	sr := p.res.TestSessions
	if sr == nil {
		return nil
	}
	sr.Accepted, sr.Duplicates = 0, 0
	for _, row := range p.sessionRows {
		_, inserted, err := tx.InsertTestSession(ctx, row)
		if err != nil {
			return err
		}
		if inserted {
			sr.Accepted++
		} else {
			sr.Duplicates++
		}
	}
	return nil
}
