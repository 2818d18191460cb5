package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk/signature"
)

// exampleHost is `poolhost serve` on a temp SQLite with one example plugin (a webhook
// provider configured with a provider-level secret), and a user whose pool has the
// devices of a freshly connected account linked: what the Node and Python examples'
// end-to-end tests share before each sends its own deliveries.
type exampleHost struct {
	srv   *served
	c     e2eConfig
	token string
	pool  int64
	// hookURL is the account's own webhook URL; account signs as the account's secret
	// holder (the provider), wrong with the provider-level secret, which the account's
	// URL must refuse.
	hookURL        string
	account, wrong *signature.StandardWebhooks
}

// serveExample starts serve with provider (binary pinned with pin), creates user email
// and a pool, connects an account declaring devices (comma-separated) and links them.
func serveExample(t *testing.T, b e2eBuild, provider, binary, pin, email, devices string) exampleHost {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	h := exampleHost{c: e2eConfig{path: filepath.Join(dir, "poolhost.hcl"), dbURL: "sqlite:" + filepath.Join(dir, "poolhost.db"), baseURL: "http://" + addr}}
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	providerSecret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	for name, content := range map[string]string{"credentials.key": key, "webhook.secret": providerSecret} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`listen          = %q
database_url    = %q
public_url      = %q
plugin_dir      = %q
auto_migrate    = true
credentials_key = file("credentials.key")

# Generous: a loaded CI machine starts node or Python (and imports grpc) slowly, and
# serve waits for the plugin.
plugins {
  start_timeout = "3m"
}

provider %q {
  binary   = %q
  sha256   = %q
  webhooks = true
  secrets = {
    webhook_secret = file("webhook.secret")
  }
}
`, addr, h.c.dbURL, h.c.baseURL, b.pluginDir, provider, binary, pin)
	if err := os.WriteFile(h.c.path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.srv = startServe(t, b, h.c)
	waitHTTP(t, h.srv, h.c.baseURL+"/readyz", "")

	cliOK(t, b, "users", "create", "--email", email, "--config", h.c.path)
	h.token = cliOK(t, b, "tokens", "create", "--email", email, "--config", h.c.path)

	var pool struct {
		ID int64 `json:"id"`
	}
	apiJSON(t, http.MethodPost, h.c.baseURL+"/v1/pools", h.token, `{"name":"Backyard"}`, http.StatusCreated, &pool)
	h.pool = pool.ID
	var conn struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
		Webhook struct {
			URL    string `json:"url"`
			Secret string `json:"secret"`
		} `json:"webhook"`
	}
	apiJSON(t, http.MethodPost, h.c.baseURL+"/v1/providers/"+provider+"/connect", h.token,
		fmt.Sprintf(`{"input":{"devices":%q,"name":"Backyard Acme"}}`, devices), 0, &conn)
	if conn.Webhook.URL == "" || !strings.HasPrefix(conn.Webhook.Secret, "whsec_") {
		t.Fatalf("connect answer has no webhook endpoint: %+v", conn)
	}
	var disc struct {
		Devices []struct {
			ID int64 `json:"id"`
		} `json:"devices"`
	}
	apiJSON(t, http.MethodPost, fmt.Sprintf("%s/v1/accounts/%d/discover", h.c.baseURL, conn.Account.ID), h.token, "", 0, &disc)
	if want := len(strings.Split(devices, ",")); len(disc.Devices) != want {
		t.Fatalf("discover: %+v, want %d devices", disc, want)
	}
	for _, d := range disc.Devices {
		apiJSON(t, http.MethodPut, fmt.Sprintf("%s/v1/devices/%d/link", h.c.baseURL, d.ID), h.token,
			fmt.Sprintf(`{"poolId":%d}`, h.pool), 0, nil)
	}
	h.hookURL = conn.Webhook.URL
	var err error
	if h.account, err = signature.NewStandardWebhooks(conn.Webhook.Secret); err != nil {
		t.Fatal(err)
	}
	if h.wrong, err = signature.NewStandardWebhooks(providerSecret); err != nil {
		t.Fatal(err)
	}
	return h
}
