package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-ID"

// requestIDKey is RequestIDHeader as http.Header keys it ("X-Request-Id"), made once:
// Get and Set canonicalize a name that is not, allocating, on every request.
var requestIDKey = http.CanonicalHeaderKey(RequestIDHeader)

// validRequestID: a client-supplied request id is honoured only when it is short and
// plain (auth.ValidRequestID), so it can never smuggle newlines into logs or markup into
// a problem body.
func validRequestID(id string) bool { return auth.ValidRequestID(id) }

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// requestID honours X-Request-ID or generates one, echoes it, and puts it in the context
// where logs, problem bodies and audit rows find it, beside the client address in the
// request's requestInfo: one copy of the request for both, the 250-byte request copy and
// an allocation fewer per request (host/bench). A request routed by fastRoute gets the
// same from ServeHTTP (identify).
func (h *Handler) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		info := infoFrom(r)
		if info == nil {
			info = &requestInfo{}
			ctx = withInfo(ctx, info)
		}
		next.ServeHTTP(w, r.WithContext(auth.WithRequestID(ctx, h.identify(w, r, info))))
	})
}

// identify is requestID's work but the context: r's request id, which it returns, and
// client address in info, and the id echoed in w's header.
func (h *Handler) identify(w http.ResponseWriter, r *http.Request, info *requestInfo) string {
	id := r.Header.Get(requestIDKey)
	if !validRequestID(id) {
		id = newRequestID()
	}
	info.client = h.clientIP(r)
	// The header's value slice in info, which is on the heap already: Set made one
	// per request. Nothing writes into it (see jsonContentType).
	info.id[0] = id
	w.Header()[requestIDKey] = info.id[:]
	return id
}

