// Package console is the operators' console at /ui/: server-rendered pages (html/template,
// embedded assets, no JavaScript needed) over the same services as the admin API. It
// renders and does not decide: who may sign in, what an admin may change, what of a
// payload may be shown and what is audited are all decided by the services it calls
// (users, connect, failures, activity), with the signed-in admin as the actor.
//
// Sign-in takes an API token and opens a session (host/users) bound to it: the cookie is
// HttpOnly, SameSite=Strict, Secure when public_url is https, and expires with the
// session; revoking the token ends it. Every state-changing form is a POST checked by
// net/http's CrossOriginProtection and by sameOrigin (scheme and Referer too).
package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
)

// Sessions signs admins in and out and reads the audit trail: *users.Service.
type Sessions interface {
	OpenConsoleSession(ctx context.Context, token, client string, ttl time.Duration) (users.ConsoleSession, error)
	ConsoleActor(ctx context.Context, value string) (auth.Actor, error)
	CloseConsoleSession(ctx context.Context, a auth.Actor, value string) error
	Audit(ctx context.Context, a auth.Actor, q audit.Query) (audit.Page, error)
	Emails(ctx context.Context, a auth.Actor, ids []int64) (map[int64]string, error)
}

// Providers reports and reloads plugins: *connect.Service.
type Providers interface {
	ProviderStatuses(ctx context.Context, a auth.Actor) ([]connect.ProviderStatus, error)
	Reload(ctx context.Context, a auth.Actor) (connect.ReloadReport, error)
}

// Failures manages dead letters: *failures.Service.
type Failures interface {
	List(ctx context.Context, a auth.Actor, f failures.Filter) ([]store.Failure, int64, error)
	Get(ctx context.Context, a auth.Actor, id int64) (store.Failure, error)
	Requeue(ctx context.Context, a auth.Actor, id int64) (store.Failure, error)
	Discard(ctx context.Context, a auth.Actor, id int64) (store.Failure, error)
	CountBulk(ctx context.Context, a auth.Actor, f failures.BulkFilter) (int64, error)
	RequeueBulk(ctx context.Context, a auth.Actor, f failures.BulkFilter) ([]int64, error)
	DiscardBulk(ctx context.Context, a auth.Actor, f failures.BulkFilter) ([]int64, error)
}

// Activity is the overview and the accounts needing attention: *activity.Service.
type Activity interface {
	Overview(ctx context.Context, a auth.Actor, providers []string) (activity.Overview, error)
	NeedingAttention(ctx context.Context, a auth.Actor, after store.AttentionCursor) (list []store.AttentionAccount, next store.AttentionCursor, err error)
	Orphaned(ctx context.Context, a auth.Actor, stateOf func(provider string) string) ([]activity.OrphanedProvider, error)
}

// Clients tells clients apart and slows down guessing as the API does: *httpapi.Handler.
// The console is served beside the API, not through it, so it asks: the same
// trusted_proxies decide the client address, and a sign-in spends from the same
// per-client bucket as a wrong token on the API.
type Clients interface {
	ClientOf(r *http.Request) string
	SpendClient(client string) time.Duration
}

// Deps are the services the console renders.
type Deps struct {
	// Clients, when nil, is the TCP peer and no rate limit (tests of other concerns).
	Clients   Clients
	Sessions  Sessions
	Providers Providers
	Failures  Failures
	Activity  Activity
	// Commands, when set, backs the Commands page (recent, unknown, failed).
	Commands Commands
	// ProviderIDs are the configured providers, for filters and the overview.
	ProviderIDs func() []string
	// Replica is this serve process's replica id (host/replicas), marked on the
	// Overview's list of replicas; "" when there is none.
	Replica string
	Logger  hclog.Logger
}

// Config sets the session cookie.
type Config struct {
	// PublicURL is the host's public base URL: an https one makes the cookie Secure.
	PublicURL string
	// SessionTTL is how long a sign-in lasts (default 8h).
	SessionTTL time.Duration
}

