package config_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
)

const base = `
database_url    = "sqlite:x.db"
credentials_key = file("testdata/test.key")
`

func parse(t *testing.T, src string) (*config.Config, error) {
	t.Helper()
	return config.Parse(filepath.Join(".", "poolhost.hcl"), []byte(base+src))
}

// TestProxiesLimitsMetricsListen: trusted_proxies, http.rate_limit and metrics_listen
// decode, default, and are refused with the line when wrong.
func TestProxiesLimitsMetricsListen(t *testing.T) {
	cfg, err := parse(t, `
metrics_listen = "127.0.0.1:9100"
http {
  trusted_proxies = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
  rate_limit {
    per_token = 2.5
    per_client = 0
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if fmt.Sprint(cfg.HTTP.TrustedProxies) != fmt.Sprint(want) || cfg.MetricsListen != "127.0.0.1:9100" {
		t.Errorf("trusted_proxies %v, metrics_listen %q", cfg.HTTP.TrustedProxies, cfg.MetricsListen)
	}
	if got := cfg.HTTP.RateLimit; got != (config.RateLimit{PerToken: 2.5, PerClient: 0, Burst: config.DefaultHTTP.RateLimit.Burst,
		PerWebhookAccount: 20, WebhookAccountBurst: 600}) {
		t.Errorf("rate_limit = %+v", got)
	}

	def, err := parse(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if def.HTTP.RateLimit != config.DefaultHTTP.RateLimit || def.HTTP.RateLimit.PerToken <= 0 || def.HTTP.TrustedProxies != nil || def.MetricsListen != "" {
		t.Errorf("defaults: %+v %v %q", def.HTTP.RateLimit, def.HTTP.TrustedProxies, def.MetricsListen)
	}

	for _, tc := range []struct{ src, want string }{
		{`http { trusted_proxies = ["10.0.0.0/33"] }`, `poolhost.hcl:4,26-41: Invalid value for trusted_proxies; "10.0.0.0/33" is neither`},
		{"http {\n  rate_limit { per_token = -1 }\n}", "poolhost.hcl:5,28-30: Invalid value for per_token"},
		{"http {\n  rate_limit { burst = 0 }\n}", "Invalid value for burst; must be at least 1"},
		{`metrics_listen = "9100"`, "Invalid metrics_listen address"},
		{`metrics_listen = "127.0.0.1:8080"`, "must differ from listen"},
	} {
		if _, err := parse(t, tc.src); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestDiff names what changed as the file does, and tells what needs a restart.
func TestDiff(t *testing.T) {
	old, err := parse(t, `provider "generic" {}`+"\nprovider \"ttn\" {}\n")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := parse(t, `
listen    = "127.0.0.1:9999"
public_url = "http://127.0.0.1:8080"
log_level = "debug"
http {
  read_timeout        = "5s"
  read_header_timeout = "1s"
  trusted_proxies     = ["10.0.0.0/8"]
  rate_limit { burst = 3 }
}
retry_worker { max_attempts = 3 }
provider "ttn" {}
provider "generic" { poll = true }
provider "iopool" {}
`)
	if err != nil {
		t.Fatal(err)
	}
	ch := config.Diff(old, cur)
	if got, want := fmt.Sprint(ch.Applied), "[http.rate_limit.burst http.read_timeout http.trusted_proxies log_level provider.generic provider.iopool retry_worker.max_attempts]"; got != want {
		t.Errorf("applied %s\nwant    %s", got, want)
	}
	if got := fmt.Sprint(ch.RestartRequired); got != "[http.read_header_timeout listen]" {
		t.Errorf("restart required %s", got)
	}
	if ch := config.Diff(old, old); ch.Applied != nil || ch.RestartRequired != nil {
		t.Errorf("no change: %+v", ch)
	}
}
