package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
)

// TestServeWiresIngestion checks what newServer builds, not a test's copy of it: the
// handler serve runs passes the spec⇄router check with the ingest group (webhooks and
// dead-letter admin routes), and /metrics exports the failures gauges from the start,
// zeros included, for every configured provider.
func TestServeWiresIngestion(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	writeTestFile(t, filepath.Join(dir, "generic.secret"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	path := filepath.Join(dir, "poolhost.hcl")
	// An absolute database path: a relative sqlite: URL is relative to the working
	// directory, which is the package directory under go test.
	writeTestFile(t, path, `
database_url    = "sqlite:`+filepath.Join(dir, "poolhost.db")+`"
listen          = "127.0.0.1:0"
plugin_dir      = "plugins"
credentials_key = file("key")
provider "generic" {
  webhooks = true
  secrets  = { webhook_secret = file("generic.secret") }
}
provider "ttn" {
  enabled = false
}
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.plugins.Close()
		s.store.Close()
	})

	routed, ok := s.http.Handler.(interface{ Mux() *mux.Router })
	if !ok {
		t.Fatalf("serve's handler is a %T, not the httpapi handler", s.http.Handler)
	}
	diffs, err := httpapi.CheckSpec(routed.Mux(), "ingest")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	ops, err := httpapi.SpecOperations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops["ingest"]) < 7 {
		t.Fatalf("openapi.yaml ingest group has %d operations: %v", len(ops["ingest"]), ops["ingest"])
	}

	srv := httptest.NewServer(s.http.Handler)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`poolhost_ingestion_failures{provider="generic",status="dead"} 0`,
		`poolhost_ingestion_failures{provider="generic",status="pending"} 0`,
		`poolhost_ingestion_failures{provider="ttn",status="dead"} 0`,
		`poolhost_ingestion_oldest_due_failure_age_seconds 0`,
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(body) {
			t.Errorf("/metrics misses %s", want)
		}
	}
	if t.Failed() {
		os.Stderr.Write(body)
	}
}

// TestReadyzDegradedByFailedProvider: an enabled provider whose plugin is failed (here a
// wrong sha256 pin, which never heals by restarting) leaves the host ready but degraded,
// and /readyz names the provider's state.
func TestReadyzDegradedByFailedProvider(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	writeTestFile(t, filepath.Join(dir, "generic.secret"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	writeTestFile(t, filepath.Join(dir, "not-a-plugin"), "#!/bin/sh\nexit 1\n")
	path := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, path, `
database_url    = "sqlite:`+filepath.Join(dir, "poolhost.db")+`"
listen          = "127.0.0.1:0"
credentials_key = file("key")
provider "generic" {
  webhooks = true
  binary   = "`+filepath.Join(dir, "not-a-plugin")+`"
  sha256   = "`+strings.Repeat("0", 64)+`"
  secrets  = { webhook_secret = file("generic.secret") }
}
provider "ttn" {
  enabled = false
}
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.plugins.Close()
		s.store.Close()
	})
	_ = s.plugins.Start(context.Background()) // the pin is refused: generic is failed

	srv := httptest.NewServer(s.http.Handler)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `{"checks":{"database":"ok","migrations":"ok","plugins":"degraded","serving":"ok"},"providers":{"generic":"failed","ttn":"disabled"},"status":"degraded"}`
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != want {
		t.Fatalf("/readyz: %d %s\nwant 200 %s", resp.StatusCode, body, want)
	}
}
