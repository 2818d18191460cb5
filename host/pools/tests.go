package pools

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// Methods of a water test.
var Methods = ingest.TestMethods

// Test session limits.
const (
	MaxResults     = 64
	MaxNotesLength = 2000
)

// testWindow bounds a test session's takenAt like ingest bounds readings' times: a lab
// report can arrive weeks after the sample, so the past reaches further than for sensors.
var testWindow = ingest.Window{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 10 * 365 * 24 * time.Hour}

// ResultInput is one result as submitted: any unit the metric accepts.
type ResultInput struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
	// Qualifier "above" or "below" says Value is a bound of the test's range ("FC > 10"
	// is 10, above); omitted, the value is exact. Any other is dropped as bad_qualifier.
	Qualifier string `json:"qualifier,omitempty"`
}

// NewTestSession is a session as submitted by a member.
type NewTestSession struct {
	// TakenAt nil (omitted) means now. Given, it is judged like any time, so Go's zero
	// time (0001-01-01T00:00:00Z, an unset time.Time serialized) is refused as too old
	// rather than read as "now".
	TakenAt *time.Time    `json:"takenAt"`
	Method  string        `json:"method"`
	Notes   string        `json:"notes"`
	Results []ResultInput `json:"results"`
}

// TestSession is a stored session as members see it.
type TestSession struct {
	ID      int64     `json:"id"`
	PoolID  int64     `json:"poolId"`
	TakenAt time.Time `json:"takenAt"`
	Method  string    `json:"method"`
	Notes   string    `json:"notes"`
	// Source is "member" (AuthorID entered it) or "provider" (Provider submitted it for
	// its device DeviceID).
	Source    string       `json:"source"`
	AuthorID  *int64       `json:"authorId,omitempty"`
	Provider  string       `json:"provider,omitempty"`
	DeviceID  *int64       `json:"deviceId,omitempty"`
	CreatedAt time.Time    `json:"createdAt"`
	Results   []TestResult `json:"results"`
}

