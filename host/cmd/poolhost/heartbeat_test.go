package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// TestServeHeartbeat: a running serve records its replica's heartbeat — its id, host
// name and readiness (here degraded: a provider's plugin failed) — and, on a clean
// shutdown, that it stopped, so other replicas' consoles show it stopped, not gone.
func TestServeHeartbeat(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "poolhost.db")
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	writeTestFile(t, filepath.Join(dir, "generic.secret"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	writeTestFile(t, filepath.Join(dir, "not-a-plugin"), "#!/bin/sh\nexit 1\n")
	path := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, path, `
database_url    = "sqlite:`+db+`"
listen          = "127.0.0.1:0"
credentials_key = file("key")
http { drain_grace = "10ms" }
provider "generic" {
  webhooks = true
  binary   = "`+filepath.Join(dir, "not-a-plugin")+`"
  sha256   = "`+strings.Repeat("0", 64)+`"
  secrets  = { webhook_secret = file("generic.secret") }
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
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()

	// A second handle on the database, as another replica reads it.
	other, err := store.Open(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mine := func() (store.Replica, bool) {
		t.Helper()
		rs, err := other.Replicas(context.Background(), time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.ID == s.replicaID {
				return r, true
			}
		}
		return store.Replica{}, false
	}
	hostname, _ := os.Hostname()
	// The first beat is at start; the plugin's refusal may come just after it, so wait
	// for the state rather than the row.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, ok := mine()
		if ok && r.Status == store.ReplicaDegraded {
			if r.Problem != "plugins degraded" || r.Hostname != hostname || !strings.HasPrefix(r.ID, "serve-"+hostname+"-") {
				t.Errorf("the running replica's row: %+v", r)
			}
			// The key it opens credentials with, for credentials rewrap to check.
			if r.CredentialsKeyIDs != cfg.CredentialsKey.ID {
				t.Errorf("the running replica's key ids %q, want its credentials_key %s", r.CredentialsKeyIDs, cfg.CredentialsKey.ID)
			}
			// The providers it runs, for accounts disconnect to check.
			if r.EnabledProviders.String != "generic" || !r.EnabledProviders.Valid {
				t.Errorf("the running replica's enabled providers %+v, want generic", r.EnabledProviders)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no degraded heartbeat of replica %s: %+v %v", s.replicaID, r, ok)
		}
		_ = s.heartbeat.Beat(context.Background()) // rather than waiting out the interval
		time.Sleep(50 * time.Millisecond)
	}

	// A reload that disables the provider says so in the row when it answers, not at
	// the next beat: accounts disconnect, run next, reads it.
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, path, strings.Replace(string(text), "webhooks = true", "enabled  = false\n  webhooks = true", 1))
	if _, err := s.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, ok := mine(); !ok || r.EnabledProviders.String != "" || !r.EnabledProviders.Valid {
		t.Errorf("after a reload that disabled generic: %+v %v, want no enabled provider", r.EnabledProviders, ok)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r, ok := mine(); !ok || r.Status != store.ReplicaStopped {
		t.Errorf("after a clean shutdown: %+v %v, want stopped", r, ok)
	}
}
