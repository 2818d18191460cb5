package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// TestServeWorkersWaitForMigrations: serve on a database that lacks this binary's
// migrations (auto_migrate = false, `migrate up` not run yet) says once what to do and
// starts no worker — each tick would fail on the missing tables, the command worker's
// every second, burying that line — then starts them once the migrations are applied.
func TestServeWorkersWaitForMigrations(t *testing.T) {
	defer func(d time.Duration) { schemaRecheck = d }(schemaRecheck)
	schemaRecheck = 50 * time.Millisecond
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "poolhost.db")
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	path := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, path, `
database_url    = "`+db+`"
listen          = "127.0.0.1:0"
credentials_key = file("key")
auto_migrate    = false
http { drain_grace = "10ms" }
command_worker { interval = "50ms" }
retry_worker { interval = "50ms" }
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := newServer(context.Background(), cfg, hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	waitLog := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", want, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLog("poolhost serving")
	time.Sleep(500 * time.Millisecond) // ten command and retry worker intervals
	out := logs.String()
	if !strings.Contains(out, "run `poolhost migrate up` with this binary") || !strings.Contains(out, "the workers (retries, polls, commands) wait") {
		t.Errorf("the log does not say what to do:\n%s", out)
	}
	if strings.Contains(out, "tick failed") || strings.Contains(out, "worker started") || strings.Contains(out, "dispatcher started") {
		t.Errorf("workers ran on a database without their tables:\n%s", out)
	}

	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitLog("the database has this binary's migrations: starting the workers")
	waitLog("command dispatcher started")
	waitLog("retry worker started")
}
