package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/buildinfo"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/replicas"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/tracing"
)

func init() {
	register("", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "serve [flags]",
			Short: "run the host: HTTP API, plugin supervisor and workers",
			Long: `serve builds the host's components from the config file and runs them until SIGINT or
SIGTERM (a graceful drain), reloading the config file on SIGHUP.`,
			Example: "  poolhost serve --config /etc/poolhost/poolhost.hcl",
		}
		configPath := configFlag(c)
		c.RunE = run(func(ctx context.Context, _ []string, _, stderr io.Writer) int {
			return runServe(ctx, *configPath, stderr)
		})
		return c
	})
}

// runServe is `poolhost serve --config FILE`: it builds the host's components from the
// config file and runs them until SIGINT/SIGTERM (graceful shutdown). SIGHUP reloads
// the config file.
func runServe(ctx context.Context, configPath string, stderr io.Writer) int {
	host.TuneGC()
	cfg, err := config.Load(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost serve: %v\n", err)
		return 1
	}
	log := newLogger(cfg, stderr)
	defer startTracing(ctx, log)()
	s, err := newServer(ctx, cfg, log)
	if err != nil {
		log.Error("build server", "error", err)
		return 1
	}
	if err := s.run(ctx); err != nil {
		log.Error("serve", "error", err)
		return 1
	}
	return 0
}

// otlpTracesEndpoint is where the exporter sends spans, as the OTLP/HTTP specification
// derives it from the environment, for the start line ("where do my traces go?"). The
// userinfo, query and fragment are left out: the line must not carry a credential, and
// a collector's token rides in a query as often as in a userinfo part.
func otlpTracesEndpoint(getenv func(string) string) string {
	endpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	if endpoint == "" {
		base := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		if base == "" {
			base = "http://localhost:4318"
		}
		endpoint = strings.TrimRight(base, "/") + "/v1/traces"
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(unparsable OTLP endpoint)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// startTracing exports spans when the standard OTEL_* environment names an exporter
// (README: Tracing) and returns what flushes them at exit. A bad tracing setting is
// logged and the host runs untraced: tracing never keeps readings out.
func startTracing(ctx context.Context, log hclog.Logger) func() {
	shutdown, err := tracing.Setup(ctx, "poolhost")
	switch {
	case err != nil:
		log.Error("tracing off", "error", err)
	case tracing.Enabled():
		log.Info("tracing on: exporting spans over OTLP/HTTP", "endpoint", otlpTracesEndpoint(os.Getenv))
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn("flush traces", "error", err)
		}
	}
}

// server is the running host: the components serve builds from the config. Each later
// piece (store, HTTP API, workers) is built in newServer and started/stopped in run.
type server struct {
	cfg     *config.Config // the config at start; listen and database come from it
	current atomic.Pointer[config.Config]
	reloads sync.Mutex // SIGHUP and POST /v1/admin/reload may race
	// lastReloadOK and lastReloadAt are poolhost_config_last_reload_successful and
	// poolhost_config_last_reload_success_timestamp_seconds, as Prometheus names its own.
	lastReloadOK prometheus.Gauge
	lastReloadAt prometheus.Gauge
	// draining is set on SIGTERM: /readyz answers 503 while requests are still served.
	draining atomic.Bool
	log      hclog.Logger
	metrics  *prometheus.Registry
	plugins  *pluginmgr.Manager
	store    *store.Store
	connect  *connect.Service
	// subs retries failed webhook subscriptions (on one elected replica).
	subs     *connect.SubscriptionWorker
	ingest   *ingestion
	commands *commandSide
	api      *httpapi.Handler
	http     *http.Server
	// metricsHTTP serves /metrics alone on metrics_listen, when set.
	metricsHTTP *http.Server
	// workers guards starting the workers (maybe late, see startWorkers) against
	// shutdown: none starts once workersStopped is set.
	workers        sync.Mutex
	workersStopped bool
	// heartbeat records this replica's readiness for every replica's console.
	heartbeat *replicas.Heartbeat
	replicaID string
}

func newServer(ctx context.Context, cfg *config.Config, log hclog.Logger) (*server, error) {
	s := &server{cfg: cfg, log: log, metrics: prometheus.NewRegistry(), replicaID: worker.OwnerID("serve")}
	s.current.Store(cfg)
	s.metrics.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		buildinfo.Read().Collector())
	s.lastReloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "poolhost_config_last_reload_successful",
		Help: "Whether the last configuration reload (SIGHUP or POST /v1/admin/reload) succeeded: 1, or 0 when the file was refused.",
	})
	s.lastReloadAt = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "poolhost_config_last_reload_success_timestamp_seconds",
		Help: "When the configuration was last loaded successfully (at start, then at each reload), in Unix seconds.",
	})
	s.metrics.MustRegister(s.lastReloadOK, s.lastReloadAt)
	s.lastReloadOK.Set(1)
	s.lastReloadAt.SetToCurrentTime()
	s.plugins = pluginmgr.New(log, s.metrics, cfg)
	st, err := openAPIStore(ctx, cfg, s)
	if err != nil {
		return nil, err
	}
	s.store = st
	// A plugin the supervisor had to restart is an operator's business: audited with
	// the reason. Written off the supervision goroutine, which must not wait on the
	// database to restart the plugin.
	rec := audit.NewRecorder(audit.StoreWriter(st), log)
	s.plugins.OnRestart(func(r pluginmgr.Restart) {
		details := map[string]any{"reason": r.Reason, "pid": r.PID, "restarted": !r.GaveUp}
		go rec.Record(context.Background(), audit.Entry{Action: audit.PluginRestarted, Actor: auth.System("supervisor"),
			Provider: r.Provider, TargetType: "plugin", TargetID: r.Provider, Details: details})
	})
	// Say once at start what readiness will say on every probe: a schema ahead but
	// compatible (mid-roll), or why this binary will not be ready.
	if state, err := st.SchemaState(ctx); err == nil {
		if p := state.Problem(); p != "" {
			log.Error("this binary is not ready on this database", "reason", p)
		} else if n := state.Note(); n != "" {
			log.Warn(n)
		}
	}
	var routes []httpapi.Option
	s.commands = s.newCommandSide(st)
	s.ingest, routes = s.newIngestion(st)
	s.http = httpapi.NewServer(cfg.Listen, s.apiHandler(st, routes...), cfg.HTTP, log)
	s.subs = connect.NewSubscriptionWorker(s.connect)
	if cfg.MetricsListen != "" {
		s.metricsHTTP = httpapi.NewServer(cfg.MetricsListen, metricsOnly(s.metrics), cfg.HTTP, log)
	}
	hostname, _ := os.Hostname()
	s.heartbeat = replicas.New(st, s.replicaID, hostname, buildinfo.Read().Version, time.Now(), cfg.HTTP.HeartbeatInterval, s.api.Readiness, log)
	s.heartbeat.SetCredentialsKeyIDs(credentialsKeyIDs(cfg))
	s.heartbeat.SetEnabledProviders(enabledProviderIDs(cfg))
	return s, nil
}

