package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginsCheckJSON: `plugins check --format json` is snake_case throughout, the
// capabilities included (they were sdk.Capabilities as Go encodes it: "Connect",
// "MinPollInterval" in nanoseconds), so a script reads them like the other keys.
func TestPluginsCheckJSON(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	goBuild(t, "-o", plugins+string(filepath.Separator), "./plugins/iopool/cmd/poolhost-provider-iopool")
	cfg := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, cfg, `
plugin_dir = "`+plugins+`"
provider "iopool" {
  poll = true
}
`)
	code, out, stderr := cli(t, "plugins", "check", "--config", cfg, "--format", "json")
	if code != 0 {
		t.Fatalf("plugins check: exit %d\n%s\n%s", code, out, stderr)
	}
	var rows []struct {
		Provider     string         `json:"provider"`
		Healthy      bool           `json:"healthy"`
		Capabilities map[string]any `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(rows) != 1 || rows[0].Provider != "iopool" || !rows[0].Healthy {
		t.Fatalf("rows = %+v", rows)
	}
	c := rows[0].Capabilities
	if c["connect"] != "api_key" || c["poll"] != true || c["webhook"] != false || c["min_poll_interval_seconds"] != 300.0 {
		t.Errorf("capabilities = %v, want connect api_key, poll, no webhook, min_poll_interval_seconds 300", c)
	}
	for k := range c {
		if k == "Connect" || k == "MinPollInterval" {
			t.Errorf("capabilities keep Go's key %q: %v", k, c)
		}
	}
	// The table (or JSON) is the answer: no supervisor Info lines trail it on stderr
	// ("plugin running", "plugin process exited" for each plugin, under log_level info).
	if stderr != "" {
		t.Errorf("plugins check of a healthy plugin wrote to stderr:\n%s", stderr)
	}
	// log_level = "debug" still shows them.
	writeTestFile(t, cfg, `
plugin_dir = "`+plugins+`"
log_level = "debug"
provider "iopool" {
  poll = true
}
`)
	if code, _, stderr := cli(t, "plugins", "check", "--config", cfg); code != 0 || !strings.Contains(stderr, "plugin running") {
		t.Errorf("plugins check at log_level debug: exit %d, stderr %q, want the supervisor's lines", code, stderr)
	}
}
