package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
)

// fleetKey is generic's fleet_key secret when envOpts.fleet is set.
const fleetKey = "fleet-key-for-tests-0123456789abcdef"

// pluginDir holds the real plugin binaries, built once by TestMain.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "httpapi-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	for id, pkg := range map[string]string{
		"template": "../../examples/provider-template/cmd/poolhost-provider-template",
		"generic":  "../../plugins/generic/cmd/poolhost-provider-generic",
		"iopool":   "../../plugins/iopool/cmd/poolhost-provider-iopool",
		"faulty":   "../internal/ingesttest/faultyplugin",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, config.BinaryPrefix+id), pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	pgtest.Main(m, func() { os.RemoveAll(dir) })
}

// forEachDB runs fn against a fresh SQLite file and a fresh PostgreSQL database.
func forEachDB(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, "sqlite:"+filepath.Join(t.TempDir(), "poolhost.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, pgtest.NewDatabase(t))
	})
}

// providerOpts shape the template provider's config block.
type providerOpts struct {
	disabled   bool
	pilot      bool
	pilotUsers []string
	access     string
	webhooks   bool
}

type envOpts struct {
	template  providerOpts
	returnURL string
	ingest    bool // generic takes webhooks; webhook and dead-letter routes are wired
	// fleet, with ingest, is generic's fleet_devices setting (its fleet_key is
	// fleetKey): the operator's devices, verified for a connect with the key.
	fleet  string
	iopool bool // the iopool plugin runs too (an api_key provider declaring its input)
	// iopoolURL, with iopool, is its base_url setting (an iopooltest fake).
	iopoolURL string
	// faulty runs the faulty test plugin with webhooks on: an api_key provider whose
	// accounts hold a webhook secret of their own. Its settings are faultySettings.
	faulty         bool
	faultySettings map[string]string
	// faultyDisabled, with faulty, keeps its block but with enabled = false.
	faultyDisabled bool
	// faultyNoWebhooks, with faulty, keeps it enabled but with webhooks = false.
	faultyNoWebhooks bool
}

// env is one running host: store, plugin manager with real plugin binaries, the Acme
// fake upstream, and the HTTP API on a real listener.
type env struct {
	t       *testing.T
	dir     string
	st      *store.Store
	acme    *acmetest.Server
	mgr     *pluginmgr.Manager
	cfg     atomic.Pointer[config.Config]
	connect *connect.Service
	srv     *httptest.Server
	opts    envOpts
	offset  atomic.Int64 // the store's clock runs this far ahead of time.Now
	n       atomic.Int64
	reg     *prometheus.Registry // the handler's metrics
	handler *httpapi.Handler
}

func newEnv(t *testing.T, dbURL string, opts envOpts) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), opts: opts}
	ctx := context.Background()
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: os.Stderr})

	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	writeFile(t, filepath.Join(e.dir, "key"), base64.StdEncoding.EncodeToString(key))
	writeFile(t, filepath.Join(e.dir, "client.secret"), acmetest.ClientSecret)
	writeFile(t, filepath.Join(e.dir, "generic.secret"), genericWebhookSecret)
	writeFile(t, filepath.Join(e.dir, "fleet.key"), fleetKey)

	e.acme = acmetest.NewServer()
	t.Cleanup(e.acme.Close)

	kr, err := credentials.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	e.st, err = store.Open(ctx, dbURL, store.WithCipher(kr), store.WithClock(func() time.Time {
		return time.Now().Add(time.Duration(e.offset.Load()))
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.st.Close() })
	if _, err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	// The handler is installed after the server starts: public_url needs its address.
	var handler atomic.Pointer[http.Handler]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)

	cfg := e.loadConfig()
	e.cfg.Store(cfg)
	reg := prometheus.NewRegistry()
	e.mgr = pluginmgr.New(log, reg, cfg)
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := e.mgr.Start(startCtx); err != nil {
		t.Logf("plugin start: %v", err)
	}
	t.Cleanup(func() { e.mgr.Close() })

	rec := audit.NewRecorder(audit.StoreWriter(e.st), log)
	poolSvc := pools.New(e.st, rec)
	poolSvc.SetConfig(func() *config.Config { return e.cfg.Load() })
	e.connect = connect.New(connect.Deps{
		Store: e.st, Plugins: connect.FromManager(e.mgr), Pools: poolSvc, Audit: rec, Logger: log,
		Config: func() *config.Config { return e.cfg.Load() },
		Reload: func(ctx context.Context) (connect.ReloadReport, error) {
			cfg, err := config.Load(filepath.Join(e.dir, "poolhost.hcl"))
			if err != nil {
				return connect.ReloadReport{}, host.Wrap(host.EINVALID, err, "the config file has errors")
			}
			ch := config.Diff(e.cfg.Load(), cfg)
			e.cfg.Store(cfg)
			return connect.ReloadReport{Changed: ch.Applied, RestartRequired: ch.RestartRequired}, e.mgr.Reload(ctx, cfg)
		},
	})
	userSvc := users.New(e.st, rec)
	var extra []httpapi.Option
	if opts.ingest {
		extra = ingestRoutes(e.st, e.mgr, cfg, log, reg)
		reg.MustRegister(retry.NewFailureCollector(e.st, retry.WithProviders(func() []string {
			var ids []string
			for _, p := range e.cfg.Load().Providers {
				ids = append(ids, p.ID)
			}
			return ids
		})))
	}
	e.reg = reg
	e.handler = httpapi.New(httpapi.Deps{
		Logger: log, Registry: reg, HTTP: noRateLimit(cfg.HTTP),
		Auth: userSvc, Pools: poolSvc, Connect: e.connect, Users: userSvc,
		Commands: commands.New(e.st, poolSvc, commands.ManagerPlugins(e.mgr), rec, commands.Config{}, nil),
		Activity: activity.New(e.st, 0),
		ProviderIDs: func() []string {
			var ids []string
			for _, p := range e.cfg.Load().Providers {
				ids = append(ids, p.ID)
			}
			return ids
		},
		Ready: []httpapi.ReadyCheck{
			{Name: "database", Check: e.st.Ping},
			{Name: "migrations", Check: e.st.Verify},
			{Name: "plugins", Check: connect.PluginsReady(e.mgr)},
		},
	}, extra...)
	var h http.Handler = e.handler
	handler.Store(&h)
	return e
}

