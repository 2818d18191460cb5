package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/outage"
	"github.com/poolhost/poolhost/host/overview"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/users"
)

// Authenticator resolves a bearer token into an actor, failing with EUNAUTHORIZED.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Actor, error)
}

// ReadyCheck is one condition of /readyz (database reachable, migrations current,
// plugins supervised). Its error is logged, and only its name is shown. An error
// wrapping host.ErrDegraded shows "degraded" and leaves the host ready.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps are what the handler translates HTTP into. Nil services leave their routes
// answering 503, which keeps partial wiring (and tests of one area) honest.
type Deps struct {
	Logger   hclog.Logger
	Registry *prometheus.Registry // /metrics serves it; the handler registers its own metrics on it
	// HTTP is the http{} block at start; SetHTTP replaces it on reload.
	HTTP config.HTTP
	// MetricsElsewhere: metrics_listen serves /metrics, so the API port answers 404 there.
	MetricsElsewhere bool

	Auth    Authenticator
	Pools   *pools.Service
	Connect *connect.Service
	Users   *users.Service
	// Commands is the write/control service; unwired, its routes answer 503.
	Commands *commands.Service
	Ready    []ReadyCheck
	// ProviderStates, when set, is each provider's plugin state, shown by /readyz.
	ProviderStates func() map[string]string
	// Activity backs GET /v1/admin/overview (with Connect); ProviderIDs are the
	// configured providers it shows even when quiet.
	Activity    overview.Activity
	ProviderIDs func() []string
}

// Option customizes a Handler.
type Option func(*Handler)

// WithRoutes registers more routes on the handler, after the built-in ones. This is how
// other packages (webhook ingestion, dead-letter administration) join the API with the
// same middleware, authentication and problem bodies. Each path they add must be in
// openapi.yaml; see CheckSpec.
func WithRoutes(register func(*Router)) Option {
	return func(h *Handler) { h.extra = append(h.extra, register) }
}

// Handler is the whole HTTP API as one http.Handler.
type Handler struct {
	log hclog.Logger
	// unavailable folds the lines of requests answered 503 (a database or plugin down:
	// every request fails alike) into outage lines; see host/outage.
	unavailable *outage.Log
	// readyErr is each readiness check's last error seen by a probe (see readyFailing).
	readyMu  sync.Mutex
	readyErr map[string]string
	deps     Deps
	http     atomic.Pointer[config.HTTP] // the http{} block in force (reload swaps it)
	limits   atomic.Pointer[rateLimits]
	auth     Authenticator
	metrics  *metrics
	mux      *mux.Router
	// hooks holds the webhook routes, under h.mux's first route: see webhookPrefix.
	hooks *mux.Router
	// fast holds the webhook routes' handlers by template, for fastRoute; hookRoutes
	// counts every route registered under webhookPrefix.
	fast       map[string]http.Handler
	hookRoutes int
	root       http.Handler
	unclean    http.Handler // answers a path that is not Canonical
	extra      []func(*Router)
}

