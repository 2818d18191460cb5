package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/sdk"
)

// reloadWorld is a host built by newServer (what serve runs) from a config file the
// test rewrites, serving on a real listener with its own http.Server, workers started.
type reloadWorld struct {
	dir, path, db string
	pluginDir     string // plugin_dir; "plugins" (none there) unless newReloadWorldIn says
	s             *server
	url           string
	token         string
	log           *syncBuffer
}

// reloadConfig is the config file's text; extra goes at the end.
func (w *reloadWorld) write(t *testing.T, listen, extra string) {
	t.Helper()
	writeTestFile(t, w.path, `
database_url    = "sqlite:`+w.db+`"
listen          = "`+listen+`"
plugin_dir      = "`+w.pluginDir+`"
credentials_key = file("key")
provider "generic" {
  webhooks = true
  secrets  = { webhook_secret = file("generic.secret") }
}
`+extra)
}

func newReloadWorld(t *testing.T, extra string) *reloadWorld {
	t.Helper()
	return newReloadWorldIn(t, "plugins", extra)
}

// newReloadWorldIn is newReloadWorld with plugin_dir at pluginDir.
func newReloadWorldIn(t *testing.T, pluginDir, extra string) *reloadWorld {
	t.Helper()
	dir := t.TempDir()
	w := &reloadWorld{dir: dir, path: filepath.Join(dir, "poolhost.hcl"), db: filepath.Join(dir, "poolhost.db"), pluginDir: pluginDir, log: &syncBuffer{}}
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	writeTestFile(t, filepath.Join(dir, "generic.secret"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.url = "http://" + ln.Addr().String()
	w.write(t, ln.Addr().String(), extra)
	cfg, err := config.Load(w.path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.s, err = newServer(ctx, cfg, newLogger(cfg, w.log))
	if err != nil {
		t.Fatal(err)
	}
	w.s.ingest.start(ctx)
	go w.s.http.Serve(ln)
	t.Cleanup(func() {
		cancel()
		w.s.http.Close()
		w.s.ingest.stop()
		w.s.plugins.Close()
		w.s.store.Close()
		if t.Failed() {
			t.Logf("host log:\n%s", w.log.String())
		}
	})
	db := "--database-url=sqlite:" + w.db
	if code, _, stderr := cli(t, "users", "create", "--email", "ops@example.com", "--admin", db); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := cli(t, "tokens", "create", "--email", "ops@example.com", db)
	if code != 0 {
		t.Fatal(stderr)
	}
	w.token = strings.TrimSpace(out)
	return w
}

// do sends one request with the admin token and returns the status and body.
func (w *reloadWorld) do(t *testing.T, method, path string) (int, http.Header, []byte) {
	t.Helper()
	rq, _ := http.NewRequest(method, w.url+path, nil)
	rq.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

type reloadAnswer struct {
	Changed         []string `json:"changed"`
	RestartRequired []string `json:"restartRequired"`
	Warnings        []string `json:"warnings"`
	Providers       []struct {
		ID string `json:"id"`
	} `json:"providers"`
}

func (w *reloadWorld) reload(t *testing.T) reloadAnswer {
	t.Helper()
	status, _, body := w.do(t, http.MethodPost, "/v1/admin/reload")
	var out reloadAnswer
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("POST /v1/admin/reload: %d %s", status, body)
	}
	return out
}

func (w *reloadWorld) metric(t *testing.T, name string) string {
	t.Helper()
	_, _, body := w.do(t, http.MethodGet, "/metrics")
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}

// TestReloadEachBlock: a reload puts each reloadable block in force and says so; what
// needs a restart is named, and keeps its running value.
func TestReloadEachBlock(t *testing.T) {
	w := newReloadWorld(t, `
log_level = "info"
retry_worker { enabled = false }
poll_worker  { enabled = false }
ingest       { max_past_age = "720h" }
http         { read_timeout = "1h" }
`)
	listen := w.s.config().Listen
	if got := w.reload(t); len(got.Changed) != 0 || len(got.RestartRequired) != 0 || len(got.Providers) != 1 {
		t.Fatalf("reload of an unchanged file: %+v", got)
	}

	w.write(t, "127.0.0.1:1", `
log_level = "debug"
retry_worker { 
  enabled    = true
  interval   = "1h"
  batch_size = 7
}
poll_worker {
  enabled    = true
  interval   = "1h"
  batch_size = 3
}
ingest { max_past_age = "1h" }
http   { read_timeout = "300ms" }
`)
	got := w.reload(t)
	for _, want := range []string{"log_level", "retry_worker.enabled", "retry_worker.batch_size", "retry_worker.interval",
		"poll_worker.enabled", "poll_worker.batch_size", "ingest.max_past_age", "http.read_timeout"} {
		if !slices.Contains(got.Changed, want) {
			t.Errorf("changed %v lacks %s", got.Changed, want)
		}
	}
	if fmt.Sprint(got.RestartRequired) != "[listen]" || !slices.ContainsFunc(got.Warnings, func(s string) bool { return strings.HasPrefix(s, "listen changed") }) {
		t.Errorf("restartRequired %v, warnings %q; want listen named in both", got.RestartRequired, got.Warnings)
	}
	if w.s.config().Listen != listen {
		t.Errorf("the configuration in force says listen %s, but the host still listens on %s", w.s.config().Listen, listen)
	}

	t.Run("log_level", func(t *testing.T) {
		w.s.log.Named("probe").Debug("debug-line-after-reload")
		if !strings.Contains(w.log.String(), "debug-line-after-reload") {
			t.Error("a debug line is not logged after log_level = debug was reloaded")
		}
	})
	t.Run("retry_worker and poll_worker", func(t *testing.T) {
		// Each was off; the reload started it with its new settings.
		for _, want := range []string{"retry worker started", "batch_size=7", "poll worker started", "batch_size=3"} {
			if !strings.Contains(w.log.String(), want) {
				t.Errorf("host log lacks %q", want)
			}
		}
	})
	t.Run("ingest", func(t *testing.T) {
		res, err := w.s.ingest.ing.Ingest(context.Background(), ingest.Request{Provider: "generic", Readings: []sdk.Reading{
			{ProviderDeviceID: "probe", Metric: "ph", Value: 7.2, RecordedAt: time.Now().Add(-2 * time.Hour)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Dropped[ingest.DropTooOld] != 1 {
			t.Errorf("a 2h-old reading after max_past_age = 1h: %+v, want dropped too_old", res)
		}
	})
	t.Run("http", func(t *testing.T) {
		// A body that never arrives: the reloaded 300ms read_timeout ends the request;
		// under the 1h it started with, it would wait for an hour.
		conn, err := net.Dial("tcp", strings.TrimPrefix(w.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/webhooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		start := time.Now()
		answer, _ := io.ReadAll(conn)
		if time.Since(start) > 50*time.Second {
			t.Fatalf("the request waited %v for its body: read_timeout was not reloaded", time.Since(start))
		}
		if len(answer) > 0 && !bytes.HasPrefix(answer, []byte("HTTP/1.1 400")) {
			t.Errorf("answer to a body cut by read_timeout: %.200s", answer)
		}
	})
	if v := w.metric(t, "poolhost_config_last_reload_successful"); v != "1" {
		t.Errorf("poolhost_config_last_reload_successful = %s", v)
	}
	if v := w.metric(t, "poolhost_config_last_reload_success_timestamp_seconds"); v == "0" {
		t.Errorf("poolhost_config_last_reload_success_timestamp_seconds = %s", v)
	}
}

// TestReloadBrokenFile: a file with errors is answered 400 with each diagnostic's file,
// line and message; the running configuration is kept, the reload metric says 0, the
// refusal is audited, and `poolhost reload` prints the diagnostics and exits 1. Fixed,
// `poolhost reload` and `poolhost providers` report from the running host.
func TestReloadBrokenFile(t *testing.T) {
	w := newReloadWorld(t, `log_level = "warn"`+"\n")
	listen := strings.TrimPrefix(w.url, "http://")
	before := w.s.config()
	w.write(t, listen, `
log_level = "loud"
retry_worker {
  batch_size = 0
}
`)
	status, header, body := w.do(t, http.MethodPost, "/v1/admin/reload")
	var p struct {
		Type        string              `json:"type"`
		Detail      string              `json:"detail"`
		Diagnostics []config.Diagnostic `json:"diagnostics"`
	}
	if err := json.Unmarshal(body, &p); err != nil || status != http.StatusBadRequest || header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("reload of a broken file: %d %s %s", status, header.Get("Content-Type"), body)
	}
	if len(p.Diagnostics) != 2 {
		t.Fatalf("diagnostics %+v, want 2", p.Diagnostics)
	}
	for i, want := range []struct {
		line int
		word string
	}{{11, "log_level"}, {13, "batch_size"}} {
		d := p.Diagnostics[i]
		if d.File != w.path || d.Line != want.line || !strings.Contains(d.Message, want.word) {
			t.Errorf("diagnostic %d = %+v, want %s line %d about %s", i, d, w.path, want.line, want.word)
		}
	}
	if !strings.Contains(p.Detail, "running configuration is kept") {
		t.Errorf("detail %q", p.Detail)
	}
	if w.s.config() != before || w.s.config().LogLevel != "warn" {
		t.Errorf("the running configuration changed: log_level %s", w.s.config().LogLevel)
	}
	if v := w.metric(t, "poolhost_config_last_reload_successful"); v != "0" {
		t.Errorf("poolhost_config_last_reload_successful = %s after a refused file", v)
	}

	code, out, stderr := cli(t, "reload", "--addr", w.url, "--token", w.token)
	if code != 1 || out != "" || !strings.Contains(stderr, fmt.Sprintf("%s:11,13: Invalid value for log_level", w.path)) || !strings.Contains(stderr, "batch_size") {
		t.Errorf("poolhost reload of a broken file: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}

	w.write(t, listen, `log_level = "error"`+"\n")
	t.Setenv("POOLHOST_ADDR", w.url)
	t.Setenv("POOLHOST_TOKEN", w.token)
	var rep reloadResult
	decode(t, &rep, "reload", "--format", "json")
	if fmt.Sprint(rep.Changed) != "[log_level]" || len(rep.Providers) != 1 || rep.Providers[0].ID != "generic" {
		t.Errorf("poolhost reload --format json: %+v", rep)
	}
	if code, out, _ := cli(t, "reload"); code != 0 || !strings.Contains(out, "reloaded: nothing changed") || !strings.Contains(out, "generic") {
		t.Errorf("poolhost reload: %d %s", code, out)
	}
	var provs []remoteProvider
	decode(t, &provs, "providers", "--format", "json")
	if len(provs) != 1 || provs[0].ID != "generic" || provs[0].State == "" {
		t.Errorf("poolhost providers --format json: %+v", provs)
	}
	if v := w.metric(t, "poolhost_config_last_reload_successful"); v != "1" {
		t.Errorf("poolhost_config_last_reload_successful = %s after a good reload", v)
	}

	// Every reload is audited, the refused ones included (by the API and by the CLI).
	_, _, body = w.do(t, http.MethodGet, "/v1/admin/audit?action=provider.reloaded")
	var audit struct {
		Events []struct {
			Actor   string         `json:"actor"`
			Details map[string]any `json:"details"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &audit); err != nil || len(audit.Events) != 4 {
		t.Fatalf("audit: %s", body)
	}
	if ok := audit.Events[3].Details["ok"]; ok != false || audit.Events[3].Actor != "user:1" {
		t.Errorf("the refused reload's audit row: %+v", audit.Events[3])
	}
}

// TestMetricsListen: with metrics_listen set, /metrics is served there and answers 404
// on the API port.
func TestMetricsListen(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	api, metrics := freeAddr(t), freeAddr(t)
	path := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, path, `
database_url    = "sqlite:`+filepath.Join(dir, "poolhost.db")+`"
listen          = "`+api+`"
metrics_listen  = "`+metrics+`"
credentials_key = file("key")
http { drain_grace = "10ms" }
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newServer(ctx, cfg, newLogger(cfg, &logs))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	var status int
	var body []byte
	for deadline := time.Now().Add(e2eWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if status, body, err = tryGet("http://"+metrics+"/metrics", ""); err == nil {
			break
		}
	}
	if status != http.StatusOK || !strings.Contains(string(body), "poolhost_config_last_reload_successful 1") {
		t.Fatalf("GET /metrics on metrics_listen: %d %v %.300s", status, err, body)
	}
	if status, body := get(t, "http://"+api+"/metrics", ""); status != http.StatusNotFound || strings.Contains(string(body), "poolhost_") {
		t.Errorf("GET /metrics on the API port: %d %.300s, want 404", status, body)
	}
	if status, _ := get(t, "http://"+api+"/healthz", ""); status != http.StatusOK {
		t.Errorf("/healthz on the API port: %d", status)
	}
	if status, _ := get(t, "http://"+metrics+"/v1/pools", ""); status != http.StatusNotFound {
		t.Errorf("the API on metrics_listen: %d, want 404", status)
	}
}

// TestSIGHUPReloadAudited runs the real binary: a SIGHUP reload is audited as
// system:signal with what changed, and `poolhost providers` and `poolhost reload` talk
// to the running host through its admin API.
func TestSIGHUPReloadAudited(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	if code, out, stderr := runCLI(t, b, "users", "create", "--email", "ops@example.com", "--admin", "--config", c.path); code != 0 {
		t.Fatalf("users create: %d %s %s", code, out, stderr)
	}
	_, out, _ := runCLI(t, b, "tokens", "create", "--email", "ops@example.com", "--config", c.path)
	token := strings.TrimSpace(out)

	code, out, stderr := runCLI(t, b, "providers", "--addr", c.baseURL, "--token", token, "--format", "json")
	var provs []remoteProvider
	if code != 0 || json.Unmarshal([]byte(out), &provs) != nil || len(provs) != len(e2eProviders) {
		t.Fatalf("poolhost providers: %d %s %s", code, out, stderr)
	}
	for _, p := range provs {
		if p.State != "running" {
			t.Errorf("provider %s: %s", p.ID, p.State)
		}
	}

	text, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(text), `log_level    = "info"`, `log_level    = "debug"`, 1)
	if edited == string(text) {
		t.Fatal(`examples/dev.hcl no longer says log_level    = "info"`)
	}
	writeTestFile(t, c.path, edited)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	type event struct {
		Actor   string         `json:"actor"`
		Details map[string]any `json:"details"`
	}
	var got []event
	for deadline := time.Now().Add(e2eWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, body := get(t, c.baseURL+"/v1/admin/audit?action=provider.reloaded", token)
		var page struct{ Events []event }
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("audit: %s", body)
		}
		if got = page.Events; len(got) > 0 {
			break
		}
	}
	if len(got) != 1 || got[0].Actor != "system:signal" || got[0].Details["ok"] != true || fmt.Sprint(got[0].Details["changed"]) != "[log_level]" {
		t.Fatalf("audit rows after SIGHUP: %+v, want one by system:signal that changed log_level", got)
	}

	code, out, stderr = runCLI(t, b, "reload", "--addr", c.baseURL, "--token", token)
	if code != 0 || !strings.Contains(out, "reloaded: nothing changed") || !strings.Contains(out, "generic") {
		t.Errorf("poolhost reload: %d\n%s\n%s", code, out, stderr)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(t); code != 0 {
		t.Errorf("serve exited %d", code)
	}
}

// TestReloadPublicURLFollowsRunningListen: with no public_url in the file, public_url is
// the listen address; a reload of a file whose listen changed keeps the running listen
// until a restart, and keeps the public_url that names it too — webhook URLs and OAuth
// redirect URIs went to the new port, where nothing listened. An explicit public_url is
// taken at once, as before.
func TestReloadPublicURLFollowsRunningListen(t *testing.T) {
	w := newReloadWorld(t, "")
	running := w.s.config()
	if !running.PublicURLFromListen || running.PublicURL != "http://"+running.Listen {
		t.Fatalf("public_url %q from listen %v, want http://%s", running.PublicURL, running.PublicURLFromListen, running.Listen)
	}
	w.write(t, "127.0.0.1:1", "")
	got := w.reload(t)
	if slices.Contains(got.Changed, "public_url") || fmt.Sprint(got.RestartRequired) != "[listen]" {
		t.Errorf("changed %v, restartRequired %v; want only listen, needing a restart", got.Changed, got.RestartRequired)
	}
	if pu := w.s.config().PublicURL; pu != "http://"+running.Listen {
		t.Errorf("public_url in force %q, want the running listen's http://%s", pu, running.Listen)
	}
	w.write(t, "127.0.0.1:1", `public_url = "https://poolhost.example.com"`+"\n")
	got = w.reload(t)
	if !slices.Contains(got.Changed, "public_url") || w.s.config().PublicURL != "https://poolhost.example.com" {
		t.Errorf("explicit public_url: changed %v, in force %q", got.Changed, w.s.config().PublicURL)
	}
}

// TestListenTakenSaysWhatToDo: serve on a listen address another process holds fails
// saying which setting and what to do, not "listen: … bind: address already in use"
// alone (a second make run, or another host on 127.0.0.1:8080).
func TestListenTakenSaysWhatToDo(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	path := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, path, `
database_url    = "sqlite:`+filepath.Join(dir, "poolhost.db")+`"
listen          = "`+taken.Addr().String()+`"
credentials_key = file("key")
http { drain_grace = "10ms" }
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := newServer(ctx, cfg, newLogger(cfg, &logs))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.plugins.Close()
		s.store.Close()
	}()
	err = s.run(ctx)
	if err == nil || !strings.Contains(err.Error(), "address already in use") ||
		!strings.Contains(err.Error(), "stop it, or give this host another listen (and public_url with it)") {
		t.Fatalf("run on a taken listen address: %v", err)
	}
}

// TestTracingStartLineNamesTheEndpoint: "tracing on" says where spans go, as the OTLP
// environment derives it, without a userinfo part (it said only "exporting spans over
// OTLP/HTTP", leaving an operator to work out which variable won).
func TestTracingStartLineNamesTheEndpoint(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "http://localhost:4318/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318/"}, "http://otel-collector:4318/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:secret@c:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://u:secret@t:4318/custom"}, "https://t:4318/custom"},
		// A token in the query (or fragment) is a credential as much as a userinfo part.
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t:4318/v1/traces?api_key=secret#secret"}, "https://t:4318/v1/traces"},
	} {
		if got := otlpTracesEndpoint(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.env, got, tt.want)
		}
	}
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ops:hunter2@127.0.0.1:1")
	var logs syncBuffer
	stop := startTracing(context.Background(), hclog.New(&hclog.LoggerOptions{Output: &logs}))
	stop()
	if out := logs.String(); !strings.Contains(out, "tracing on: exporting spans over OTLP/HTTP: endpoint=http://127.0.0.1:1/v1/traces") || strings.Contains(out, "hunter2") {
		t.Errorf("start line: %s", out)
	}
}