// listenError says what to do about a listen address that is taken: make run's
// 127.0.0.1:8080 is often held by another host or a second make run, and "bind:
// address already in use" alone names neither the setting nor the way out.
func listenError(setting string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		advice := "another process listens there (another poolhost serve?): stop it, or give this host another " + setting
		if setting == "listen" {
			advice += " (and public_url with it)"
		}
		return fmt.Errorf("%s: %w: %s", setting, err, advice)
	}
	return fmt.Errorf("%s: %w", setting, err)
}

// config is the configuration in force (it changes on reload).
func (s *server) config() *config.Config { return s.current.Load() }

// run starts everything, then waits for ctx (shutdown) or SIGHUP (reload).
func (s *server) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return listenError("listen", err)
	}
	var metricsLn net.Listener
	if s.metricsHTTP != nil {
		if metricsLn, err = net.Listen("tcp", s.cfg.MetricsListen); err != nil {
			ln.Close()
			return listenError("metrics_listen", err)
		}
	}

	// Before anything answers: a SIGHUP sent once the host is seen serving must never
	// meet the default action, which ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// A plugin that fails to start does not stop the host: its provider answers
	// "unavailable" and its state is visible, while the others serve.
	if err := s.plugins.Start(ctx); err != nil {
		s.log.Warn("some plugins are not running", "error", err)
	}

	s.startWorkers(ctx)

	serveErr := make(chan error, 2)
	go func() { serveErr <- s.http.Serve(httpapi.ProblemListener(ln)) }()
	go s.heartbeat.Run(ctx)
	if metricsLn != nil {
		go func() { serveErr <- fmt.Errorf("metrics: %w", s.metricsHTTP.Serve(httpapi.ProblemListener(metricsLn))) }()
		s.log.Info("serving /metrics apart from the API", "metrics_listen", metricsLn.Addr().String())
	}
	s.log.Info("poolhost serving", "listen", ln.Addr().String(), "public_url", s.cfg.PublicURL, "config", s.cfg.Path, "database", s.store.Dialect(), "version", buildinfo.Read().Version, "commit", buildinfo.Read().ShortCommit())
	for _, w := range s.cfg.Warnings {
		s.log.Warn("config warning", "warning", w)
	}

	for {
		select {
		case <-hup:
			// Through the service, as POST /v1/admin/reload, so the reload is audited
			// (actor system:signal) and logged the same way.
			_, _ = s.connect.Reload(ctx, auth.System("signal"))
		case err := <-serveErr:
			s.shutdown()
			return fmt.Errorf("http server: %w", err)
		case <-ctx.Done():
			s.drain(serveErr)
			s.log.Info("shutting down")
			s.shutdown()
			return nil
		}
	}
}