// New builds the handler and its routes.
func New(d Deps, opts ...Option) *Handler {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.HTTP.MaxBodyBytes <= 0 {
		d.HTTP.MaxBodyBytes = config.DefaultHTTP.MaxBodyBytes
	}
	h := &Handler{
		log:     d.Logger.Named("http"),
		deps:    d,
		auth:    d.Auth,
		metrics: newMetrics(d.Registry),
	}
	h.unavailable = outage.New(h.log, "requests answered 503 unavailable")
	h.SetHTTP(d.HTTP)
	if h.auth == nil {
		h.auth = noAuth{}
	}
	for _, o := range opts {
		o(h)
	}
	// No path cleaning by mux: its redirect is a bare 301 (and a POST that follows it
	// turns into a GET); ServeHTTP answers an unclean path 404 problem+json instead.
	h.mux = mux.NewRouter().SkipClean(true)
	h.hooks = h.mux.MatcherFunc(isWebhookPath).Subrouter()
	notFound := h.serve(func(http.ResponseWriter, *http.Request) error {
		return host.Errorf(host.ENOTFOUND, "no such route")
	})
	notAllowed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(h.allowed(r), ", "))
		writeProblem(w, Problem{
			Type: ProblemTypeBase + "method-not-allowed", Title: http.StatusText(http.StatusMethodNotAllowed),
			Status: http.StatusMethodNotAllowed, Detail: "this route does not answer " + r.Method,
			Instance: r.URL.Path, RequestID: auth.RequestID(r.Context()),
		})
	})
	h.mux.NotFoundHandler = h.wrap(Public, true, notFound)
	h.unclean = h.wrap(Public, true, h.serve(func(_ http.ResponseWriter, r *http.Request) error {
		return host.Errorf(host.ENOTFOUND, "no such route: the path is not clean (it must begin with \"/\" and have no empty, \".\" or \"..\" segment); the API redirects no path to its clean form")
	}))
	h.mux.MethodNotAllowedHandler = h.wrap(Public, true, notAllowed)
	// mux loses the webhook subrouter's method mismatch (its second route's matchers,
	// which begin with the subrouter's own, clear it), so another method than POST on a
	// webhook URL — some providers probe one with a GET before saving it — read as no
	// route at all. The subrouter tells the two apart itself.
	h.hooks.NotFoundHandler = h.wrap(Public, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(h.allowed(r)) > 0 {
			notAllowed.ServeHTTP(w, r)
			return
		}
		notFound.ServeHTTP(w, r)
	}))
	rt := &Router{h: h}
	h.routes(rt)
	for _, register := range h.extra {
		register(rt)
	}
	h.root = h.mux
	return h
}

// SetHTTP puts a reloaded http{} block in force: body limit, return URL, trusted
// proxies and rate limits apply from the next request. Rate-limit buckets are kept
// unless the limits themselves changed.
func (h *Handler) SetHTTP(c config.HTTP) {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = config.DefaultHTTP.MaxBodyBytes
	}
	h.http.Store(&c)
	if old := h.limits.Load(); old == nil || old.cfg != c.RateLimit {
		h.limits.Store(newRateLimits(c.RateLimit))
	}
}

// httpConfig is the http{} block in force.
func (h *Handler) httpConfig() *config.HTTP { return h.http.Load() }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if next, info := h.fastRoute(r); next != nil {
		// requestID's work, done here: its context and fastRoute's requestInfo in one
		// copy of the request instead of two, 250 bytes fewer per delivery.
		id := h.identify(w, r, info)
		next.ServeHTTP(w, r.WithContext(auth.WithRequestID(withInfo(r.Context(), info), id)))
		return
	}
	if !Canonical(r.URL.Path) {
		h.unclean.ServeHTTP(w, r)
		return
	}
	h.root.ServeHTTP(w, r)
}

