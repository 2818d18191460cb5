// Package ingesttest is the shared fixture of the ingestion tests (ingest, webhook,
// retry, poll and their HTTP routes): real stores on both engines, a seeded world of
// user, pool, account and devices, real plugin binaries built once per test binary, and
// a plugin manager that launches them.
package ingesttest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/signature"
)

// Engine opens a fresh, migrated store.
type Engine struct {
	Name string
	Open func(t testing.TB, opts ...store.Option) *store.Store
}

// Engines are SQLite (a real file) and PostgreSQL (pgtest; skipped without one unless
// CI=true). The package's TestMain must call pgtest.Main.
var Engines = []Engine{
	{Name: "sqlite", Open: OpenSQLite},
	{Name: "postgres", Open: OpenPostgres},
}

// OpenSQLite opens a migrated SQLite file in a temp dir.
func OpenSQLite(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	return open(t, "sqlite:"+filepath.Join(t.TempDir(), "poolhost.db"), opts)
}

// OpenPostgres opens a migrated database of its own on the test PostgreSQL.
func OpenPostgres(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	return open(t, pgtest.NewDatabase(t), opts)
}

func open(t testing.TB, url string, opts []store.Option) *store.Store {
	t.Helper()
	ctx := context.Background()
	opts = append([]store.Option{store.WithCipher(NewCipher())}, opts...)
	s, err := store.Open(ctx, url, opts...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// Cipher is a throwaway AES-256-GCM store.Cipher for tests.
type Cipher struct{ aead cipher.AEAD }

// NewCipher returns a Cipher with a random key.
func NewCipher() *Cipher {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return &Cipher{aead: aead}
}

func (c *Cipher) Encrypt(plaintext, aad []byte) ([]byte, string, error) {
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return c.aead.Seal(nonce, nonce, plaintext, aad), "test", nil
}

func (c *Cipher) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(ciphertext) < n {
		return nil, errors.New("short ciphertext")
	}
	return c.aead.Open(nil, ciphertext[:n], ciphertext[n:], aad)
}

// World is a seeded owner with a pool and one account of a provider, whose devices are
// named by provider device id.
type World struct {
	User    store.User
	Pool    store.Pool
	Account store.Account
	Devices map[string]store.Device
}

// Seed creates a user (email), a pool, an account of provider with creds, and devices:
// each of linked is linked to the pool, each of unlinked is not. The devices are
// verified, as if the provider's API had listed them for the account (see Declare).
func Seed(t testing.TB, s *store.Store, provider, email string, creds map[string]string, linked, unlinked []string) World {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, email, false)
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	p, err := s.CreatePool(ctx, "pool of "+email, u.ID)
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	acc, _, err := s.UpsertAccount(ctx, store.NewAccount{
		UserID: u.ID, Provider: provider, ExternalAccountID: "ext-" + email, DisplayName: email, Credentials: creds,
	})
	if err != nil {
		t.Fatalf("upsert account: %v", err)
	}
	var nds []store.NewDevice
	for _, id := range append(append([]string{}, linked...), unlinked...) {
		nds = append(nds, store.NewDevice{ProviderDeviceID: id, Name: id, Verified: true})
	}
	w := World{User: u, Pool: p, Account: acc, Devices: map[string]store.Device{}}
	if len(nds) == 0 {
		return w
	}
	ups, err := s.UpsertDevices(ctx, acc.ID, nds)
	if err != nil {
		t.Fatalf("upsert devices: %v", err)
	}
	for _, d := range ups {
		w.Devices[d.ProviderDeviceID] = d.Device
	}
	for _, id := range linked {
		if _, err := s.LinkDevice(ctx, w.Devices[id].ID, p.ID, u.ID); err != nil {
			t.Fatalf("link %s: %v", id, err)
		}
		d := w.Devices[id]
		d.PoolID = p.ID
		w.Devices[id] = d
	}
	return w
}

// Declare makes an account's device declared — typed in by its user — instead of
// verified by the provider.
func Declare(t testing.TB, s *store.Store, accountID int64, providerDeviceIDs ...string) {
	t.Helper()
	for _, id := range providerDeviceIDs {
		if _, err := s.DB().Exec(s.DB().Rebind(`UPDATE integration_devices SET verified = ? WHERE account_id = ? AND provider_device_id = ?`),
			false, accountID, id); err != nil {
			t.Fatalf("declare %s: %v", id, err)
		}
	}
}

// CountReadings counts stored readings.
func CountReadings(t testing.TB, s *store.Store) int {
	t.Helper()
	var n int
	if err := s.DB().Get(&n, `SELECT COUNT(*) FROM sensor_readings`); err != nil {
		t.Fatalf("count readings: %v", err)
	}
	return n
}

// Audit lists audit events with the given action, newest first.
func Audit(t testing.TB, s *store.Store, action string) []store.AuditEvent {
	t.Helper()
	es, err := s.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return es
}

// BuildPlugins builds the generic provider and the faulty test provider into dir as
// poolhost-provider-generic and poolhost-provider-faulty. Call it from TestMain.
func BuildPlugins(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	for id, pkg := range map[string]string{
		"generic": "./plugins/generic/cmd/poolhost-provider-generic",
		"faulty":  "./host/internal/ingesttest/faultyplugin",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, config.BinaryPrefix+id), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", id, err, out)
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// Secrets for the test providers (Standard Webhooks form).
const (
	GenericSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	FaultySecret  = "whsec_dGVzdC1zZWNyZXQtZm9yLWZhdWx0eS1wbHVnaW4="
)

// Config builds a config with the generic and faulty providers, webhooks on, binaries
// from pluginDir. extra is appended inside the faulty provider block (settings, poll).
func Config(t testing.TB, pluginDir, faultyExtra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("generic.secret", GenericSecret)
	write("faulty.secret", FaultySecret)
	write("creds.key", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	src := fmt.Sprintf(`
database_url    = "sqlite:unused.db"
plugin_dir      = %q
credentials_key = file("creds.key")
plugins {
  backoff_base = "50ms"
  backoff_cap  = "500ms"
  max_restarts = 100
  pass_env     = ["POOLHOST_PLUGIN_PPROF"] # host/bench counts the plugin's allocations
}
provider "generic" {
  webhooks = true
  secrets  = { webhook_secret = file("generic.secret") }
}
provider "faulty" {
  webhooks = true
  secrets  = { webhook_secret = file("faulty.secret") }
  %s
}
`, pluginDir, faultyExtra)
	cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(src))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

// StartManager starts the plugins of cfg and stops them when the test ends.
func StartManager(t testing.TB, cfg *config.Config, log hclog.Logger) *pluginmgr.Manager {
	t.Helper()
	return StartManagerMetered(t, cfg, log, nil)
}

// StartManagerMetered is StartManager with the manager's metrics registered on reg.
func StartManagerMetered(t testing.TB, cfg *config.Config, log hclog.Logger, reg prometheus.Registerer) *pluginmgr.Manager {
	t.Helper()
	m := pluginmgr.New(log, reg, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("start plugins: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Sign returns Standard Webhooks headers for body signed with secret at ts.
func Sign(t testing.TB, secret, id string, ts time.Time, body []byte) map[string][]string {
	t.Helper()
	v, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	return v.Headers(id, ts, body)
}