// DefaultSessionTTL is a working day: long enough for a shift, short enough that a
// forgotten browser does not stay signed in.
const DefaultSessionTTL = 8 * time.Hour

// CookieName is the session cookie.
const CookieName = "poolhost_console"

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// Console is the operators' console as one http.Handler, mounted at Prefix.
type Console struct {
	d      Deps
	ttl    time.Duration
	secure bool
	// publicOrigin is public_url's scheme://host, "" when it has none.
	publicOrigin string
	log          hclog.Logger
	pages        *pages
	root         http.Handler
}

// New builds the console.
func New(d Deps, c Config) *Console {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Clients == nil {
		d.Clients = peerOnly{}
	}
	if d.ProviderIDs == nil {
		d.ProviderIDs = func() []string { return nil }
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	u, _ := url.Parse(c.PublicURL)
	con := &Console{d: d, ttl: c.SessionTTL, secure: u != nil && u.Scheme == "https", log: d.Logger.Named("console"), pages: mustParsePages()}

	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticFiles()))
	mux.HandleFunc("GET /ui/signin", con.signInPage)
	mux.HandleFunc("POST /ui/signin", con.signIn)
	mux.Handle("POST /ui/signout", con.authed(con.signOut))
	mux.Handle("GET /ui/{$}", con.authed(con.overview))
	mux.Handle("GET /ui/providers", con.authed(con.providers))
	mux.Handle("POST /ui/providers/reload", con.authed(con.reload))
	mux.Handle("GET /ui/failures", con.authed(con.failureList))
	mux.Handle("GET /ui/failures/bulk", con.authed(con.bulkConfirm))
	mux.Handle("POST /ui/failures/bulk", con.authed(con.bulkApply))
	mux.Handle("GET /ui/failures/{id}", con.authed(con.failure))
	mux.Handle("GET /ui/failures/{id}/payload", con.authed(con.failurePayload))
	mux.Handle("POST /ui/failures/{id}/requeue", con.authed(con.requeue))
	mux.Handle("GET /ui/failures/{id}/discard", con.authed(con.discardConfirm))
	mux.Handle("POST /ui/failures/{id}/discard", con.authed(con.discard))
	mux.Handle("GET /ui/accounts", con.authed(con.accounts))
	mux.Handle("GET /ui/audit", con.authed(con.auditTrail))
	mux.Handle("GET /ui/commands", con.authed(con.commandList))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		con.renderError(w, r, host.Errorf(host.ENOTFOUND, "there is no console page at %s", r.URL.Path))
	})

	// Every unsafe request (POST) must come from the console's own pages: browsers say
	// where a request comes from (Sec-Fetch-Site, Origin), and a cross-origin form post
	// is refused before any handler runs — the sign-in form included.
	cop := http.NewCrossOriginProtection()
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		con.log.Warn("cross-origin form post refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"referer_origin", originOf(r.Header.Get("Referer")), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		con.renderError(w, r, host.Errorf(host.EFORBIDDEN, "this form was posted from another site, so it was refused; use the console's own pages"))
	})
	cop.SetDenyHandler(deny)
	if u != nil && u.Scheme != "" && u.Host != "" {
		con.publicOrigin = u.Scheme + "://" + u.Host
	}
	con.root = withRequestID(con.logRequests(securityHeaders(con.sameOrigin(deny, cop.Handler(mux)))))
	return con
}

// logRequests writes one line per console request, like the API's: who reads what is
// in the audit trail only for changes, so the log is where page views show.
func (c *Console) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if strings.HasPrefix(r.URL.Path, "/ui/static/") {
			return
		}
		c.log.Info("request", "request_id", auth.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start).String(), "client", c.d.Clients.ClientOf(r))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.root.ServeHTTP(w, r) }

