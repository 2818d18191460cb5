package config_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

func readKey(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoadGood(t *testing.T) {
	t.Setenv("POOLHOST_TEST_CLIENT_SECRET", "cs-from-env")
	cfg, err := config.Load(filepath.Join("testdata", "good.hcl"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	key, old := readKey(t, "test.key"), readKey(t, "old.key")

	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, "0.0.0.0:9090"},
		{"database_url", cfg.DatabaseURL, "postgres://poolhost@db/poolhost"},
		{"plugin_dir", cfg.PluginDir, "/opt/poolhost/plugins"},
		{"public_url trims slash", cfg.PublicURL, "https://pool.example.com"},
		{"log_level", cfg.LogLevel, "debug"},
		{"log_format", cfg.LogFormat, "json"},
		{"auto_migrate", cfg.AutoMigrate, false},
		{"key bytes", string(cfg.CredentialsKey.Bytes), string(key)},
		{"key id", cfg.CredentialsKey.ID, config.KeyID(key)},
		{"old keys", len(cfg.CredentialsOldKeys), 1},
		{"old key bytes", string(cfg.CredentialsOldKeys[0].Bytes), string(old)},
		{"http max body", cfg.HTTP.MaxBodyBytes, int64(2 << 20)},
		{"http read header", cfg.HTTP.ReadHeaderTimeout, 3 * time.Second},
		{"http default write", cfg.HTTP.WriteTimeout, config.DefaultHTTP.WriteTimeout},
		{"http heartbeat interval", cfg.HTTP.HeartbeatInterval, 5 * time.Second},
		{"http heartbeat gone after", cfg.HTTP.HeartbeatGoneAfter, 20 * time.Second},
		{"http return url", cfg.HTTP.ReturnURL, "https://app.example.com/connected"},
		{"http trusted proxies", fmt.Sprint(cfg.HTTP.TrustedProxies), "[10.0.0.0/8 fd00::/8]"},
		{"http rate limit", cfg.HTTP.RateLimit, config.RateLimit{PerToken: 10, PerClient: 2.5, Burst: 20, PerWebhookAccount: 20, WebhookAccountBurst: 600}},
		{"metrics_listen", cfg.MetricsListen, "127.0.0.1:9477"},
		{"retry enabled", cfg.RetryWorker.Enabled, false},
		{"retry attempts", cfg.RetryWorker.MaxAttempts, 4},
		{"retry cap", cfg.RetryWorker.BackoffCap, time.Minute},
		{"poll interval", cfg.PollWorker.Interval, 10 * time.Second},
		{"poll default lease", cfg.PollWorker.Lease, config.DefaultPollWorker.Lease},
		{"command lease", cfg.CommandWorker.Lease, 90 * time.Second},
		{"ingest days", cfg.Ingest.MaxPastAge, 7 * 24 * time.Hour},
		{"plugins start", cfg.Plugins.StartTimeout, 20 * time.Second},
		{"plugins failures", cfg.Plugins.HealthFailures, 2},
		{"delivery id retention", cfg.Ingest.DeliveryIDRetention, 14 * 24 * time.Hour},
		{"plugins pass_env", strings.Join(cfg.Plugins.PassEnv, ","), "HTTPS_PROXY,NO_PROXY"},
		{"plugins caps", fmt.Sprint(cfg.Plugins.MaxMessageBytes, cfg.Plugins.MaxReadingsPerCall, cfg.Plugins.MaxDeviceIDBytes,
			cfg.Plugins.MaxDeliveryIDBytes, cfg.Plugins.MaxMetricBytes, cfg.Plugins.MaxUnitBytes, cfg.Plugins.MaxRawPayloadBytes),
			"8388608 5000 128 200 32 16 32768"},
		{"plugins backoff", cfg.Plugins.BackoffBase, 100 * time.Millisecond},
		{"providers", len(cfg.Providers), 3},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	ondilo, ok := cfg.Provider("ondilo")
	if !ok {
		t.Fatal("no ondilo provider")
	}
	pchecks := []struct {
		name      string
		got, want any
	}{
		{"enabled default", ondilo.Enabled, true},
		{"stage", ondilo.Stage, config.StagePilot},
		{"pilot users", strings.Join(ondilo.PilotUsers, ","), "ana@example.com,42"},
		{"pilot allows email", ondilo.PilotAllows("ana@example.com"), true},
		{"pilot allows id", ondilo.PilotAllows("bob@example.com", "42"), true},
		{"pilot refuses", ondilo.PilotAllows("bob@example.com", "7"), false},
		{"binary default", ondilo.Binary, "/opt/poolhost/plugins/poolhost-provider-ondilo"},
		{"sha256 lowercased", ondilo.SHA256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},
		{"poll", ondilo.Poll, true},
		{"poll interval", ondilo.PollInterval, 10 * time.Minute},
		{"setting", ondilo.Settings["base_url"], "https://interop.ondilo.com"},
		{"secret from env", ondilo.Secrets["client_secret"], "cs-from-env"},
		{"timeout poll", ondilo.Timeouts.Poll, 45 * time.Second},
		{"timeout health", ondilo.Timeouts.Health, 3 * time.Second},
		{"timeout default", ondilo.Timeouts.Connect, config.DefaultTimeouts.Connect},
	}
	for _, c := range pchecks {
		if c.got != c.want {
			t.Errorf("ondilo %s = %v, want %v", c.name, c.got, c.want)
		}
	}

	generic, _ := cfg.Provider("generic")
	if got := generic.Secrets["webhook_secret"]; got != "whsec-from-file" {
		t.Errorf("file() secret = %q, want trailing newline trimmed", got)
	}
	if got := generic.Secrets["prefixed"]; got != "whsec_cs-from-env" {
		t.Errorf("templated secret = %q", got)
	}
	if generic.Binary != "/opt/poolhost/plugins/custom-generic" {
		t.Errorf("relative binary = %q, want under plugin_dir", generic.Binary)
	}
	if generic.Timeouts.Health != time.Second {
		t.Errorf("health timeout = %v, want plugins.health_timeout", generic.Timeouts.Health)
	}
	iopool, _ := cfg.Provider("iopool")
	if iopool.Enabled || iopool.Binary != "/usr/local/bin/iopool-plugin" {
		t.Errorf("iopool = %+v", iopool)
	}
	if got := len(cfg.EnabledProviders()); got != 2 {
		t.Errorf("enabled providers = %d, want 2", got)
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Setenv("POOLHOST_TEST_KEY", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	cfg, err := config.Load(filepath.Join("testdata", "minimal.hcl"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	wd, _ := os.Getwd()
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Listen, "127.0.0.1:8080"},
		{"public_url", cfg.PublicURL, "http://127.0.0.1:8080"},
		{"plugin_dir", cfg.PluginDir, filepath.Join(wd, "bin/plugins")},
		{"log", cfg.LogLevel + "/" + cfg.LogFormat, "info/text"},
		{"auto_migrate", cfg.AutoMigrate, true},
		{"retry", cfg.RetryWorker, config.DefaultRetryWorker},
		{"max attempts", cfg.RetryWorker.MaxAttempts, 8},
		{"plugins", cfg.Plugins, config.DefaultPlugins},
		{"old keys", len(cfg.CredentialsOldKeys), 0},
		{"heartbeat", [2]time.Duration{cfg.HTTP.HeartbeatInterval, cfg.HTTP.HeartbeatGoneAfter}, [2]time.Duration{10 * time.Second, 30 * time.Second}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	p, ok := cfg.Provider("template")
	if !ok {
		t.Fatal("no template provider")
	}
	if !p.Enabled || p.Stage != config.StageGA || p.Access != config.AccessReadOnly || p.Webhooks || p.Poll {
		t.Errorf("provider defaults = %+v", p)
	}
	if p.Timeouts != config.DefaultTimeouts || p.PollInterval != config.DefaultPollInterval {
		t.Errorf("provider timeouts = %+v", p.Timeouts)
	}
	if !p.PilotAllows("anyone") {
		t.Error("a GA provider must allow everyone")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file string
		// want are substrings of the error; the first names file:line.
		want []string
	}{
		{"inline_secret.hcl", []string{"inline_secret.hcl:7,", "Inline secret", "secrets.webhook_secret"}},
		{"inline_key.hcl", []string{"inline_key.hcl:2,", "Inline secret", "credentials_key"}},
		{"inline_old_key.hcl", []string{"inline_old_key.hcl:5,", "Inline secret", "credentials_old_keys[1]"}},
		{"short_key.hcl", []string{"short_key.hcl:2,", "32 bytes"}},
		{"missing_file.hcl", []string{"missing_file.hcl:6,", "no-such.secret", "no such file"}},
		{"unset_env.hcl", []string{"unset_env.hcl:3,", "POOLHOST_TEST_UNSET_VARIABLE is not set"}},
		{"bad_duration.hcl", []string{"bad_duration.hcl:5,", "health_interval", `"10 seconds" is not a duration`}},
		{"bad_stage.hcl", []string{"bad_stage.hcl:5,", "stage", `"pilot", "ga"`, `"beta"`}},
		{"bad_access.hcl", []string{"bad_access.hcl:5,", `"read-only", "read-write"`}},
		{"duplicate_provider.hcl", []string{"duplicate_provider.hcl:6,", "Duplicate provider", "duplicate_provider.hcl:4"}},
		{"unknown_attr.hcl", []string{"unknown_attr.hcl:5,", "enabeld", "Did you mean \"enabled\""}},
		{"missing_database.hcl", []string{"missing_database.hcl:1,", "database_url is required"}},
		{"bad_sha.hcl", []string{"bad_sha.hcl:5,", "64 hex"}},
		{"unpinned.hcl", []string{"unpinned.hcl:6,", `plugins { require_pin = true }: provider "ttn" needs sha256`}},
		{"unsigned.hcl", []string{"unsigned.hcl:4,", "plugins { require_signature = true } needs trusted_keys"}},
		{"bad_key.hcl", []string{"bad_key.hcl:5,", "trusted_keys", "element 0: public key \"ed25519:AAAA\""}},
		{"syntax.hcl", []string{"syntax.hcl:4,"}},
		{"bad_type.hcl", []string{"bad_type.hcl:5,", "max_attempts", "number is required"}},
		{"bad_backoff.hcl", []string{"bad_backoff.hcl:6,", "backoff_cap"}},
		{"short_lease.hcl", []string{"short_lease.hcl:5,", "Invalid poll_worker lease", `poll_worker.lease (45s) must be at least 2 × provider "ondilo"'s timeouts.poll (30s)`}},
		{"short_command_lease.hcl", []string{"short_command_lease.hcl:5,", "Invalid command_worker lease", `command_worker.lease (20s) must be at least 2 × provider "ttn"'s timeouts.send_command (15s)`}},
		{"bad_provider_id.hcl", []string{"bad_provider_id.hcl:4,", "Bad Id"}},
		{"bad_listen.hcl", []string{"bad_listen.hcl:1,", "listen"}},
		{"bad_listen_port.hcl", []string{"bad_listen_port.hcl:1,", "Invalid listen address", `port "99999": want a number from 0 to 65535`}},
		{"bad_metrics_port.hcl", []string{"bad_metrics_port.hcl:2,", "Invalid metrics_listen address", `port "70000"`}},
		{"bad_heartbeat.hcl", []string{"bad_heartbeat.hcl:6,", "Invalid http heartbeat_gone_after",
			"heartbeat_gone_after (15s) must be at least 2 × heartbeat_interval (10s)"}},
		{"bad_heartbeat_interval.hcl", []string{"bad_heartbeat_interval.hcl:5,", "Invalid http heartbeat_interval", "heartbeat_interval (500ms) must be at least 1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file)
			_, err := config.Load(path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %T is not *config.Error: %v", err, err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if !strings.HasPrefix(msg, path+":") {
				t.Errorf("error %q does not start with %s:", msg, path)
			}
		})
	}
}

// A secret, even a malformed one, never appears in an error message.
func TestErrorsDoNotEchoSecrets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k"), []byte("not-base64-but-secret!!"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "database_url = \"postgres://u:pw-secret@h/db\"\ncredentials_key = file(\"k\")\n"
	_, err := config.Parse(filepath.Join(dir, "c.hcl"), []byte(src))
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "not-base64-but-secret") {
		t.Errorf("error leaks the key: %v", err)
	}

	src = "database_url = \"mysql://u:pw-secret@h/db\"\ncredentials_key = file(\"k\")\n"
	_, err = config.Parse(filepath.Join(dir, "c.hcl"), []byte(src))
	if err == nil || strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("error leaks the database password: %v", err)
	}
}

func TestKeyStringRedacts(t *testing.T) {
	k := config.Key{ID: "abcd1234", Bytes: []byte("0123456789abcdef0123456789abcdef")}
	for _, s := range []string{k.String(), k.GoString()} {
		if strings.Contains(s, "0123456789") {
			t.Errorf("key printed: %s", s)
		}
	}
}

func TestExampleDevConfig(t *testing.T) {
	// examples/dev.hcl reads a key the Makefile generates; make a stand-in.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "dev.hcl"))
	if err != nil {
		t.Skipf("examples/dev.hcl: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, f := range []string{"dev-credentials.key", "dev-webhook.secret", "dev-ttn.secret", "dev-template-client.secret"} {
		content := key
		if f != "dev-credentials.key" {
			content = "dev-webhook-secret"
		}
		if err := os.WriteFile(filepath.Join(dir, "data", f), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse(filepath.Join(dir, "examples", "dev.hcl"), src)
	if err != nil {
		t.Fatalf("dev.hcl: %v", err)
	}
	want := []string{"template", "generic", "ttn", "ondilo", "iopool"}
	for _, id := range want {
		if _, ok := cfg.Provider(id); !ok {
			t.Errorf("dev.hcl lacks provider %q", id)
		}
	}
}

// TestLoadTrustedKeys: trusted_keys takes a key's one-line form and, through file(), the
// PEM public key `poolhost plugins keygen` writes; require_signature goes with them.
func TestLoadTrustedKeys(t *testing.T) {
	dir := t.TempDir()
	_, a, err := bundle.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := bundle.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.pub"), bundle.PublicKeyPEM(b), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plugins.hcl")
	text := fmt.Sprintf("plugins {\n  trusted_keys = [%q, file(\"b.pub\")]\n  require_signature = true\n}\n", bundle.FormatPublicKey(a))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadPlugins(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Plugins; !p.RequireSignature || len(p.TrustedKeys) != 2 || !p.TrustedKeys[0].Equal(a) || !p.TrustedKeys[1].Equal(b) {
		t.Errorf("plugins = %+v", p)
	}
}

// ingest { webhook_secret_overlap }: the default, a value, and the bound.
func TestWebhookSecretOverlap(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(extra string) (*config.Config, error) {
		src := "database_url = \"sqlite:x.db\"\ncredentials_key = file(\"k\")\n" + extra
		return config.Parse(filepath.Join(dir, "c.hcl"), []byte(src))
	}
	cfg, err := parse("")
	if err != nil || cfg.Ingest.WebhookSecretOverlap != 24*time.Hour {
		t.Fatalf("default: %v, %v", cfg.Ingest.WebhookSecretOverlap, err)
	}
	cfg, err = parse("ingest {\n  webhook_secret_overlap = \"2h\"\n}\n")
	if err != nil || cfg.Ingest.WebhookSecretOverlap != 2*time.Hour {
		t.Fatalf("2h: %v, %v", cfg.Ingest.WebhookSecretOverlap, err)
	}
	_, err = parse("ingest {\n  webhook_secret_overlap = \"90d\"\n}\n")
	if err == nil || !strings.Contains(err.Error(), "webhook_secret_overlap must be at most") {
		t.Fatalf("90d: want the bound named, got %v", err)
	}
	// max_accounts_per_user: 100 unless set, at least 1.
	if cfg, err = parse(""); err != nil || cfg.Ingest.MaxAccountsPerUser != 100 {
		t.Fatalf("max_accounts_per_user default: %v, %v", cfg.Ingest.MaxAccountsPerUser, err)
	}
	if cfg, err = parse("ingest {\n  max_accounts_per_user = 3\n}\n"); err != nil || cfg.Ingest.MaxAccountsPerUser != 3 {
		t.Fatalf("max_accounts_per_user 3: %v, %v", cfg.Ingest.MaxAccountsPerUser, err)
	}
	if _, err = parse("ingest {\n  max_accounts_per_user = 0\n}\n"); err == nil || !strings.Contains(err.Error(), "max_accounts_per_user") {
		t.Fatalf("max_accounts_per_user 0: want it refused, got %v", err)
	}
	// max_pools_per_user: 100 unless set, at least 1.
	if cfg, err = parse(""); err != nil || cfg.Ingest.MaxPoolsPerUser != 100 {
		t.Fatalf("max_pools_per_user default: %v, %v", cfg.Ingest.MaxPoolsPerUser, err)
	}
	if cfg, err = parse("ingest {\n  max_pools_per_user = 3\n}\n"); err != nil || cfg.Ingest.MaxPoolsPerUser != 3 {
		t.Fatalf("max_pools_per_user 3: %v, %v", cfg.Ingest.MaxPoolsPerUser, err)
	}
	if _, err = parse("ingest {\n  max_pools_per_user = 0\n}\n"); err == nil || !strings.Contains(err.Error(), "max_pools_per_user") {
		t.Fatalf("max_pools_per_user 0: want it refused, got %v", err)
	}
	// max_test_sessions_per_pool: 10000 unless set, at least 1.
	if cfg, err = parse(""); err != nil || cfg.Ingest.MaxTestSessionsPerPool != 10000 {
		t.Fatalf("max_test_sessions_per_pool default: %v, %v", cfg.Ingest.MaxTestSessionsPerPool, err)
	}
	if cfg, err = parse("ingest {\n  max_test_sessions_per_pool = 3\n}\n"); err != nil || cfg.Ingest.MaxTestSessionsPerPool != 3 {
		t.Fatalf("max_test_sessions_per_pool 3: %v, %v", cfg.Ingest.MaxTestSessionsPerPool, err)
	}
	if _, err = parse("ingest {\n  max_test_sessions_per_pool = 0\n}\n"); err == nil || !strings.Contains(err.Error(), "max_test_sessions_per_pool") {
		t.Fatalf("max_test_sessions_per_pool 0: want it refused, got %v", err)
	}
}

// TestPassEnvRefusesSecrets: pass_env hands a host variable to every plugin, third
// parties' too, so it must not name one the config reads a secret from with env(): the
// credentials key, a provider's secret. It did, and the plugins received them; a
// variable the config does not read still passes.
func TestPassEnvRefusesSecrets(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("POOLHOST_TEST_CREDS_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	t.Setenv("POOLHOST_TEST_TTN_SECRET", "a-shared-secret")
	t.Setenv("HTTPS_PROXY", "http://proxy.internal:3128")
	parse := func(passEnv string) error {
		src := fmt.Sprintf(`database_url    = "sqlite:x.db"
credentials_key = env("POOLHOST_TEST_CREDS_KEY")
plugins {
  pass_env = [%s]
}
provider "ttn" {
  secrets = { webhook_secret = env("POOLHOST_TEST_TTN_SECRET") }
}
`, passEnv)
		_, err := config.Parse(filepath.Join(dir, "c.hcl"), []byte(src))
		return err
	}
	for _, name := range []string{"POOLHOST_TEST_CREDS_KEY", "POOLHOST_TEST_TTN_SECRET"} {
		err := parse(fmt.Sprintf(`"HTTPS_PROXY", %q`, name))
		if err == nil || !strings.Contains(err.Error(), "c.hcl:4,") || !strings.Contains(err.Error(), "pass_env } names "+name) {
			t.Errorf("pass_env naming %s: %v, want it refused at line 4", name, err)
		}
		if err != nil && (strings.Contains(err.Error(), "a-shared-secret") || strings.Contains(err.Error(), "MDEy")) {
			t.Errorf("the error echoes the secret: %v", err)
		}
	}
	if err := parse(`"HTTPS_PROXY"`); err != nil {
		t.Errorf("pass_env naming a proxy: %v", err)
	}
}

// TestDisabledProviderSecretsUnread: a provider decommissioned with enabled = false,
// whose secret was then removed from the environment or the disk, does not keep the
// file from loading (and the host, with every other provider, from starting): each
// unreadable secret of it is a warning naming the provider. The same block enabled is
// refused, and a disabled block's inline secret still is.
func TestDisabledProviderSecretsUnread(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, ttn string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		text := `database_url    = "sqlite:x.db"
credentials_key = file("k.key")
provider "ttn" {
` + ttn + `}
`
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secrets = `  secrets = {
    webhook_secret = env("POOLHOST_TEST_UNSET_TTN_SECRET")
    fleet_key      = file("gone.key")
  }
`
	off := write("off.hcl", "  enabled = false\n"+secrets)
	cfg, err := config.Load(off)
	if err != nil {
		t.Fatalf("a disabled provider's unreadable secrets refused the file: %v", err)
	}
	p, _ := cfg.Provider("ttn")
	if p.Enabled || len(p.Secrets) != 0 {
		t.Errorf("disabled ttn: %+v", p)
	}
	if len(cfg.Warnings) != 2 || !strings.HasPrefix(cfg.Warnings[0], off+":6,") ||
		!strings.Contains(cfg.Warnings[0], `provider "ttn" is disabled, so its secrets.webhook_secret is not read: `) ||
		!strings.Contains(cfg.Warnings[0], "POOLHOST_TEST_UNSET_TTN_SECRET is not set") ||
		!strings.Contains(cfg.Warnings[1], "secrets.fleet_key is not read: ") || !strings.Contains(cfg.Warnings[1], "gone.key") {
		t.Errorf("warnings: %q", cfg.Warnings)
	}

	on := write("on.hcl", "  enabled = true\n"+secrets)
	if _, err := config.Load(on); err == nil || !strings.Contains(err.Error(), "POOLHOST_TEST_UNSET_TTN_SECRET is not set") || !strings.Contains(err.Error(), "gone.key") {
		t.Errorf("the enabled block with unreadable secrets: %v, want both refused", err)
	}
	inline := write("inline.hcl", "  enabled = false\n  secrets = { webhook_secret = \"whsec_inline\" }\n")
	if _, err := config.Load(inline); err == nil || !strings.Contains(err.Error(), "Inline secret") {
		t.Errorf("a disabled block's inline secret: %v, want refused", err)
	}
}

// TestHalfACommandApprovalWarns: a provider block with access = "read-write" and no
// commands, or commands with access read-only, sends no command; the file loads, with a
// warning naming the provider and the half that is missing. Both halves warn nothing.
func TestHalfACommandApprovalWarns(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(name, block string) *config.Config {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("database_url = \"sqlite:x.db\"\ncredentials_key = file(\"k.key\")\nprovider \"ttn\" {\n"+block+"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return cfg
	}
	for _, c := range []struct{ name, block, want string }{
		{"rw.hcl", "  access = \"read-write\"\n", `rw.hcl:4,`},
		{"rw-empty.hcl", "  access = \"read-write\"\n  commands = []\n", `provider "ttn" has access = "read-write" and no commands: it may send none until commands names them`},
		{"ro.hcl", "  commands = [\"pump.set\"]\n", `provider "ttn" names commands but its access is "read-only": none is sent until access = "read-write"`},
	} {
		cfg := load(c.name, c.block)
		if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], c.want) {
			t.Errorf("%s: warnings %q, want one with %q", c.name, cfg.Warnings, c.want)
		}
	}
	if cfg := load("both.hcl", "  access = \"read-write\"\n  commands = [\"pump.set\"]\n"); len(cfg.Warnings) != 0 {
		t.Errorf("both halves: warnings %q", cfg.Warnings)
	}
	if cfg := load("neither.hcl", ""); len(cfg.Warnings) != 0 {
		t.Errorf("neither half: warnings %q", cfg.Warnings)
	}
}