// Canonical: p is rooted and has no empty, "." or ".." segment but for a trailing slash
// (which no route has: an unknown path like any other). A path that is not is answered
// 404 problem+json, never redirected to its clean form as mux and http.ServeMux would:
// their redirect bodies are empty or text/html, and the path under a "%2f.." decides
// where the redirect goes. fastRoute routes only canonical paths.
func Canonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for rest := p[1:]; ; {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || seg == "" && more {
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}

// The webhook routes, which fastRoute finds by hand. The {event} ones are the same URLs
// with one more segment, which a provider may append (The Things Stack appends each
// message type's path, /uplink, /join…, to the webhook's base URL): see WithWebhooks.
const (
	hookRoute             = "/v1/webhooks/{provider}"
	hookAccountRoute      = "/v1/webhooks/{provider}/accounts/{accountId}"
	hookEventRoute        = "/v1/webhooks/{provider}/{event}"
	hookAccountEventRoute = "/v1/webhooks/{provider}/accounts/{accountId}/{event}"
)

// isHookRoute: path is one of the webhook routes fastRoute finds.
func isHookRoute(path string) bool {
	return path == hookRoute || path == hookAccountRoute || path == hookEventRoute || path == hookAccountEventRoute
}

// fastRoute finds the handler of a webhook delivery, the busiest request by far, without
// gorilla/mux: its regexps, its map of path variables and the two request copies that
// carry them and the route were 7 of the host's allocations per delivery and 1.3% of
// its CPU samples besides (host/bench, postgres/c64/plugin; TestWebhookRouteAllocs).
// The route's template and variables
// travel in the requestInfo that requestID fills in. It answers only what mux would
// route to the same handler: a POST to a clean path of one of the four shapes (each
// variable one plain segment, as mux's default pattern [^/]+ takes, and neither "." nor
// "..", which mux's path cleaning would redirect), and only while every route under
// webhookPrefix is one of the four; anything else, nil, is mux's to answer (404, 405,
// redirects). TestFastRouteMatchesMux holds it to mux's answers.
func (h *Handler) fastRoute(r *http.Request) (http.Handler, *requestInfo) {
	if r.Method != http.MethodPost || len(h.fast) == 0 || len(h.fast) != h.hookRoutes ||
		!strings.HasPrefix(r.URL.Path, webhookPrefix) {
		return nil, nil
	}
	provider, rest, scoped := strings.Cut(r.URL.Path[len(webhookPrefix):], "/")
	if !plainSegment(provider) {
		return nil, nil
	}
	route := hookRoute
	info := &requestInfo{}
	info.vars[0] = pathVar{"provider", provider}
	if scoped {
		// mux tries the routes in order, and only the account ones have four segments
		// or more: "accounts/7" is an account, "accounts" alone an event.
		if account, ok := strings.CutPrefix(rest, "accounts/"); ok {
			account, event, evented := strings.Cut(account, "/")
			if !plainSegment(account) || evented && !plainSegment(event) {
				return nil, nil
			}
			route = hookAccountRoute
			info.vars[1] = pathVar{"accountId", account}
			if evented {
				route = hookAccountEventRoute
				info.vars[2] = pathVar{"event", event}
			}
		} else {
			if !plainSegment(rest) {
				return nil, nil
			}
			route = hookEventRoute
			info.vars[1] = pathVar{"event", rest}
		}
	}
	next := h.fast[route]
	if next == nil {
		return nil, nil
	}
	info.route = route
	return next, info
}

// plainSegment: s is one path segment that needs no cleaning.
func plainSegment(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.Contains(s, "/")
}

// pathVar is one path variable of a route found by fastRoute.
type pathVar struct{ name, value string }

// routeVar is the path variable name of r's route, and whether the route has one.
func routeVar(r *http.Request, name string) (string, bool) {
	if info := infoFrom(r); info != nil && info.route != "" {
		for _, v := range info.vars {
			if v.name == name {
				return v.value, true
			}
		}
		return "", false
	}
	v, ok := mux.Vars(r)[name]
	return v, ok
}

// Mux exposes the router, for walking it (CheckSpec) — not for adding routes behind the
// middleware's back.
func (h *Handler) Mux() *mux.Router { return h.mux }

// wrap applies the per-request middleware. It runs inside the matched route so metrics and
// logs carry the route template. Bearer tokens are resolved on every route but Foreign
// ones, whose Authorization header belongs to someone else. Where limited is set, a
// request with a valid token spends from its token's bucket, any other (anonymous, or a
// wrong token) from its client address's bucket.
func (h *Handler) wrap(level access, limited bool, next http.Handler) http.Handler {
	return h.requestID(h.inner(level, limited, next))
}

// inner is wrap's middleware below requestID, which fastRoute's routes get from
// ServeHTTP instead.
func (h *Handler) inner(level access, limited bool, next http.Handler) http.Handler {
	if level != Foreign {
		next = h.require(level, next)
		if limited {
			next = h.rateLimit(next) // before require: refused attempts count too
		}
		// A wrong token spends its address's bucket on every route, the unlimited probes
		// included: they are unlimited for the infrastructure (no token, or a valid one),
		// and a guess there was a database lookup at full speed, answered 401 or 200.
		next = h.authenticate(next)
	}
	return h.observe(h.limitBody(next))
}

// unlimited are the routes no rate limit applies to: probes and scrapes come from the
// infrastructure, often all from one address. Webhooks (Foreign routes) are not limited
// either: a provider sends bursts from a few addresses, many of them never redeliver
// after a 429, and rejected deliveries already have their own audit limiter.
var unlimited = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// HandlerFunc is a route's handler. It writes its own success answer; an error it
// returns is answered as application/problem+json by the router, so no handler has its
// own error path.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// serve adapts fn to http.Handler: the one place a handler's error becomes a problem.
func (h *Handler) serve(fn HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.WriteError(w, r, err)
		}
	})
}

