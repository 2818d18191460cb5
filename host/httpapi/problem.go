package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// ProblemTypeBase prefixes every problem type. Types are stable identifiers clients may
// switch on; the URIs are not required to resolve (RFC 9457 §3.1.1), and are documented
// in openapi.yaml under components/schemas/Problem.
const ProblemTypeBase = "https://poolhost.dev/problems/"

// Problem is an RFC 9457 problem details body. RequestID is an extension member that
// lets a user quote the request to an operator, who finds it in the logs.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Diagnostics are a config file's problems, when a reload refused it.
	Diagnostics []config.Diagnostic `json:"diagnostics,omitempty"`
}

// codeInfo is the single place that decides what an error code means over HTTP: its
// status and the default problem type when the error carries no finer one.
var codeInfo = map[string]struct {
	status int
	typ    string
}{
	host.EINVALID:       {http.StatusBadRequest, "invalid-request"},
	host.ENOTFOUND:      {http.StatusNotFound, "not-found"},
	host.ECONFLICT:      {http.StatusConflict, "conflict"},
	host.EUNAUTHORIZED:  {http.StatusUnauthorized, "unauthorized"},
	host.EFORBIDDEN:     {http.StatusForbidden, "forbidden"},
	host.EUNAVAILABLE:   {http.StatusServiceUnavailable, "unavailable"},
	host.ETOOLARGE:      {http.StatusRequestEntityTooLarge, "body-too-large"},
	host.ETOOMANY:       {http.StatusTooManyRequests, "rate-limited"},
	host.EUPSTREAM:      {http.StatusBadGateway, "bad-upstream-answer"},
	host.EUNPROCESSABLE: {http.StatusUnprocessableEntity, "unprocessable"},
	host.EINTERNAL:      {http.StatusInternalServerError, "internal"},
}

// StatusOf returns the HTTP status for err's code.
func StatusOf(err error) int {
	if ci, ok := codeInfo[host.ErrorCode(err)]; ok {
		return ci.status
	}
	return http.StatusInternalServerError
}

// ProblemFor builds the problem body for err. Only *host.Error messages reach the client;
// anything else (SQL, paths, plugin output) becomes a generic "internal error".
func ProblemFor(r *http.Request, err error) Problem {
	code := host.ErrorCode(err)
	ci, ok := codeInfo[code]
	if !ok {
		code, ci = host.EINTERNAL, codeInfo[host.EINTERNAL]
	}
	typ := host.ErrorType(err)
	if typ == "" || code == host.EINTERNAL {
		typ = ci.typ
	}
	p := Problem{
		Type:      ProblemTypeBase + typ,
		Title:     http.StatusText(ci.status),
		Status:    ci.status,
		Detail:    host.ErrorMessage(err),
		RequestID: auth.RequestID(r.Context()),
	}
	if code == host.EINTERNAL {
		p.Detail = "internal error"
	}
	if r.URL != nil {
		p.Instance = r.URL.Path
	}
	return p
}

// WriteError answers err as application/problem+json. Internal errors are logged with
// the request id (the cause stays in the log, never in the response).
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	err = store.Unavailable(err) // a database that is down is a 503 with Retry-After, never a 500
	p := ProblemFor(r, err)
	var cfgErr *config.Error
	if p.Status == http.StatusBadRequest && errors.As(err, &cfgErr) {
		p.Diagnostics = cfgErr.List()
	}
	if p.Status == http.StatusServiceUnavailable {
		// The provider said when to come back (its 429's Retry-After): an app retrying
		// sooner would only have the plugin ask again, and spend the user's quota.
		if d := sdk.RetryAfterOf(err); d > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
		}
		h.unavailable.Fail(err, "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path)
	} else if p.Status >= 500 {
		h.log.Error("request failed", tracing.LogArgs(r.Context(), []any{"request_id", p.RequestID, "method", r.Method, "path", r.URL.Path, "status", p.Status, "error", err})...)
	} else {
		h.log.Debug("request refused", "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path, "status", p.Status, "error", err)
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="poolhost"`)
	}
	if p.Status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	h := w.Header()
	h["Content-Type"], h["X-Content-Type-Options"] = problemContentType, nosniff
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