// reload re-reads the config file and puts in force what can change at run time: log
// level, http{} (see hostHandler for the timeouts), worker and ingest settings, plugins
// and providers. What is read only at start (config.RestartOnly: listen, database_url…)
// keeps its running value and is named in a warning. A file with errors changes
// nothing and is refused with its diagnostics.
func (s *server) reload(ctx context.Context) (connect.ReloadReport, error) {
	s.reloads.Lock()
	defer s.reloads.Unlock()
	cfg, err := config.Load(s.cfg.Path)
	if err != nil {
		s.lastReloadOK.Set(0)
		s.log.Error("reload refused; keeping the running configuration", "config", s.cfg.Path, "error", err)
		var cfgErr *config.Error
		if errors.As(err, &cfgErr) {
			return connect.ReloadReport{}, host.Wrap(host.EINVALID, err, "the config file %s has errors; the running configuration is kept", s.cfg.Path)
		}
		return connect.ReloadReport{}, host.Wrap(host.EINVALID, err, "could not read the config file %s; the running configuration is kept", s.cfg.Path)
	}
	old := s.config()
	if cfg.PublicURLFromListen {
		// listen keeps its running value until a restart, and so does the public_url
		// that follows it: webhook URLs and OAuth redirects must name the port served.
		cfg.PublicURL = config.DefaultPublicURL(old.Listen)
	}
	ch := config.Diff(old, cfg)
	keepRestartOnly(old, cfg)
	rep := connect.ReloadReport{Changed: ch.Applied, RestartRequired: ch.RestartRequired}
	for _, name := range ch.RestartRequired {
		rep.Warnings = append(rep.Warnings, name+" changed in the file but keeps its running value until the next restart")
	}
	rep.Warnings = append(rep.Warnings, cfg.Warnings...)

	s.current.Store(cfg)
	if cfg.LogLevel != old.LogLevel {
		s.log.SetLevel(hclog.LevelFromString(cfg.LogLevel))
	}
	s.api.SetHTTP(cfg.HTTP)
	s.ingest.reload(cfg)
	s.commands.reload(cfg)
	if err := s.plugins.Reload(ctx, cfg); err != nil {
		s.log.Warn("some plugins are not running, or kept their old process, after reload", "error", err)
		rep.Warnings = append(rep.Warnings, "some plugins are not running, or kept their old process, after the reload: see each provider's state, lastError, reloadWarning and pendingConfigRefused")
	}
	// Recorded at once, not at the next beat: an operator who reloaded after disabling
	// a provider runs accounts disconnect next, which reads this row.
	s.heartbeat.SetEnabledProviders(enabledProviderIDs(cfg))
	_ = s.heartbeat.Beat(ctx) // a failure is logged by the heartbeat, and the next beat retries
	s.lastReloadOK.Set(1)
	s.lastReloadAt.SetToCurrentTime()
	s.log.Info("configuration reloaded", "config", cfg.Path, "changed", rep.Changed, "restart_required", rep.RestartRequired)
	return rep, nil
}

// enabledProviderIDs are the ids of cfg's enabled providers, in file order.
func enabledProviderIDs(cfg *config.Config) []string {
	ids := []string{}
	for _, p := range cfg.EnabledProviders() {
		ids = append(ids, p.ID)
	}
	return ids
}

// keepRestartOnly gives cur the running values of the settings read only at start, so
// the configuration in force says what is really in force.
func keepRestartOnly(old, cur *config.Config) {
	cur.Listen, cur.DatabaseURL, cur.MetricsListen, cur.LogFormat = old.Listen, old.DatabaseURL, old.MetricsListen, old.LogFormat
	cur.AutoMigrate = old.AutoMigrate
	cur.CredentialsKey, cur.CredentialsOldKeys = old.CredentialsKey, old.CredentialsOldKeys
	cur.HTTP.ReadHeaderTimeout, cur.HTTP.IdleTimeout = old.HTTP.ReadHeaderTimeout, old.HTTP.IdleTimeout
}