// securityHeaders: no framing, no inline script, nothing cached — the pages hold
// payloads and audit rows.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// withRequestID gives each request the id its audit rows and log lines record: the
// client's when it is plain (auth.ValidRequestID, as the API's), else a fresh one. The
// sign-in page is public and a refused sign-in is audited: any bytes went into that row
// (invalid UTF-8, which PostgreSQL refuses, leaving the attempt unaudited; a bidi
// override disguising it on the Audit page).
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !auth.ValidRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = "ui-" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(auth.WithRequestID(r.Context(), id)))
	})
}

// handlerFunc is a page handler with the signed-in admin.
type handlerFunc func(w http.ResponseWriter, r *http.Request, a auth.Actor) error

// authed resolves the session cookie to an admin (the service decides), sending anyone
// else to the sign-in page. A handler's error is rendered as an error page.
func (c *Console) authed(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var value string
		if ck, err := r.Cookie(CookieName); err == nil {
			value = ck.Value
		}
		a, err := c.d.Sessions.ConsoleActor(r.Context(), value)
		if err != nil {
			if host.ErrorCode(err) == host.EFORBIDDEN {
				c.clearCookie(w) // the session ended with the admin role
			}
			if host.ErrorCode(err) == host.EUNAUTHORIZED {
				if value != "" {
					c.clearCookie(w)
				}
				next := r.URL.RequestURI()
				if r.Method != http.MethodGet {
					next = Prefix
				}
				http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
				return
			}
			c.renderError(w, r, err)
			return
		}
		r = r.WithContext(auth.WithActor(r.Context(), a))
		if err := fn(w, r, a); err != nil {
			c.renderError(w, r, err)
		}
	})
}

func (c *Console) setCookie(w http.ResponseWriter, s users.ConsoleSession) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: s.Value, Path: Prefix,
		Expires: s.Expires, MaxAge: int(time.Until(s.Expires).Seconds()),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode,
	})
}

func (c *Console) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

// statusOf maps a service error to the page's HTTP status, as httpapi does for problems
// (a database that is down included: 503, not 500).
func statusOf(err error) int {
	switch host.ErrorCode(store.Unavailable(err)) {
	case host.EINVALID:
		return http.StatusBadRequest
	case host.ENOTFOUND:
		return http.StatusNotFound
	case host.ECONFLICT:
		return http.StatusConflict
	case host.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case host.EFORBIDDEN:
		return http.StatusForbidden
	case host.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case host.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// peerOnly is Clients without an API beside the console: the TCP peer, never limited.
type peerOnly struct{}

func (peerOnly) ClientOf(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func (peerOnly) SpendClient(string) time.Duration { return 0 }

// sameOrigin completes net/http's CrossOriginProtection, which compares an Origin's host
// with the request's and ignores its scheme, and lets a request without Origin or
// Sec-Fetch-Site through. An unsafe request is refused here when its Origin, or without
// one its Referer, is not the console's own origin: public_url's scheme and host (the
// only one under that host name), or else the request's own (https when it came over
// TLS). So https://host does not pass for an
// http:// deployment, and a form posted by a browser that only sends a foreign Referer
// is refused. A request with neither header (curl, scripts: no ambient cookie to abuse)
// is left to CrossOriginProtection.
func (c *Console) sameOrigin(deny, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		from := r.Header.Get("Origin")
		if from == "" {
			from = originOf(r.Header.Get("Referer"))
		}
		if from != "" && !c.ownOrigin(r, from) {
			deny.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *Console) ownOrigin(r *http.Request, origin string) bool {
	if c.publicOrigin != "" {
		if strings.EqualFold(origin, c.publicOrigin) {
			return true
		}
		// Reached under its public name, the console has exactly that origin; the
		// request's own scheme (http behind a TLS proxy) says nothing.
		if _, h, _ := strings.Cut(c.publicOrigin, "://"); strings.EqualFold(h, r.Host) {
			return false
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

// originOf is a URL's scheme://host, or "null" for one that has none (which matches
// no origin: an opaque or malformed Referer is foreign).
func originOf(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "null"
	}
	return u.Scheme + "://" + u.Host
}
