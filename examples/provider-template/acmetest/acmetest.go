// Package acmetest is a fake "Acme Pool Cloud": an httptest server that speaks the
// imagined provider API the template adapter talks to. The template's tests use it, and
// so can the host's end-to-end tests (start it, point the provider's base_url setting at
// Server.URL, and drive the OAuth dance with Authorize).
//
// When you copy the template for a real provider, rewrite this package to speak exactly
// the shapes the provider documents: it is how your adapter is tested without the
// network, so keep it honest (status codes, error bodies, token expiry).
package acmetest

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fixed identities of the fake. Tests configure the adapter with these.
const (
	ClientID     = "acme-client"
	ClientSecret = "acme-client-secret"
	AccountID    = "acct-42"
	AccountName  = "Jane Doe"
	// TokenLifetime is what the token endpoint answers as expires_in.
	TokenLifetime = time.Hour
)

// Device is an Acme device as the API lists it.
type Device struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Model    string `json:"model"`
	Firmware string `json:"firmware,omitempty"`
}

// Reading is an Acme measurement as the API and the webhooks carry it. Acme uses its
// own names ("water_temp", "free_cl") and may report temperature in °F: the adapter
// maps both.
type Reading struct {
	Type       string    `json:"type"`
	Value      float64   `json:"value"`
	Unit       string    `json:"unit,omitempty"`
	MeasuredAt time.Time `json:"measured_at"`
	Status     string    `json:"status,omitempty"` // "ok" or "calibrating"
}

// Server is the fake. Its knobs are safe to call from tests while requests are served.
type Server struct {
	// URL is the base URL to put in the adapter's base_url setting.
	URL string

	srv *httptest.Server

	mu          sync.Mutex
	seq         int
	codes       map[string]string // authorization code → redirect_uri it was issued for
	challenges  map[string]string // authorization code → its PKCE code_challenge, if any
	pkce        int               // code exchanges that proved a PKCE verifier
	access      map[string]bool   // valid access tokens
	refresh     map[string]bool   // valid refresh tokens
	devices     []Device
	accountID   string               // "": AccountID
	accountName string               // "": AccountName
	readings    map[string][]Reading // device id → readings in arrival order
	failNext    []int                // statuses the next API calls answer with
	retryAfter  string               // Retry-After of a failed 429 or 503 ("": none)
	requests    map[string]int       // "METHOD /path" → count
	commands    []Command            // accepted commands (commands.go)
	pageLimit   int
}

// NewServer starts a fake with one account owning two devices and a few readings.
// Close it when done.
func NewServer() *Server {
	s := &Server{
		codes:      map[string]string{},
		challenges: map[string]string{},
		access:     map[string]bool{},
		refresh:    map[string]bool{},
		requests:   map[string]int{},
		pageLimit:  100,
		devices: []Device{
			{ID: "dev-1", Name: "Backyard pool", Model: "AcmeProbe 2", Firmware: "2.4.1"},
			{ID: "dev-2", Name: "Spa", Model: "AcmeProbe Mini"},
		},
		readings: map[string][]Reading{},
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s.readings["dev-1"] = []Reading{
		{Type: "ph", Value: 7.4, MeasuredAt: t0, Status: "ok"},
		{Type: "water_temp", Value: 78.8, Unit: "F", MeasuredAt: t0, Status: "ok"},
		{Type: "orp", Value: 700, Unit: "mV", MeasuredAt: t0, Status: "calibrating"},
	}
	s.readings["dev-2"] = []Reading{
		{Type: "free_cl", Value: 3.1, Unit: "ppm", MeasuredAt: t0.Add(time.Minute)},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth/token", s.handleToken)
	mux.HandleFunc("GET /api/me", s.api(s.handleMe))
	mux.HandleFunc("GET /api/devices", s.api(s.handleDevices))
	mux.HandleFunc("GET /api/devices/{id}/readings", s.api(s.handleReadings))
	mux.HandleFunc("POST /api/devices/{id}/commands", s.api(s.handleCommand))
	s.srv = httptest.NewServer(s.count(mux))
	s.URL = s.srv.URL
	return s
}

// PKCEExchanges counts the code exchanges that proved the PKCE verifier of the
// challenge sent to the consent page.
func (s *Server) PKCEExchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pkce
}

// SetAccountID makes the account API name the account id ("": AccountID again).
func (s *Server) SetAccountID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountID = id
}

// SetAccountName makes the account API name the account's holder so ("": AccountName
// again).
func (s *Server) SetAccountName(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountName = name
}

