// Package ttntest is a fake of The Things Stack's Application Server webhook downlink
// API, written from its public documentation ("Scheduling Downlinks" with webhooks):
//
//	POST {server}/api/v3/as/applications/{application_id}/webhooks/{webhook_id}/devices/{device_id}/down/push
//	Authorization: Bearer <API key with "write downlink application traffic" rights>
//	{"downlinks":[{"f_port":1–223, "frm_payload":"<base64>" | "decoded_payload":{…},
//	  "priority":"NORMAL", "confirmed":true, "correlation_ids":["…"]}]}
//
// It records every push it accepted, answers 401 to a wrong key, 400 to a malformed
// body, and whatever status a test forces. A forced 429 carries the headers the stack's
// rate limiter sets (pkg/ratelimit: X-Rate-Limit-Limit, -Available, -Reset and -Retry,
// whole seconds), and no Retry-After: the stack sends none.
package ttntest

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Downlink is one downlink of a push, as the stack's API reads it.
type Downlink struct {
	FPort          int            `json:"f_port"`
	FRMPayload     string         `json:"frm_payload,omitempty"`
	DecodedPayload map[string]any `json:"decoded_payload,omitempty"`
	Priority       string         `json:"priority,omitempty"`
	Confirmed      bool           `json:"confirmed,omitempty"`
	CorrelationIDs []string       `json:"correlation_ids,omitempty"`
}

// Push is one accepted push request.
type Push struct {
	ApplicationID, WebhookID, DeviceID string
	Downlinks                          []Downlink
}

// Server is the fake stack.
type Server struct {
	*httptest.Server
	APIKey string

	mu     sync.Mutex
	pushes []Push
	force  int    // status to answer instead of accepting, 0: accept
	retry  string // X-Rate-Limit-Retry with a forced 429
	hold   chan struct{}
}

// NewServer starts a fake stack that accepts pushes authorized by apiKey.
func NewServer(apiKey string) *Server {
	s := &Server{APIKey: apiKey}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Force makes every following push answer status; 0 restores accepting. retryAfter,
// when set, is the seconds a forced 429 says to wait, in X-Rate-Limit-Retry as the
// stack's rate limiter says it.
func (s *Server) Force(status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.force, s.retry = status, retryAfter
}

// Hold makes pushes block (after being recorded) until the returned func is called:
// a push the stack received whose answer never comes back.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = make(chan struct{})
	ch := s.hold
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Pushes returns the accepted pushes, in order.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

func problem(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": status, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// /api/v3/as/applications/{app}/webhooks/{webhook}/devices/{device}/down/push
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 11 || parts[0] != "api" || parts[1] != "v3" || parts[2] != "as" ||
		parts[3] != "applications" || parts[5] != "webhooks" || parts[7] != "devices" || parts[9] != "down" ||
		(parts[10] != "push" && parts[10] != "replace") {
		problem(w, http.StatusNotFound, "not found")
		return
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(s.APIKey)) != 1 {
		problem(w, http.StatusUnauthorized, "error:pkg:auth:token_invalid")
		return
	}
	s.mu.Lock()
	force, retry, hold := s.force, s.retry, s.hold
	s.mu.Unlock()
	if force != 0 {
		if force == http.StatusTooManyRequests && retry != "" {
			h := w.Header()
			h.Set("X-Rate-Limit-Limit", "10")
			h.Set("X-Rate-Limit-Available", "0")
			h.Set("X-Rate-Limit-Reset", retry)
			h.Set("X-Rate-Limit-Retry", retry)
		}
		problem(w, force, http.StatusText(force))
		return
	}
	var body struct {
		Downlinks []Downlink `json:"downlinks"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || len(body.Downlinks) == 0 {
		problem(w, http.StatusBadRequest, "invalid downlinks")
		return
	}
	for _, d := range body.Downlinks {
		if d.FPort < 1 || d.FPort > 223 || (d.FRMPayload == "" && d.DecodedPayload == nil) {
			problem(w, http.StatusBadRequest, "invalid downlink")
			return
		}
	}
	s.mu.Lock()
	s.pushes = append(s.pushes, Push{ApplicationID: parts[4], WebhookID: parts[6], DeviceID: parts[8], Downlinks: body.Downlinks})
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}