// writeConfig writes the config file for the current options.
func (e *env) writeConfig() string {
	e.t.Helper()
	o := e.opts.template
	stage := "ga"
	if o.pilot {
		stage = "pilot"
	}
	access := o.access
	if access == "" {
		access = "read-only"
	}
	users, _ := json.Marshal(o.pilotUsers)
	if o.pilotUsers == nil {
		users = []byte("[]")
	}
	httpBlock := ""
	if e.opts.returnURL != "" {
		httpBlock = fmt.Sprintf("http {\n  return_url = %q\n}\n", e.opts.returnURL)
	}
	generic := "{}"
	if e.opts.ingest && e.opts.fleet != "" {
		generic = fmt.Sprintf("{\n  webhooks = true\n  settings = { fleet_devices = %q }\n"+
			"  secrets  = { webhook_secret = file(\"generic.secret\"), fleet_key = file(\"fleet.key\") }\n}", e.opts.fleet)
	} else if e.opts.ingest {
		generic = "{\n  webhooks = true\n  secrets  = { webhook_secret = file(\"generic.secret\") }\n}"
	}
	src := fmt.Sprintf(`
database_url    = "sqlite:unused.db"
plugin_dir      = %q
public_url      = %q
credentials_key = file("key")
%s
plugins {
  start_timeout   = "2m"
  health_interval = "5s"
  health_timeout  = "20s"
}

provider "template" {
  enabled     = %t
  stage       = %q
  pilot_users = %s
  access      = %q
  webhooks    = %t
  settings = {
    base_url  = %q
    client_id = %q
  }
  secrets = {
    client_secret = file("client.secret")
  }
  timeouts {
    connect  = "30s"
    callback = "30s"
    discover = "30s"
  }
}

provider "generic" %s
`, pluginDir, e.srv.URL, httpBlock, !o.disabled, stage, users, access, o.webhooks, e.acme.URL, acmetest.ClientID, generic)
	if e.opts.iopool && e.opts.iopoolURL != "" {
		src += fmt.Sprintf("\nprovider \"iopool\" {\n  settings = { base_url = %q }\n}\n", e.opts.iopoolURL)
	} else if e.opts.iopool {
		src += "\nprovider \"iopool\" {}\n"
	}
	if e.opts.faulty {
		settings, _ := json.Marshal(e.opts.faultySettings)
		if e.opts.faultySettings == nil {
			settings = []byte("{}")
		}
		// HCL takes a JSON object as an object expression.
		src += fmt.Sprintf("\nprovider \"faulty\" {\n  enabled  = %t\n  webhooks = %t\n  settings = %s\n"+
			"  secrets  = { webhook_secret = file(\"generic.secret\") }\n}\n", !e.opts.faultyDisabled, !e.opts.faultyNoWebhooks, settings)
	}
	path := filepath.Join(e.dir, "poolhost.hcl")
	writeFile(e.t, path, src)
	return path
}

func (e *env) loadConfig() *config.Config {
	e.t.Helper()
	cfg, err := config.Load(e.writeConfig())
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// setTemplate rewrites the template's block and reloads, as an operator would.
func (e *env) setTemplate(o providerOpts) {
	e.t.Helper()
	e.opts.template = o
	cfg := e.loadConfig()
	e.cfg.Store(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.mgr.Reload(ctx, cfg); err != nil {
		e.t.Fatalf("reload: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// user is a test user with a working token.
type user struct {
	ID    int64
	Email string
	Token string
}

func (e *env) newUser(name string, admin bool) user {
	e.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", name, e.n.Add(1))
	u, err := e.st.CreateUser(context.Background(), email, admin)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.st.CreateAPIToken(context.Background(), u.ID, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return user{ID: u.ID, Email: u.Email, Token: tok}
}

// response is an HTTP answer with its body read.
type response struct {
	*http.Response
	Body []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r response) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d content type %q, want a problem: %s", r.StatusCode, ct, r.Body)
	}
	var p httpapi.Problem
	r.json(t, &p)
	return p
}

type req struct {
	method, path, token string
	body                any
	header              map[string]string
}

func (e *env) do(r req) response {
	e.t.Helper()
	var body io.Reader
	if r.body != nil {
		switch b := r.body.(type) {
		case string:
			body = strings.NewReader(b)
		case []byte:
			body = bytes.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			body = bytes.NewReader(j)
		}
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 2 * time.Minute, Transport: specTransport{t: e.t, base: http.DefaultTransport}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp, b}
}

// must does r and fails unless the status is want.
func (e *env) must(want int, r req) response {
	e.t.Helper()
	resp := e.do(r)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, resp.StatusCode, want, resp.Body)
	}
	return resp
}

// auditEvents lists stored audit events of one action.
func (e *env) auditEvents(action string) []store.AuditEvent {
	e.t.Helper()
	es, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// noRateLimit switches the rate limits off: the suites send hundreds of requests a
// second from one address with one token. ratelimit_test.go tests the limits.
func noRateLimit(c config.HTTP) config.HTTP {
	c.RateLimit = config.RateLimit{}
	return c
}
