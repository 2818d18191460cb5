package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/console"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
)

// openAPIStore opens the database with the credentials keyring, claimed as served, and,
// unless the config says auto_migrate = false, applies pending migrations.
func openAPIStore(ctx context.Context, cfg *config.Config, s *server) (*store.Store, error) {
	kr, err := keyring(cfg)
	if err != nil {
		return nil, err
	}
	// Serving: held until the store closes at shutdown, so restore and migrate down refuse
	// this database while the host runs.
	opts := []store.Option{store.Serving(), store.WithCipher(kr), store.WithLogger(s.log), store.WithRegisterer(s.metrics)}
	if cfg.DatabaseReadURL != "" {
		opts = append(opts, store.WithReadReplica(cfg.DatabaseReadURL, cfg.DatabaseReadMaxLag))
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if _, err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	checkCredentialKeys(ctx, st, kr, s.log)
	return st, nil
}

// checkCredentialKeys says at start, once, which stored credentials no configured key
// opens (a backup restored without its key, an old key retired before the rewrap): each
// call of those accounts fails with a 500 and an ERROR line, and nothing else would say
// why before the first of them.
func checkCredentialKeys(ctx context.Context, st *store.Store, kr *credentials.Keyring, log hclog.Logger) {
	inUse, err := st.CredentialKeyIDs(ctx)
	if err != nil {
		return // a schema this binary cannot read yet: readiness says so
	}
	configured := map[string]bool{}
	for _, id := range kr.KeyIDs() {
		configured[id] = true
	}
	for id, n := range inUse {
		if !configured[id] {
			log.Error("stored provider credentials are sealed with a key neither credentials_key nor credentials_old_keys holds: every provider call of those accounts fails until that key is configured again (README, Rotating the credentials key)",
				"key_id", id, "accounts", n, "configured", strings.Join(kr.KeyIDs(), ","))
		}
	}
}

// apiHandler builds the domain services and the HTTP API over them. extra are the
// route groups of other packages (webhooks, dead letters). The operators' console is
// mounted beside it at /ui/, over the same services.
func (s *server) apiHandler(st *store.Store, extra ...httpapi.Option) http.Handler {
	rec := audit.NewRecorder(audit.StoreWriter(st), s.log)
	poolSvc := pools.New(st, rec)
	poolSvc.SetConfig(s.config)
	userSvc := users.New(st, rec)
	s.connect = connect.New(connect.Deps{
		Store: st, Plugins: connect.FromManager(s.plugins), Pools: poolSvc, Audit: rec, Logger: s.log,
		Config: s.config,
		Reload: s.reload,
	})
	// The console's Overview and GET /v1/admin/overview. http.heartbeat_gone_after is
	// read at start (restart-only), as the heartbeat's interval is.
	act := activity.New(st, s.config().HTTP.HeartbeatGoneAfter)
	api := httpapi.New(httpapi.Deps{
		Logger: s.log, Registry: s.metrics, HTTP: s.config().HTTP, MetricsElsewhere: s.config().MetricsListen != "",
		Auth: userSvc, Pools: poolSvc, Connect: s.connect, Users: userSvc, Commands: s.commands.svc,
		Ready:          readyChecks(st, s),
		ProviderStates: connect.ProviderStates(s.plugins),
		Activity:       act, ProviderIDs: s.providerIDs,
	}, extra...)
	ui := console.New(console.Deps{
		Sessions: userSvc, Providers: s.connect, Failures: failures.New(st), Activity: act,
		ProviderIDs: s.providerIDs, Logger: s.log, Clients: api, Commands: s.commands.svc, Replica: s.replicaID,
	}, console.Config{PublicURL: s.config().PublicURL})
	s.api = api
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, ui)
	mux.Handle("/", api)
	return hostHandler{ServeMux: mux, api: api, draining: s.draining.Load, started: s.cfg.HTTP, http: func() config.HTTP { return s.config().HTTP }}
}

// readyChecks are /readyz's checks. With a read replica, both databases are reported:
// "database" (the primary) and "database_read" (the standby), each degraded rather than
// failing while the other still serves reads.
func readyChecks(st *store.Store, s *server) []httpapi.ReadyCheck {
	checks := []httpapi.ReadyCheck{{Name: "database", Check: st.PingPrimary}}
	if st.HasReadReplica() {
		checks = append(checks, httpapi.ReadyCheck{Name: "database_read", Check: st.PingReadReplica})
	}
	return append(checks,
		httpapi.ReadyCheck{Name: "migrations", Check: st.VerifyReady},
		httpapi.ReadyCheck{Name: "plugins", Check: connect.PluginsReady(s.plugins)},
		httpapi.ReadyCheck{Name: "serving", Check: s.notDraining},
	)
}

// hostHandler is the API with the console beside it. Mux is the API's router, so the
// spec⇄router check still walks what serve serves.
type hostHandler struct {
	*http.ServeMux
	api      *httpapi.Handler
	draining func() bool
	// started is the http{} block the http.Server was built with; http the one in force.
	started config.HTTP
	http    func() config.HTTP
}

// ServeHTTP asks each client answered during the drain to close its connection after
// the response, which the client learns with the response itself, so nothing races
// (see server.drain).
//
// It also applies a reloaded read_timeout or write_timeout. The http.Server reads its
// own timeout fields per connection without a lock, so they cannot change at run time;
// instead each request's deadlines are set here from the values in force, counted from
// when its handler starts.
func (h hostHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.draining() {
		w.Header().Set("Connection", "close")
	}
	if cur := h.http(); cur.ReadTimeout != h.started.ReadTimeout || cur.WriteTimeout != h.started.WriteTimeout {
		rc, now := http.NewResponseController(w), time.Now()
		if cur.ReadTimeout != h.started.ReadTimeout {
			_ = rc.SetReadDeadline(now.Add(cur.ReadTimeout)) // unsupported only in tests' recorders
		}
		if cur.WriteTimeout != h.started.WriteTimeout {
			_ = rc.SetWriteDeadline(now.Add(cur.WriteTimeout))
		}
	}
	// Only the console's own canonical paths go through the ServeMux: it would answer
	// any other unclean path (//v1/pools, /v1/./pools) with a 307 and a text/html body,
	// where the API answers a 404 problem (httpapi.Canonical).
	if p := r.URL.Path; !httpapi.Canonical(p) || !strings.HasPrefix(p, console.Prefix) && p != strings.TrimSuffix(console.Prefix, "/") {
		h.api.ServeHTTP(w, r)
		return
	}
	h.ServeMux.ServeHTTP(w, r)
}

// metricsOnly is the handler of metrics_listen: /metrics and nothing else.
func metricsOnly(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", httpapi.MetricsHandler(reg))
	return mux
}

func (h hostHandler) Mux() *mux.Router { return h.api.Mux() }

// providerIDs are the configured providers, in config order.
func (s *server) providerIDs() []string {
	var ids []string
	for _, p := range s.config().Providers {
		ids = append(ids, p.ID)
	}
	return ids
}
