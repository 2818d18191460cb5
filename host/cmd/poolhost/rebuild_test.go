package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// adminProvider is a row of GET /v1/admin/providers and POST /v1/admin/reload.
type adminProvider struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	Version       string `json:"version"`
	SHA256        string `json:"sha256"`
	PinnedSHA256  string `json:"pinnedSha256"`
	PID           int    `json:"pid"`
	ReloadWarning string `json:"reloadWarning"`
	// PendingConfigRefused: the file's block for the provider is not in force.
	PendingConfigRefused string `json:"pendingConfigRefused"`
}

func adminProviders(t *testing.T, method, url, token string) map[string]adminProvider {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var body struct {
		Providers []adminProvider `json:"providers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d, %v", method, url, resp.StatusCode, err)
	}
	out := map[string]adminProvider{}
	for _, p := range body.Providers {
		out[p.ID] = p
	}
	return out
}

// testRebuildLoop is PLUGINS.md's rebuild loop against a real serve: the admin API names
// the version and the sha256 of the file each running process was started from; copying
// over a running plugin fails ("text file busy"), installing by rename works; a reload
// with the stale pin is reported and leaves the old process serving; with the pin
// updated the reload restarts that plugin only.
func testRebuildLoop(t *testing.T, b e2eBuild) {
	bin := filepath.Join(b.pluginDir, "rebuild", config.BinaryPrefix+"generic")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	install := func(extra string) string {
		t.Helper()
		src, err := os.ReadFile(filepath.Join(b.pluginDir, config.BinaryPrefix+"generic"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin+".tmp", append(src, extra...), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(bin+".tmp", bin); err != nil {
			t.Fatal(err)
		}
		return fileSHA256(t, bin)
	}
	oldSum := install("")
	c := writeE2EConfig(t, b, func(s string) string {
		return strings.Replace(pinProvider(t, s, "generic", oldSum), `provider "generic" {`, `provider "generic" {
  binary = "rebuild/`+config.BinaryPrefix+`generic"`, 1)
	})
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	if code, out, stderr := runCLI(t, b, "users", "create", "--email", "ops@example.com", "--admin", "--config", c.path); code != 0 {
		t.Fatalf("users create exited %d: %s %s", code, out, stderr)
	}
	code, out, stderr := runCLI(t, b, "tokens", "create", "--email", "ops@example.com", "--config", c.path)
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, store.TokenPrefix) {
		t.Fatalf("tokens create exited %d: %q %s", code, out, stderr)
	}

	before := adminProviders(t, http.MethodGet, c.baseURL+"/v1/admin/providers", token)
	for _, id := range e2eProviders {
		p := before[id]
		want := fileSHA256(t, filepath.Join(b.pluginDir, config.BinaryPrefix+id))
		if id == "generic" {
			want = oldSum
		}
		if p.State != "running" || p.Version == "" || p.SHA256 != want || p.PID == 0 {
			t.Errorf("admin API %s = %+v, want running with a version and sha256 %s", id, p, want)
		}
	}
	if p := before["generic"]; p.PinnedSHA256 != oldSum {
		t.Errorf("generic pinnedSha256 %s, want %s", p.PinnedSHA256, oldSum)
	}

	// cp over the running binary: the kernel refuses.
	if f, err := os.OpenFile(bin, os.O_WRONLY|os.O_TRUNC, 0); err == nil {
		f.Close()
		t.Error("opening the running plugin binary for writing succeeded; PLUGINS.md says it fails with text file busy")
	} else if !errors.Is(err, syscall.ETXTBSY) {
		t.Errorf("open for writing: %v, want text file busy", err)
	}

	// Installed by rename, the pin left as it was: reported, nothing stopped.
	newSum := install("\x00rebuilt")
	after := adminProviders(t, http.MethodPost, c.baseURL+"/v1/admin/reload", token)
	g := after["generic"]
	if g.State != "running" || g.PID != before["generic"].PID || g.SHA256 != oldSum ||
		!strings.Contains(g.ReloadWarning, "keeps serving: sha256 mismatch: "+bin+" is "+newSum+", config pins "+oldSum) {
		t.Errorf("after a reload with a stale pin, generic = %+v", g)
	}
	if !strings.Contains(srv.out.String(), "reload did not restart the plugin") {
		t.Errorf("serve did not log the stale pin:\n%s", srv.out.String())
	}

	// The pin updated: generic restarts on the new build, nothing else does.
	text, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path, []byte(strings.Replace(string(text), oldSum, newSum, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	after = adminProviders(t, http.MethodPost, c.baseURL+"/v1/admin/reload", token)
	for _, id := range e2eProviders {
		p := after[id]
		restarted := p.PID != before[id].PID
		if p.State != "running" || restarted != (id == "generic") || p.ReloadWarning != "" {
			t.Errorf("after the pin update, %s = %+v (pid before %d)", id, p, before[id].PID)
		}
	}
	if g := after["generic"]; g.SHA256 != newSum || g.PinnedSHA256 != newSum {
		t.Errorf("generic runs %s pinned %s, want %s", g.SHA256, g.PinnedSHA256, newSum)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(t); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM\n%s", code, srv.out.String())
	}
}
