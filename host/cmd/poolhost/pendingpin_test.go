package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
)

// testRefusedPinStaysVisible is issue 18's repro against a real serve and real plugin
// binaries: a reload with a wrong sha256 for generic is refused and the old process
// keeps serving; then that process is SIGKILLed and restarts from the previous block.
// The refusal must stay visible — the admin API's pendingConfigRefused, /readyz
// degraded, the console's providers page and Overview, poolhost_plugin_pending_config_refused
// — until a reload with the right pin clears them all.
func testRefusedPinStaysVisible(t *testing.T, b e2eBuild) {
	good := fileSHA256(t, filepath.Join(b.pluginDir, config.BinaryPrefix+"generic"))
	wrong := strings.Repeat("ab", 32)
	c := writeE2EConfig(t, b, func(s string) string { return pinProvider(t, s, "generic", good) })
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	cliOK(t, b, "users", "create", "--email", "ops@example.com", "--admin", "--config", c.path)
	token := cliOK(t, b, "tokens", "create", "--email", "ops@example.com", "--config", c.path)

	jar, _ := cookiejar.New(nil)
	console := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := console.PostForm(c.baseURL+"/ui/signin", url.Values{"token": {token}, "next": {"/ui/providers"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/ui/providers" {
		t.Fatalf("console sign-in: %d at %s", resp.StatusCode, resp.Request.URL)
	}

	setPin := func(pin string) {
		t.Helper()
		text, err := os.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, old := range []string{good, wrong} {
			text = []byte(strings.Replace(string(text), fmt.Sprintf("sha256 = %q", old), fmt.Sprintf("sha256 = %q", pin), 1))
		}
		if err := os.WriteFile(c.path, text, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	type visible struct {
		api, readyz, console, overview, metric string
	}
	look := func() (adminProvider, visible) {
		t.Helper()
		g := adminProviders(t, http.MethodGet, c.baseURL+"/v1/admin/providers", token)["generic"]
		var v visible
		v.api = g.PendingConfigRefused
		_, body := get(t, c.baseURL+"/readyz", "")
		var rz struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		if err := json.Unmarshal(body, &rz); err != nil {
			t.Fatalf("/readyz: %v %s", err, body)
		}
		v.readyz = rz.Status + " plugins=" + rz.Checks["plugins"]
		resp, err := console.Get(c.baseURL + "/ui/providers")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("console providers page: %d", resp.StatusCode)
		}
		v.console = fmt.Sprint(strings.Contains(string(page), `data-field="pending-config-refused"`))
		resp, err = console.Get(c.baseURL + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		v.overview = fmt.Sprint(strings.Contains(string(page), `id="down-generic"`) && strings.Contains(string(page), "Config not in force"))
		_, metrics := get(t, c.baseURL+"/metrics", "")
		for line := range strings.SplitSeq(string(metrics), "\n") {
			if strings.HasPrefix(line, `poolhost_plugin_pending_config_refused{provider="generic"} `) {
				v.metric = strings.TrimPrefix(line, `poolhost_plugin_pending_config_refused{provider="generic"} `)
			}
		}
		return g, v
	}
	refusedEverywhere := func(what string, v visible) {
		t.Helper()
		if !strings.Contains(v.api, "sha256 mismatch") || v.readyz != "degraded plugins=degraded" || v.console != "true" || v.overview != "true" || v.metric != "1" {
			t.Errorf("%s: the refused block is not visible everywhere: %+v", what, v)
		}
	}

	if _, v := look(); v.api != "" || v.readyz != "ready plugins=ok" || v.console != "false" || v.overview != "false" || v.metric != "0" {
		t.Fatalf("before any reload: %+v", v)
	}

	setPin(wrong)
	after := adminProviders(t, http.MethodPost, c.baseURL+"/v1/admin/reload", token)["generic"]
	if after.State != "running" || !strings.Contains(after.PendingConfigRefused, "sha256 mismatch") {
		t.Fatalf("after the reload with a wrong pin: %+v", after)
	}
	kept, v := look()
	refusedEverywhere("after the refused reload", v)

	if err := syscall.Kill(kept.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(e2eWait)
	var again adminProvider
	for {
		again = adminProviders(t, http.MethodGet, c.baseURL+"/v1/admin/providers", token)["generic"]
		if again.State == "running" && again.PID != 0 && again.PID != kept.PID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("generic did not run again after SIGKILL: %+v", again)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if again.SHA256 != good || again.PinnedSHA256 != wrong {
		t.Errorf("after the restart: sha256 %s pinned %s, want %s and the file's %s", again.SHA256, again.PinnedSHA256, good, wrong)
	}
	_, v = look()
	refusedEverywhere("after SIGKILL and the restart from the previous block", v)

	setPin(good)
	fixed := adminProviders(t, http.MethodPost, c.baseURL+"/v1/admin/reload", token)["generic"]
	if fixed.State != "running" || fixed.PendingConfigRefused != "" {
		t.Errorf("after the reload with the right pin: %+v", fixed)
	}
	if _, v := look(); v.api != "" || v.readyz != "ready plugins=ok" || v.console != "false" || v.overview != "false" || v.metric != "0" {
		t.Errorf("after the reload with the right pin: %+v", v)
	}
}
