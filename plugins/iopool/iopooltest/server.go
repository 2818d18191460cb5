// Package iopooltest is a fake iopool API for tests: an httptest server that speaks the
// documented GET /v1/pools and GET /v1/pool/{id} shapes (see testdata/, copied from the
// community documentation) behind an x-api-key header, with knobs for revoked keys,
// quota exhaustion and upstream failures. The adapter's own tests and the host's
// end-to-end tests both use it; point the adapter's base_url setting at Server.URL.
package iopooltest

import (
	"embed"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

//go:embed testdata/*.json
var fixtures embed.FS

// APIKey is the key a new Server accepts.
const APIKey = "iopool-test-key-7f3c9a2b"

// SamplePoolID is the id of the documented sample pool ("Bazemont").
const SamplePoolID = "1caa59d4-afe2-4383-b093-f127ec4b0432"

// Pool is a pool in iopool's shape. LatestMeasure is omitted when nil, as for a pool
// whose sensor has not measured yet.
type Pool struct {
	ID                  string          `json:"id"`
	Title               string          `json:"title"`
	LatestMeasure       *Measure        `json:"latestMeasure,omitempty"`
	Mode                string          `json:"mode"`
	HasAnActionRequired bool            `json:"hasAnActionRequired"`
	Advice              json.RawMessage `json:"advice,omitempty"`
}

// Measure is a pool's latestMeasure. Nil values are sent as null. Mode is one of
// standard, live, maintenance, manual, backup, gateway; MeasuredAt is RFC 3339 UTC.
type Measure struct {
	Temperature *float64 `json:"temperature"`
	PH          *float64 `json:"ph"`
	ORP         *float64 `json:"orp"`
	Mode        string   `json:"mode"`
	IsValid     bool     `json:"isValid"`
	EcoID       string   `json:"ecoId"`
	MeasuredAt  string   `json:"measuredAt"`
}

// Server is the fake. It starts with the documented sample pool and accepts [APIKey].
type Server struct {
	// URL is the base URL to configure as the adapter's base_url.
	URL string
	srv *httptest.Server

	mu           sync.Mutex
	pools        []Pool
	keys         map[string]bool
	rejectStatus int
	status       int
	failCount    int
	failStatus   int
	retryAfter   string
	requests     []string
}

// NewServer starts a fake loaded with the sample pool and stops it when tb ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	b, err := fixtures.ReadFile("testdata/pools.json")
	if err != nil {
		tb.Fatalf("iopooltest: read fixture: %v", err)
	}
	s := &Server{keys: map[string]bool{APIKey: true}, rejectStatus: http.StatusUnauthorized}
	if err := json.Unmarshal(b, &s.pools); err != nil {
		tb.Fatalf("iopooltest: decode fixture: %v", err)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Fixture returns a testdata file's bytes, e.g. "pool.json".
func Fixture(name string) ([]byte, error) { return fixtures.ReadFile("testdata/" + name) }

// AddKey makes key valid; RevokeKey makes it answer the rejection status.
func (s *Server) AddKey(key string) { s.mu.Lock(); s.keys[key] = true; s.mu.Unlock() }

// RevokeKey invalidates key, as when the user regenerates it in the app.
func (s *Server) RevokeKey(key string) { s.mu.Lock(); delete(s.keys, key); s.mu.Unlock() }

// SetRejectStatus sets what an unknown key gets (401 by default; API gateways often
// answer 403).
func (s *Server) SetRejectStatus(status int) { s.mu.Lock(); s.rejectStatus = status; s.mu.Unlock() }

// SetStatus makes every request answer status (e.g. 429, 503); 0 restores service.
func (s *Server) SetStatus(status int) { s.mu.Lock(); s.status = status; s.mu.Unlock() }

// SetRetryAfter sets the Retry-After header (RFC 9110: seconds or an HTTP date) of the
// answers SetStatus and FailNext force; "" sends none.
func (s *Server) SetRetryAfter(v string) { s.mu.Lock(); s.retryAfter = v; s.mu.Unlock() }

// FailNext makes the next n requests answer status.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCount, s.failStatus = n, status
}

// SetPools replaces every pool.
func (s *Server) SetPools(ps []Pool) { s.mu.Lock(); s.pools = slices.Clone(ps); s.mu.Unlock() }

// Pools returns a copy of the current pools.
func (s *Server) Pools() []Pool { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.pools) }

// SetLatestMeasure replaces a pool's latest measure (nil: none).
func (s *Server) SetLatestMeasure(poolID string, m *Measure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.pools {
		if s.pools[i].ID == poolID {
			s.pools[i].LatestMeasure = m
		}
	}
}

// Requests lists the paths served so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.URL.Path)
	if s.status != 0 {
		s.setRetryAfter(w)
		writeJSON(w, s.status, map[string]string{"message": http.StatusText(s.status)})
		return
	}
	if s.failCount > 0 {
		s.failCount--
		s.setRetryAfter(w)
		writeJSON(w, s.failStatus, map[string]string{"message": http.StatusText(s.failStatus)})
		return
	}
	if !s.keys[r.Header.Get("x-api-key")] {
		writeJSON(w, s.rejectStatus, map[string]string{"message": http.StatusText(s.rejectStatus)})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method Not Allowed"})
		return
	}
	if r.URL.Path == "/v1/pools" {
		out := s.pools
		if out == nil {
			out = []Pool{}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/pool/"); ok {
		for _, p := range s.pools {
			if p.ID == id {
				writeJSON(w, http.StatusOK, p)
				return
			}
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

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

// Float is a convenience for Measure values.
func Float(v float64) *float64 { return &v }