// statusRecorder remembers the status for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe logs one line per request and feeds the request metrics, labelled by route
// template (never by raw path, which would explode cardinality and leak ids).
func (h *Handler) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := infoFrom(r) // requestID runs first (wrap)
		if info == nil {
			info = &requestInfo{client: clientFrom(r)}
			r = r.WithContext(withInfo(r.Context(), info))
		}
		// In info, which is on the heap already: an allocation fewer per request.
		rec := &info.rec
		*rec = statusRecorder{ResponseWriter: w}
		note := &info.note
		route := routeTemplate(r)
		ctx, span := startSpan(r, route)
		if ctx != r.Context() { // tracing on: a copy of r per request only then
			r = r.WithContext(ctx)
		}
		defer func() {
			if v := recover(); v != nil {
				// A panic is a bug: log it with the request id, answer a generic 500.
				h.log.Error("panic serving request", tracing.LogArgs(ctx, []any{"request_id", auth.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "panic", v})...)
				if rec.status == 0 {
					h.WriteError(rec, r, host.Errorf(host.EINTERNAL, "internal error"))
				}
			}
			endSpan(span, rec.status)
			elapsed := time.Since(start)
			h.metrics.observe(r.Method, route, rec.status, elapsed)
			if !h.log.IsInfo() {
				// The line would be dropped: building its arguments was 5 allocations per
				// request (host/bench logs at warn).
				return
			}
			args := []any{"request_id", auth.RequestID(r.Context()), "method", r.Method, "route", route,
				"status", rec.status, "bytes", rec.bytes, "duration", elapsed, "client", clientFrom(r)}
			if note.reason != "" {
				args = append(args, "reason", note.reason)
			}
			h.log.Info("request", tracing.LogArgs(ctx, args)...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusLabels are the status codes as metric labels, made once: strconv.Itoa
// allocates each three-digit one, once per request.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}

// requestNote is what a handler adds to its request's log line: the reason a request was
// refused when the answer must not say it (a rejected webhook answers like any other).
type requestNote struct{ reason string }

// noteReason puts reason on r's request log line.
func noteReason(r *http.Request, reason string) {
	if info := infoFrom(r); info != nil {
		info.note.reason = reason
	}
}

func routeTemplate(r *http.Request) string {
	if info := infoFrom(r); info != nil && info.route != "" {
		return info.route // fastRoute's
	}
	if cr := mux.CurrentRoute(r); cr != nil {
		if t, err := cr.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unmatched"
}

// limitBody caps every request body. A declared Content-Length over the limit is refused
// before reading; a chunked body is cut off by MaxBytesReader and DecodeJSON (or the
// webhook reader) turns that into 413.
func (h *Handler) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := h.httpConfig().MaxBodyBytes
		if r.ContentLength > limit {
			h.WriteError(w, r, host.Errorf(host.ETOOLARGE, "request body exceeds %d bytes", limit))
			return
		}
		if r.ContentLength < 0 {
			// No declared length (chunked). A declared one is the limit already: the
			// server reads no further than it, so the wrapper would only be another
			// allocation per request.
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer" header, or "".
func bearerToken(r *http.Request) string {
	v := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticate resolves a bearer token, when present, into the actor in the context. It
// refuses an invalid token outright (a wrong token is never treated as anonymous), but
// lets anonymous requests through: each route's access level decides about those.
//
// A wrong token spends from the client's rate-limit bucket first, on every route it runs
// on (the unlimited probes included), so guessing tokens is slowed down (429) like any
// other anonymous traffic.
func (h *Handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			next.ServeHTTP(w, r)
			return
		}
		// Two would be read as the first here and maybe as another by a proxy or a log:
		// refused, as a query parameter or a JSON field given twice is.
		if n := len(r.Header.Values("Authorization")); n > 1 {
			if !h.clientLimited(w, r) {
				h.WriteError(w, r, host.Errorf(host.EUNAUTHORIZED, "give one Authorization header, not %d", n))
			}
			return
		}
		token := bearerToken(r)
		if token == "" {
			if !h.clientLimited(w, r) {
				h.WriteError(w, r, host.Errorf(host.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\""))
			}
			return
		}
		actor, err := h.auth.Authenticate(r.Context(), token)
		if err != nil {
			if host.ErrorCode(err) != host.EUNAUTHORIZED || !h.clientLimited(w, r) {
				h.WriteError(w, r, err)
			}
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithActor(r.Context(), actor)))
	})
}

// Access levels of a route.
type access int

const (
	Public  access = iota // no token needed (health, callback); a token given must be valid
	User                  // any valid token
	Admin                 // an admin's token
	Foreign               // no bearer-token middleware at all: the plugin authenticates (webhooks)
)

func (h *Handler) require(level access, next http.Handler) http.Handler {
	if level == Public {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, ok := auth.ActorFrom(r.Context())
		if !ok {
			h.WriteError(w, r, host.Errorf(host.EUNAUTHORIZED, "a bearer token is required"))
			return
		}
		if level == Admin && !actor.Admin {
			// Admin routes are no secret (they are in the published spec), so 403 here
			// leaks nothing; user data routes answer 404 instead.
			h.WriteError(w, r, host.Errorf(host.EFORBIDDEN, "this route needs an admin token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkQuery refuses a query parameter that openapi.yaml does not declare for the
// operation, or one given twice. A misspelled parameter must not be ignored: on
// DELETE /v1/admin/users/{userId}/tokens, "?id=4" for "?tokenId=4" would otherwise
// revoke all of the user's tokens instead of one. This is the one place that check is
// made, for every route; a route missing from the document accepts no parameter.
func (h *Handler) checkQuery(op string, next http.Handler) http.Handler {
	all, err := SpecQueryParams()
	if err != nil {
		panic("openapi.yaml: " + err.Error()) // embedded at build time; TestSpecMatchesRouter reads it
	}
	want := all[op]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want.Open || r.URL.RawQuery == "" {
			next.ServeHTTP(w, r)
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			h.WriteError(w, r, host.Errorf(host.EINVALID, "the query string is malformed").WithType("invalid-query"))
			return
		}
		for _, name := range slices.Sorted(maps.Keys(q)) {
			if !slices.Contains(want.Names, name) {
				h.WriteError(w, r, host.Errorf(host.EINVALID, "unknown query parameter %q; %s", clip(name, 64), takes(want.Names)).WithType("invalid-query"))
				return
			}
			if len(q[name]) > 1 {
				h.WriteError(w, r, host.Errorf(host.EINVALID, "query parameter %q is given more than once", name).WithType("invalid-query"))
				return
			}
			// No parameter takes a control character, and a NUL is an error in any
			// PostgreSQL text comparison: refused here, for every route.
			// The parameter's name is quoted only for an answer: checking costs nothing.
			if host.CheckText("", q.Get(name), false) != nil {
				err := host.CheckText(fmt.Sprintf("query parameter %q", name), q.Get(name), false)
				h.WriteError(w, r, host.Errorf(host.EINVALID, "%s", host.ErrorMessage(err)).WithType("invalid-query"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func takes(names []string) string {
	if len(names) == 0 {
		return "this route takes no query parameters"
	}
	return "this route takes " + strings.Join(names, ", ")
}

// clip shortens a client-chosen string before it is echoed in a problem body.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