// SetDevices replaces the account's devices (none: an account without any yet).
func (s *Server) SetDevices(ds ...Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices = ds
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Authorize plays the user who clicks "Allow" on Acme's consent page: it follows the
// adapter's authorize URL and returns the code and state Acme redirects back with.
func (s *Server) Authorize(authorizeURL string) (code, state string, err error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authorizeURL)
	if err != nil {
		return "", "", fmt.Errorf("get authorize url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", "", fmt.Errorf("authorize: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", "", fmt.Errorf("parse redirect: %w", err)
	}
	return loc.Query().Get("code"), loc.Query().Get("state"), nil
}

// AddReading appends a reading for a device (it becomes visible to polls).
func (s *Server) AddReading(deviceID string, r Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readings[deviceID] = append(s.readings[deviceID], r)
}

// SetPageLimit caps how many readings one readings call returns (default 100).
func (s *Server) SetPageLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageLimit = n
}

// ExpireAccessTokens invalidates every access token issued so far: the next API call
// answers 401 and the adapter must refresh.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// RevokeRefreshTokens invalidates every refresh token (the user revoked the app): a
// refresh answers 400 invalid_grant and the adapter must ask for re-authorization.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
}

// FailNext makes the next len(statuses) API calls (not token calls) answer with the
// given statuses, in order. Use 429 or 503 to test temporary failures.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// SetRetryAfter sets the Retry-After header (seconds or an HTTP date) of the 429 and 503
// answers FailNext forces; "" sends none.
func (s *Server) SetRetryAfter(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = v
}

// Requests reports how many requests "METHOD /path" received, e.g. "POST /oauth/token".
func (s *Server) Requests(methodPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[methodPath]
}

// IssueTokens mints a valid access/refresh token pair without the OAuth dance, for
// tests that start from an already linked account.
func (s *Server) IssueTokens() (accessToken, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mintLocked()
}

func (s *Server) mintLocked() (string, string) {
	s.seq++
	at, rt := "at-"+strconv.Itoa(s.seq), "rt-"+strconv.Itoa(s.seq)
	s.access[at] = true
	s.refresh[rt] = true
	return at, rt
}

func (s *Server) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		s.mu.Lock()
		s.requests[key]++
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != ClientID || q.Get("redirect_uri") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	// PKCE (RFC 7636): Acme supports S256 only, and remembers the challenge with the code.
	challenge := q.Get("code_challenge")
	if challenge != "" && q.Get("code_challenge_method") != "S256" {
		http.Error(w, "unsupported code_challenge_method", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.seq++
	code := "code-" + strconv.Itoa(s.seq)
	s.codes[code] = q.Get("redirect_uri")
	s.challenges[code] = challenge
	s.mu.Unlock()
	rq := redirect.Query()
	rq.Set("code", code)
	rq.Set("state", q.Get("state"))
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// handleToken implements the two grants of RFC 6749 Acme supports, with client
// credentials in the form body (client_secret_post).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("client_secret") != ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		redirect, ok := s.codes[code]
		challenge := s.challenges[code]
		delete(s.codes, code) // codes are single use
		delete(s.challenges, code)
		if !ok || redirect != r.PostForm.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		if challenge != "" {
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
				oauthError(w, http.StatusBadRequest, "invalid_grant")
				return
			}
			s.pkce++
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		delete(s.refresh, rt) // Acme rotates refresh tokens
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	at, rt := s.mintLocked()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  at,
		"refresh_token": rt,
		"token_type":    "Bearer",
		"expires_in":    int(TokenLifetime / time.Second),
	})
}

// api wraps API handlers with the failure knob and bearer-token auth.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		var fail int
		if len(s.failNext) > 0 {
			fail, s.failNext = s.failNext[0], s.failNext[1:]
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		valid, retryAfter := s.access[token], s.retryAfter
		s.mu.Unlock()
		if fail != 0 {
			if retryAfter != "" && (fail == http.StatusTooManyRequests || fail == http.StatusServiceUnavailable) {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeJSON(w, fail, map[string]string{"error": http.StatusText(fail)})
			return
		}
		if !valid {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
			return
		}
		h(w, r)
	}
}

func (s *Server) handleMe(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	id, name := cmp.Or(s.accountID, AccountID), cmp.Or(s.accountName, AccountName)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "name": name, "email": "jane@example.com"})
}

func (s *Server) handleDevices(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	devices := slices.Clone(s.devices)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"devices": devices})
}

// handleReadings pages through a device's readings. Acme's cursor is opaque to
// clients; here it is simply the index of the next reading.
func (s *Server) handleReadings(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.ContainsFunc(s.devices, func(d Device) bool { return d.ID == id }) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such device"})
		return
	}
	start := 0
	if since := r.URL.Query().Get("since"); since != "" {
		n, err := strconv.Atoi(since)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad cursor"})
			return
		}
		start = n
	}
	all := s.readings[id]
	start = min(start, len(all))
	end := min(start+s.pageLimit, len(all))
	writeJSON(w, http.StatusOK, map[string]any{
		"readings":    all[start:end],
		"next_cursor": strconv.Itoa(end),
		"has_more":    end < len(all),
	})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