// TestResult is a stored result, in its metric's canonical unit.
type TestResult struct {
	Metric  string  `json:"metric"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Quality string  `json:"quality,omitempty"`
	// Qualifier "above" or "below": Value is the bound of the test's range.
	Qualifier string `json:"qualifier,omitempty"`
}

// DroppedResult says why one submitted result was not kept.
type DroppedResult = ingest.DroppedResult

// Sources of a test session.
const (
	SourceMember   = "member"
	SourceProvider = "provider"
)

// Created is the answer to a new session: what was kept, and what was dropped by reason
// (the reasons and counts of ingest.Result.Dropped).
type Created struct {
	Session        TestSession     `json:"session"`
	Dropped        map[string]int  `json:"dropped"`
	DroppedResults []DroppedResult `json:"droppedResults"`
}

func sessionOf(s store.TestSession) TestSession {
	out := TestSession{ID: s.ID, PoolID: s.PoolID, TakenAt: s.TakenAt.UTC(), Method: s.Method, Notes: s.Notes,
		Source: SourceMember, AuthorID: s.AuthorID, Provider: s.Provider, DeviceID: s.DeviceID,
		CreatedAt: s.CreatedAt.UTC(), Results: make([]TestResult, 0, len(s.Results))}
	if s.Provider != "" {
		out.Source = SourceProvider
	}
	for _, r := range s.Results {
		out.Results = append(out.Results, TestResult{Metric: r.Metric, Value: r.Value, Unit: r.Unit, Quality: r.Quality, Qualifier: r.Qualifier})
	}
	return out
}

// CheckResults validates and converts a session's results exactly as sensor readings
// are, and as a provider's sessions' are (ingest.CheckResults): the kept results in
// canonical units, and the dropped ones with their reasons. A metric given twice keeps
// its first result.
func CheckResults(in []ResultInput) ([]store.TestResult, map[string]int, []DroppedResult) {
	rs := make([]sdk.TestResult, len(in))
	for i, r := range in {
		rs[i] = sdk.TestResult{Metric: r.Metric, Value: r.Value, Unit: r.Unit, Qualifier: sdk.Qualifier(r.Qualifier)}
	}
	kept, list := ingest.CheckResults(rs)
	dropped := map[string]int{}
	for _, d := range list {
		dropped[d.Reason]++
	}
	return kept, dropped, list
}

// DropDuplicateMetric: a session has one result per metric; a repeated one is dropped.
const DropDuplicateMetric = ingest.DropDuplicateMetric

// CreateTestSession stores a member's water test. Owners and editors.
func (s *Service) CreateTestSession(ctx context.Context, a auth.Actor, poolID int64, in NewTestSession) (Created, error) {
	if _, err := s.Require(ctx, a, poolID, Editor); err != nil {
		return Created{}, err
	}
	if !slices.Contains(Methods, in.Method) {
		return Created{}, host.Errorf(host.EINVALID, "method must be one of %s", strings.Join(Methods, ", "))
	}
	if len(in.Notes) > MaxNotesLength {
		return Created{}, host.Errorf(host.EINVALID, "notes must be at most %d characters", MaxNotesLength)
	}
	if err := host.CheckText("notes", in.Notes, true); err != nil {
		return Created{}, err
	}
	if len(in.Results) == 0 || len(in.Results) > MaxResults {
		return Created{}, host.Errorf(host.EINVALID, "results must list 1 to %d results", MaxResults)
	}
	now := s.now()
	takenAt := now
	if in.TakenAt != nil {
		takenAt = *in.TakenAt
	}
	switch testWindow.Check(takenAt, now) {
	case ingest.DropTooFarFuture:
		return Created{}, host.Errorf(host.EINVALID, "takenAt is in the future")
	case ingest.DropTooOld:
		return Created{}, host.Errorf(host.EINVALID, "takenAt is more than ten years ago")
	}
	kept, dropped, list := CheckResults(in.Results)
	if len(kept) == 0 {
		reasons := make([]string, 0, len(list))
		for _, d := range list {
			reasons = append(reasons, d.Metric+": "+d.Reason)
		}
		return Created{}, host.Errorf(host.EINVALID, "no result could be kept (%s)", strings.Join(reasons, "; "))
	}
	author := a.UserID
	st, err := s.st.InsertMemberTestSession(ctx, store.TestSession{
		PoolID: poolID, TakenAt: takenAt, Method: in.Method, Notes: in.Notes, AuthorID: &author, Results: kept,
	}, s.maxTestSessionsPerPool())
	if err != nil {
		return Created{}, err
	}
	return Created{Session: sessionOf(st), Dropped: dropped, DroppedResults: list}, nil
}

// TestSessionsPage is one page of sessions, newest first; Next is nil on the last page.
type TestSessionsPage struct {
	Sessions []TestSession
	Next     *ReadingPos
}

// TestSessions lists a pool's sessions, newest first. Any member.
func (s *Service) TestSessions(ctx context.Context, a auth.Actor, poolID int64, limit int, before *ReadingPos) (TestSessionsPage, error) {
	if _, err := s.Require(ctx, a, poolID, Viewer); err != nil {
		return TestSessionsPage{}, err
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		return TestSessionsPage{}, host.Errorf(host.EINVALID, "limit must be at most %d", MaxLimit)
	}
	var cur *store.TestSessionCursor
	if before != nil {
		cur = &store.TestSessionCursor{TakenAt: before.RecordedAt, ID: before.ID}
	}
	ss, next, err := s.st.ListTestSessions(ctx, poolID, cur, limit)
	if err != nil {
		return TestSessionsPage{}, err
	}
	page := TestSessionsPage{Sessions: make([]TestSession, 0, len(ss))}
	for _, x := range ss {
		page.Sessions = append(page.Sessions, sessionOf(x))
	}
	if next != nil {
		page.Next = &ReadingPos{RecordedAt: next.TakenAt, ID: next.ID}
	}
	return page, nil
}

// TestSession returns one session. Any member.
func (s *Service) TestSession(ctx context.Context, a auth.Actor, poolID, id int64) (TestSession, error) {
	if _, err := s.Require(ctx, a, poolID, Viewer); err != nil {
		return TestSession{}, err
	}
	st, err := s.st.GetTestSession(ctx, poolID, id)
	if errors.Is(err, store.ErrNotFound) {
		return TestSession{}, host.Wrap(host.ENOTFOUND, err, "no such test session")
	}
	if err != nil {
		return TestSession{}, err
	}
	return sessionOf(st), nil
}

// DeleteTestSession deletes a session: its author while an owner or editor, or an owner.
func (s *Service) DeleteTestSession(ctx context.Context, a auth.Actor, poolID, id int64) error {
	role, err := s.Require(ctx, a, poolID, Viewer)
	if err != nil {
		return err
	}
	st, err := s.st.GetTestSession(ctx, poolID, id)
	if errors.Is(err, store.ErrNotFound) {
		return host.Wrap(host.ENOTFOUND, err, "no such test session")
	}
	if err != nil {
		return err
	}
	// The author deletes it only while they may still write to the pool: lowered to
	// viewer, the pool's measured history is read-only to them like anything else.
	isAuthor := st.AuthorID != nil && *st.AuthorID == a.UserID
	switch {
	case role == Owner:
	case !isAuthor:
		return host.Errorf(host.EFORBIDDEN, "only the session's author or a pool owner may delete it")
	case !role.AtLeast(Editor):
		return host.Errorf(host.EFORBIDDEN, "deleting your test session needs the editor role on the pool; you are %s", role)
	}
	if err := s.st.DeleteTestSession(ctx, poolID, id); err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Entry{
		Action: audit.TestSessionDeleted, Actor: a, TargetType: "pool", TargetID: strconv.FormatInt(poolID, 10),
		Details: map[string]any{"sessionId": id, "takenAt": st.TakenAt.UTC(), "results": len(st.Results)},
	})
	return nil
}
