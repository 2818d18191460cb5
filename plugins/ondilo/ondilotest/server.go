// Package ondilotest is a fake Ondilo customer API for tests: an httptest server that
// speaks the documented OAuth2 and /api/customer/v1 shapes (see testdata/, copied from
// the provider's published samples) with knobs for expired tokens, revoked grants,
// quota exhaustion and upstream failures. The adapter's own tests and the host's
// end-to-end tests both use it; point the adapter's base_url setting at Server.URL.
package ondilotest

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed testdata/*.json
var fixtures embed.FS

// ClientID is the public client the fake accepts, as the real API does.
const ClientID = "customer_api"

// AccessTokenLifetime is the expires_in the fake reports, in seconds.
const AccessTokenLifetime = 3600

// Pool is an entry of GET /pools, in Ondilo's shape.
type Pool struct {
	ID           int64           `json:"id"`
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	Volume       float64         `json:"volume"`
	Disinfection json.RawMessage `json:"disinfection,omitempty"`
	Address      json.RawMessage `json:"address,omitempty"`
	UpdatedAt    string          `json:"updated_at"`
}

// Device is GET /pools/{id}/device.
type Device struct {
	UUID         string `json:"uuid"`
	SerialNumber string `json:"serial_number"`
	SWVersion    string `json:"sw_version"`
}

// Measure is an entry of GET /pools/{id}/lastmeasures. Value and ExclusionReason are
// null when nil; ValueTime is "2006-01-02 15:04:05" in UTC without a zone.
type Measure struct {
	DataType        string   `json:"data_type"`
	Value           *float64 `json:"value"`
	ValueTime       string   `json:"value_time"`
	IsValid         bool     `json:"is_valid"`
	ExclusionReason *string  `json:"exclusion_reason"`
}

// UserInfo is GET /user/info: who the token's user is. Ondilo gives no numeric user id.
type UserInfo struct {
	LastName  string `json:"lastname"`
	FirstName string `json:"firstname"`
	Email     string `json:"email"`
}

type poolState struct {
	pool     Pool
	device   *Device
	measures []Measure
	config   json.RawMessage
}

// Server is the fake. Its zero pools are the documented sample: pool 234 "John's
// Pool" with ICO 111112222233333444445555 and the sample last measures (salt null);
// its user (GET /user/info) is John Doe, john.doe@example.com.
type Server struct {
	// URL is the base URL to configure as the adapter's base_url.
	URL string
	srv *httptest.Server

	mu            sync.Mutex
	pools         []*poolState
	user          *UserInfo
	codes         map[string]string // authorization code → redirect_uri
	access        map[string]bool   // valid access tokens
	refresh       map[string]bool   // valid refresh tokens
	issued        map[string]time.Time
	pairOf        map[string]string // refresh token → the access tokens minted with it (latest)
	now           func() time.Time
	rotate        bool
	expire        bool
	quota         bool
	calls         []time.Time // API calls inside the quota windows, oldest first
	limited       int
	served        []time.Time
	seq           int
	denyConsent   bool
	quotaStatus   int
	tokenQuota    int
	failStatus    int
	failCount     int
	failSkip      int
	retryAfter    string
	tokenFail     int
	tokenFailN    int
	requests      []string
	tokenRequests map[string]int
}

// NewServer starts a fake loaded with the sample data and stops it when tb ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		codes:         map[string]string{},
		access:        map[string]bool{},
		refresh:       map[string]bool{},
		issued:        map[string]time.Time{},
		pairOf:        map[string]string{},
		now:           time.Now,
		tokenRequests: map[string]int{},
	}
	var pools []Pool
	var dev Device
	var ms []Measure
	mustFixture(tb, "pools.json", &pools)
	mustFixture(tb, "device.json", &dev)
	mustFixture(tb, "lastmeasures.json", &ms)
	cfg, err := fixtures.ReadFile("testdata/configuration.json")
	if err != nil {
		tb.Fatalf("ondilotest: read configuration fixture: %v", err)
	}
	var user UserInfo
	mustFixture(tb, "userinfo.json", &user)
	s.user = &user
	for _, p := range pools {
		d := dev
		s.pools = append(s.pools, &poolState{pool: p, device: &d, measures: ms, config: cfg})
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

func mustFixture(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatalf("ondilotest: read fixture %s: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("ondilotest: decode fixture %s: %v", name, err)
	}
}

// Fixture returns a testdata file's bytes, e.g. "lastmeasures.json".
func Fixture(name string) ([]byte, error) { return fixtures.ReadFile("testdata/" + name) }

// SamplePoolID and SampleDeviceUUID identify the sample pool and its ICO.
const (
	SamplePoolID     = 234
	SampleDeviceUUID = "111112222233333444445555"
)

// Quota is Ondilo's documented per-user limit on the customer API.
const (
	QuotaPerHour   = 30
	QuotaPerSecond = 5
)

// Realistic makes the fake behave as the documentation says the real API does, for
// soaks over simulated time, on the clock now: access tokens expire AccessTokenLifetime
// after they are issued; a refresh rotates the pair, revoking the old refresh token and
// every access token minted with it; and API calls beyond QuotaPerSecond in a second or
// QuotaPerHour in an hour answer 429 {"message":"Limit Exceeded"} (the fake has one
// user, so the quota is the server's).
func (s *Server) Realistic(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now, s.rotate, s.expire, s.quota = now, true, true, true
}

// RotateRefreshTokens makes each refresh revoke the old pair, as a provider with
// rotating refresh tokens does.
func (s *Server) RotateRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate = true
}

// Limited counts the API calls answered 429 because of the quota.
func (s *Server) Limited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// Served lists when each API call the quota let through was made.
func (s *Server) Served() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.served)
}

// overQuota records an API call at now, reporting whether it exceeds the quota.
func (s *Server) overQuota(now time.Time) bool {
	keep := s.calls[:0]
	for _, t := range s.calls {
		if now.Sub(t) < time.Hour {
			keep = append(keep, t)
		}
	}
	s.calls = keep
	inSecond := 0
	for _, t := range s.calls {
		if now.Sub(t) < time.Second {
			inSecond++
		}
	}
	if len(s.calls) >= QuotaPerHour || inSecond >= QuotaPerSecond {
		return true
	}
	s.calls = append(s.calls, now)
	return false
}

// AddPool adds a pool; d may be nil for a pool without an ICO.
func (s *Server) AddPool(p Pool, d *Device, ms []Measure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools = append(s.pools, &poolState{pool: p, device: d, measures: ms, config: json.RawMessage(`{}`)})
}

// SetUserInfo replaces what GET /user/info answers; nil makes it answer 404, as a
// stand-in of the API that lacks the endpoint would.
func (s *Server) SetUserInfo(u *UserInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

// RemovePool deletes one pool, as when its user deletes it or a share is withdrawn.
func (s *Server) RemovePool(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools = slices.DeleteFunc(s.pools, func(p *poolState) bool { return p.pool.ID == id })
}

// RemovePools deletes every pool.
func (s *Server) RemovePools() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools = nil
}

// SetMeasures replaces a pool's last measures.
func (s *Server) SetMeasures(poolID int64, ms []Measure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pool(poolID); p != nil {
		p.measures = ms
	}
}

// SetDevice replaces a pool's ICO (nil: none).
func (s *Server) SetDevice(poolID int64, d *Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pool(poolID); p != nil {
		p.device = d
	}
}

// ExpireAccessTokens makes every access token issued so far answer 401, as after an hour.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// RevokeGrant revokes every token: the API answers 401 and the refresh grant 400
// invalid_grant, as when the user removes the app's access.
func (s *Server) RevokeGrant() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
	clear(s.refresh)
}

// DenyConsent makes the authorize page redirect back with error=access_denied.
func (s *Server) DenyConsent(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyConsent = deny
}

// SetQuotaExceeded makes every API call answer status with {"message":"Limit
// Exceeded"} (Ondilo's gateway uses 429); 0 lifts it.
func (s *Server) SetQuotaExceeded(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotaStatus = status
}

// SetTokenQuotaExceeded makes every token endpoint call answer status with
// {"message":"Limit Exceeded"}, and the Retry-After SetRetryAfter asked for; 0 lifts it.
// Ondilo documents the body, not the status it comes with.
func (s *Server) SetTokenQuotaExceeded(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenQuota = status
}

// SetRetryAfter sets the Retry-After header (RFC 9110: seconds or an HTTP date) of the
// quota and failure answers; "" sends none.
func (s *Server) SetRetryAfter(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = v
}

// FailNext makes the next n API calls (not token calls) answer status.
func (s *Server) FailNext(n, status int) {
	s.FailAfter(0, n, status)
}

// FailAfter lets the next k API calls through, then makes the n after them answer
// status: a poll failing part-way, after it spent k requests of the user's quota.
func (s *Server) FailAfter(k, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSkip, s.failCount, s.failStatus = k, n, status
}

// FailTokenNext makes the next n token endpoint calls answer status.
func (s *Server) FailTokenNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenFailN, s.tokenFail = n, status
}

// Requests lists the API paths (without query) served so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// TokenRequests counts token endpoint calls by grant_type.
func (s *Server) TokenRequests(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests[grant]
}

// IssueCode mints an authorization code bound to redirectURI, as the consent page
// would, for tests that skip the browser step.
func (s *Server) IssueCode(redirectURI string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueCode(redirectURI)
}

// IssueTokens mints a valid access and refresh token pair without the OAuth dance.
func (s *Server) IssueTokens() (access, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	access, refresh = s.next("at"), s.next("rt")
	s.access[access], s.refresh[refresh] = true, true
	s.issued[access], s.pairOf[refresh] = s.now(), access
	return access, refresh
}

func (s *Server) next(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%d", prefix, s.seq)
}

func (s *Server) issueCode(redirectURI string) string {
	c := s.next("code")
	s.codes[c] = redirectURI
	return c
}

func (s *Server) pool(id int64) *poolState {
	for _, p := range s.pools {
		if p.pool.ID == id {
			return p
		}
	}
	return nil
}

const apiPrefix = "/api/customer/v1"

var rePool = regexp.MustCompile(`^/api/customer/v1/pools/(\d+)/(device|lastmeasures|configuration)$`)

// limitBody is what Ondilo's gateway answers over quota.
var limitBody = map[string]string{"message": "Limit Exceeded"}

func errorBody(code string) map[string]string { return map[string]string{"error": code} }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/oauth2/authorize" && r.Method == http.MethodGet:
		s.authorize(w, r)
	case r.URL.Path == "/oauth2/token" && r.Method == http.MethodPost:
		s.token(w, r)
	case strings.HasPrefix(r.URL.Path, apiPrefix+"/") && r.Method == http.MethodGet:
		s.api(w, r)
	default:
		writeJSON(w, http.StatusNotFound, errorBody("not_found"))
	}
}

// authorize stands in for the consent page: it approves at once and redirects back.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("redirect_uri") == "" || q.Get("client_id") != ClientID ||
		q.Get("response_type") != "code" || q.Get("scope") != "api" {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request"))
		return
	}
	s.mu.Lock()
	back := redirect.Query()
	if s.denyConsent {
		back.Set("error", "access_denied")
	} else {
		back.Set("code", s.issueCode(q.Get("redirect_uri")))
	}
	s.mu.Unlock()
	back.Set("state", q.Get("state"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request"))
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	grant := f.Get("grant_type")
	s.tokenRequests[grant]++
	if s.tokenQuota != 0 {
		s.setRetryAfter(w)
		writeJSON(w, s.tokenQuota, limitBody)
		return
	}
	if s.tokenFailN > 0 {
		s.tokenFailN--
		writeJSON(w, s.tokenFail, map[string]string{"message": http.StatusText(s.tokenFail)})
		return
	}
	if f.Get("client_id") != ClientID {
		writeJSON(w, http.StatusUnauthorized, errorBody("invalid_client"))
		return
	}
	var refresh string
	switch grant {
	case "authorization_code":
		redirect, ok := s.codes[f.Get("code")]
		if !ok || redirect != f.Get("redirect_uri") {
			writeJSON(w, http.StatusBadRequest, errorBody("invalid_grant"))
			return
		}
		delete(s.codes, f.Get("code")) // single use
		refresh = s.next("rt")
		s.refresh[refresh] = true
	case "refresh_token":
		refresh = f.Get("refresh_token")
		if !s.refresh[refresh] {
			writeJSON(w, http.StatusBadRequest, errorBody("invalid_grant"))
			return
		}
		if s.rotate {
			old := refresh
			delete(s.refresh, old)
			delete(s.access, s.pairOf[old])
			delete(s.pairOf, old)
			refresh = s.next("rt")
			s.refresh[refresh] = true
		}
	default:
		writeJSON(w, http.StatusBadRequest, errorBody("unsupported_grant_type"))
		return
	}
	access := s.next("at")
	s.access[access] = true
	s.issued[access], s.pairOf[refresh] = s.now(), access
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"refresh_token": refresh,
		"expires_in":    AccessTokenLifetime,
		"token_type":    "Bearer",
		"scope":         "api",
	})
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.URL.Path)
	if s.quotaStatus != 0 {
		s.setRetryAfter(w)
		writeJSON(w, s.quotaStatus, limitBody)
		return
	}
	if now := s.now(); s.quota {
		if s.overQuota(now) {
			s.limited++
			s.setRetryAfter(w)
			writeJSON(w, http.StatusTooManyRequests, limitBody)
			return
		}
		s.served = append(s.served, now)
	}
	if s.failSkip > 0 {
		s.failSkip--
	} else if s.failCount > 0 {
		s.failCount--
		s.setRetryAfter(w)
		writeJSON(w, s.failStatus, map[string]string{"message": http.StatusText(s.failStatus)})
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && s.expire && s.now().Sub(s.issued[tok]) >= AccessTokenLifetime*time.Second {
		ok = false
	}
	if !ok || !s.access[tok] {
		writeJSON(w, http.StatusUnauthorized, errorBody("invalid_token"))
		return
	}
	if r.URL.Path == apiPrefix+"/user/info" {
		if s.user == nil {
			writeJSON(w, http.StatusNotFound, errorBody("not_found"))
			return
		}
		writeJSON(w, http.StatusOK, s.user)
		return
	}
	if r.URL.Path == apiPrefix+"/pools" {
		out := make([]Pool, 0, len(s.pools))
		for _, p := range s.pools {
			out = append(out, p.pool)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	m := rePool.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeJSON(w, http.StatusNotFound, errorBody("not_found"))
		return
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	p := s.pool(id)
	if p == nil {
		writeJSON(w, http.StatusNotFound, errorBody("not_found"))
		return
	}
	switch m[2] {
	case "device":
		if p.device == nil {
			writeJSON(w, http.StatusNotFound, errorBody("not_found"))
			return
		}
		writeJSON(w, http.StatusOK, p.device)
	case "configuration":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(p.config)
	case "lastmeasures":
		types := r.URL.Query()["types[]"]
		out := make([]Measure, 0, len(p.measures))
		for _, ms := range p.measures {
			if len(types) == 0 || slices.Contains(types, ms.DataType) {
				out = append(out, ms)
			}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// setRetryAfter adds the Retry-After SetRetryAfter asked for to a refusal.
func (s *Server) setRetryAfter(w http.ResponseWriter) {
	if s.retryAfter != "" {
		w.Header().Set("Retry-After", s.retryAfter)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Float is a convenience for Measure.Value.
func Float(v float64) *float64 { return &v }

// String is a convenience for Measure.ExclusionReason.
func String(v string) *string { return &v }