// Router registers routes with the handler's middleware.
type Router struct{ h *Handler }

// Handle registers method+path at the given access level: Public (token optional),
// User (any valid bearer token), Admin, or Foreign (the Authorization header is not
// poolhost's: webhooks).
func (rt *Router) Handle(method, path string, level access, fn HandlerFunc) {
	limited := level != Foreign && !unlimited[path]
	next := rt.h.checkQuery(method+" "+path, rt.h.serve(fn))
	m := rt.h.mux
	inner := rt.h.inner(level, limited, next)
	handler := rt.h.requestID(inner)
	if strings.HasPrefix(path, webhookPrefix) {
		m = rt.h.hooks
		rt.h.hookRoutes++
		if method == http.MethodPost && isHookRoute(path) && rt.h.fast[path] == nil {
			if rt.h.fast == nil {
				rt.h.fast = map[string]http.Handler{}
			}
			rt.h.fast[path] = inner // ServeHTTP does requestID's work
		}
	}
	m.Handle(path, handler).Methods(method)
}

// webhookPrefix starts the path of every webhook route, the busiest routes by far. They
// are a subrouter behind a route tried first, because gorilla/mux tries routes in order,
// a regexp each: behind the other 50-odd routes, finding a webhook's route was about
// 5 µs of the host's CPU per delivery (host/bench, postgres/c64/plugin), 3% of it. Any
// other request pays one string comparison (a PathPrefix route would be a regexp, and an
// allocation per webhook).
const webhookPrefix = "/v1/webhooks/"

func isWebhookPath(r *http.Request, _ *mux.RouteMatch) bool {
	return strings.HasPrefix(r.URL.Path, webhookPrefix)
}

// Public, User and Admin are Handle at that access level.
func (rt *Router) Public(method, path string, fn HandlerFunc) { rt.Handle(method, path, Public, fn) }
func (rt *Router) User(method, path string, fn HandlerFunc)   { rt.Handle(method, path, User, fn) }
func (rt *Router) Admin(method, path string, fn HandlerFunc)  { rt.Handle(method, path, Admin, fn) }

// needs guards a route whose service may not be wired: decided once, at registration,
// an unwired service's routes answer 503 "<what> is not available". This keeps partial
// wiring (and tests of one area) honest without a nil check in every handler.
func needs(wired bool, what string, fn HandlerFunc) HandlerFunc {
	if wired {
		return fn
	}
	return func(http.ResponseWriter, *http.Request) error { return unavailable(what) }
}

// plain adapts a handler that cannot fail (health, metrics, the spec).
func plain(fn http.HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		fn(w, r)
		return nil
	}
}

// Logger is the handler's logger, for extension routes.
func (rt *Router) Logger() hclog.Logger { return rt.h.log }

// Registry is the metrics registry, for extension routes.
func (rt *Router) Registry() *prometheus.Registry { return rt.h.deps.Registry }

// MaxBodyBytes is the configured body limit (already enforced by the middleware).
func (rt *Router) MaxBodyBytes() int64 { return rt.h.httpConfig().MaxBodyBytes }

type noAuth struct{}

func (noAuth) Authenticate(context.Context, string) (auth.Actor, error) {
	return auth.Actor{}, host.Errorf(host.EUNAUTHORIZED, "invalid token")
}

// unavailable is the answer of a route whose service is not wired.
func unavailable(what string) error {
	return host.Errorf(host.EUNAVAILABLE, "%s is not available", what)
}

// allowed lists the methods the request's path answers, for a 405's Allow header
// (RFC 9110 section 15.5.6).
func (h *Handler) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		rr := r.Clone(r.Context())
		rr.Method = m
		var match mux.RouteMatch
		// The webhook subrouter is asked itself: through the route that holds it, its
		// not-found answer reads as a match.
		router := h.mux
		if strings.HasPrefix(r.URL.Path, webhookPrefix) {
			router = h.hooks
		}
		if router.Match(rr, &match) && match.MatchErr == nil {
			out = append(out, m)
		}
	}
	return out
}
