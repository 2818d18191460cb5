package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
)

// database_read_url names a PostgreSQL standby of a PostgreSQL database_url, with its lag
// bound (default 10s); both are read once at start. A bad one is refused without echoing
// the URL, which may hold a password.
func TestDatabaseReadURL(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(src string) (*config.Config, error) {
		return config.Parse(filepath.Join(dir, "c.hcl"), []byte(src+"\ncredentials_key = file(\"k\")\n"))
	}
	cfg, err := parse(`database_url = "postgres://h/db"`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseReadURL != "" || cfg.DatabaseReadMaxLag != 10*time.Second {
		t.Errorf("defaults: read URL %q, max lag %v; want none and 10s", cfg.DatabaseReadURL, cfg.DatabaseReadMaxLag)
	}
	cfg, err = parse("database_url = \"postgres://h/db\"\ndatabase_read_url = \"postgres://standby/db\"\ndatabase_read_max_lag = \"3s\"")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseReadURL != "postgres://standby/db" || cfg.DatabaseReadMaxLag != 3*time.Second {
		t.Errorf("read URL %q, max lag %v; want postgres://standby/db and 3s", cfg.DatabaseReadURL, cfg.DatabaseReadMaxLag)
	}
	for _, src := range []string{
		"database_url = \"postgres://h/db\"\ndatabase_read_url = \"mysql://u:pw-secret@standby/db\"",
		"database_url = \"sqlite:x.db\"\ndatabase_read_url = \"postgres://u:pw-secret@standby/db\"",
	} {
		_, err := parse(src)
		if err == nil || !strings.Contains(err.Error(), "database_read_url") || strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("%s: error %v, want one naming database_read_url without the password", src, err)
		}
	}
	if !config.RestartOnly("database_read_url") || !config.RestartOnly("database_read_max_lag") {
		t.Error("database_read_url and database_read_max_lag must be restart-only")
	}
}
