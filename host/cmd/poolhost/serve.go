package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/buildinfo"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
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
	cfg, err := config.Load(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost serve: %v\n", err)
		return 1
	}
	log := newLogger(cfg, stderr)
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

// server is the running host: the components serve builds from the config. Each later
// piece (store, HTTP API, workers) is built in newServer and started/stopped in run.
type server struct {
	cfg     *config.Config // the config at start; listen and database come from it
	current atomic.Pointer[config.Config]
	reloads sync.Mutex // SIGHUP and POST /v1/admin/reload may race
	// draining is set on SIGTERM: /readyz answers 503 while requests are still served.
	draining atomic.Bool
	log      hclog.Logger
	metrics  *prometheus.Registry
	plugins  *pluginmgr.Manager
	store    *store.Store
	connect  *connect.Service
	ingest   *ingestion
	http     *http.Server
}

func newServer(ctx context.Context, cfg *config.Config, log hclog.Logger) (*server, error) {
	s := &server{cfg: cfg, log: log, metrics: prometheus.NewRegistry()}
	s.current.Store(cfg)
	s.metrics.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		buildinfo.Read().Collector())
	s.plugins = pluginmgr.New(log, s.metrics, cfg)
	st, err := openAPIStore(ctx, cfg, s)
	if err != nil {
		return nil, err
	}
	s.store = st
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
	s.ingest, routes = s.newIngestion(st)
	s.http = httpapi.NewServer(cfg.Listen, s.apiHandler(st, routes...), cfg.HTTP, log)
	return s, nil
}

// config is the configuration in force (it changes on reload).
func (s *server) config() *config.Config { return s.current.Load() }

// run starts everything, then waits for ctx (shutdown) or SIGHUP (reload).
func (s *server) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	// A plugin that fails to start does not stop the host: its provider answers
	// "unavailable" and its state is visible, while the others serve.
	if err := s.plugins.Start(ctx); err != nil {
		s.log.Warn("some plugins are not running", "error", err)
	}

	s.ingest.start(ctx)

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(ln) }()
	s.log.Info("poolhost serving", "listen", ln.Addr().String(), "public_url", s.cfg.PublicURL, "config", s.cfg.Path, "database", s.store.Dialect(), "version", buildinfo.Read().Version, "commit", buildinfo.Read().ShortCommit())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	for {
		select {
		case <-hup:
			if err := s.reload(ctx); err != nil {
				s.log.Error("reload failed; keeping the running configuration", "error", err)
			}
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

// reload re-reads the config file and reconciles what can change at run time. The
// listen address and database need a restart.
func (s *server) reload(ctx context.Context) error {
	s.reloads.Lock()
	defer s.reloads.Unlock()
	cfg, err := config.Load(s.cfg.Path)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	s.log.Info("reloading configuration", "config", cfg.Path)
	if cfg.Listen != s.cfg.Listen || cfg.DatabaseURL != s.cfg.DatabaseURL {
		s.log.Warn("listen and database_url changes take effect at the next restart")
	}
	s.current.Store(cfg)
	if err := s.plugins.Reload(ctx, cfg); err != nil {
		s.log.Warn("some plugins are not running after reload", "error", err)
	}
	return nil
}

// drain runs before shutdown on SIGTERM: /readyz answers 503 at once, so the load
// balancer takes the replica out, while the listener keeps accepting for DrainGrace;
// requests sent meanwhile are served, not refused. Each answer then says
// "Connection: close" (hostHandler.ServeHTTP), so clients open new connections, which land
// on other replicas once the balancer has noticed. Keep-alives are not switched off:
// that closes idle connections at once, and a client that picked one up at that moment
// saw EOF on its POST (TestDrain caught it).
func (s *server) drain(serveErr <-chan error) {
	grace := s.cfg.HTTP.DrainGrace
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
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("http shutdown", "error", err)
	}
	s.ingest.stop()
	if err := s.plugins.Close(); err != nil {
		s.log.Warn("close plugins", "error", err)
	}
	if err := s.store.Close(); err != nil {
		s.log.Warn("close store", "error", err)
	}
}