// drain runs before shutdown on SIGTERM: /readyz answers 503 at once, so the load
// balancer takes the replica out, while the listener keeps accepting for DrainGrace;
// requests sent meanwhile are served, not refused. Each answer then says
// "Connection: close" (hostHandler.ServeHTTP), so clients open new connections, which land
// on other replicas once the balancer has noticed. Keep-alives are not switched off:
// that closes idle connections at once, and a client that picked one up at that moment
// saw EOF on its POST (TestDrain caught it).
func (s *server) drain(serveErr <-chan error) {
	grace := s.config().HTTP.DrainGrace
	s.draining.Store(true)
	if grace <= 0 {
		return
	}
	s.log.Info("draining: /readyz answers 503; still serving", "grace", grace)
	select {
	case <-time.After(grace):
	case err := <-serveErr:
		s.log.Warn("http server stopped while draining", "error", err)
	}
}

// notDraining is the readiness check drain turns off.
func (s *server) notDraining(context.Context) error {
	if s.draining.Load() {
		return errDraining
	}
	return nil
}

var errDraining = errors.New("shutting down: draining before the listener closes")

// shutdown stops taking requests, lets in-flight ones finish within the configured
// budget, then stops the plugins they may have been calling.
func (s *server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), s.config().HTTP.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("http shutdown", "error", err)
	}
	if s.metricsHTTP != nil {
		_ = s.metricsHTTP.Close() // scrapes need no drain
	}
	// The workers before the plugins: a poll call or a command send in flight when the
	// workers stopped is still waiting for its plugin's answer.
	s.workers.Lock()
	s.workersStopped = true
	s.workers.Unlock()
	s.ingest.stop()
	s.commands.stop()
	s.subs.Close()
	// Shown as stopped, not gone, in the other replicas' consoles; with its own
	// deadline, as the HTTP shutdown may have used up ctx's.
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = s.heartbeat.Stop(hctx)
	hcancel()
	if err := s.plugins.Close(); err != nil {
		s.log.Warn("close plugins", "error", err)
	}
	if err := s.store.Close(); err != nil {
		s.log.Warn("close store", "error", err)
	}
}

// schemaRecheck is how often a host whose database lacks some of its migrations looks
// again, to start its workers once `migrate up` has run.
var schemaRecheck = 5 * time.Second

// startWorkers runs the retry, poll, command, subscription and rollup workers, once the
// database has every migration this binary knows. On a database behind it (`migrate up`
// not run yet, with auto_migrate = false) every tick would only fail on the tables and
// columns it lacks — the command worker's every second — burying the one line that says
// what to do; the host serves meanwhile, not ready, and starts them when the schema has
// caught up.
func (s *server) startWorkers(ctx context.Context) {
	if !s.schemaBehind(ctx) {
		s.runWorkers(ctx)
		return
	}
	s.log.Warn("the workers (retries, polls, commands) wait until the database has this binary's migrations", "recheck", schemaRecheck.String())
	go func() {
		t := time.NewTicker(schemaRecheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !s.schemaBehind(ctx) {
				s.log.Info("the database has this binary's migrations: starting the workers")
				s.runWorkers(ctx)
				return
			}
		}
	}()
}

// schemaBehind reports whether the database lacks migrations this binary knows. A
// schema that cannot be read counts as not behind: the workers then say what fails.
func (s *server) schemaBehind(ctx context.Context) bool {
	state, err := s.store.SchemaState(ctx)
	return err == nil && len(state.Pending) > 0
}

func (s *server) runWorkers(ctx context.Context) {
	s.workers.Lock()
	defer s.workers.Unlock()
	if s.workersStopped {
		return
	}
	s.ingest.start(ctx)
	s.commands.start(ctx)
	s.subs.Start(ctx)
	go s.rollupAudit(ctx)
}

// rollupEvery is how often the audit rows are rolled up into the hourly counts the
// console's Overview reads (store.RollupAudit); rows not rolled up yet are counted from
// the audit trail, so this bounds that tail, not the Overview's freshness.
const rollupEvery = 30 * time.Second

// rollupAudit rolls up the audit trail until ctx ends, catching up chunk by chunk.
func (s *server) rollupAudit(ctx context.Context) {
	t := time.NewTicker(rollupEvery)
	defer t.Stop()
	for {
		for {
			n, err := s.store.RollupAudit(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("roll up the audit trail for the overview", "error", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
