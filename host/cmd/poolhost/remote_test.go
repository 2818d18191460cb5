package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProvidersShowWhyDegraded: `poolhost providers` and `poolhost reload` show a
// provider's pendingConfigRefused and reloadWarning, in the table and in --format json.
// They used to decode the host's answer into a copy of its struct without those two
// fields: with the host degraded by a refused pin, both listed the provider as running
// with an empty ERROR column, while reload's own warning said to read those fields.
func TestProvidersShowWhyDegraded(t *testing.T) {
	const (
		refused = "the new config block is not applied; the provider runs its previous block (process sha256 d957) until a reload fixes it: sha256 mismatch: x is d957, config pins 0957"
		stale   = "reload did not restart the plugin; the running process (sha256 1c3a) keeps serving: sha256 mismatch: y is d957, config pins 1c3a"
	)
	providers := `[{"id":"generic","enabled":true,"stage":"ga","state":"running","restarts":0,"version":"0.1.0","sha256":"d957","pinnedSha256":"0957","pid":7,"pendingConfigRefused":"` + refused + `"},` +
		`{"id":"ttn","enabled":true,"stage":"ga","state":"running","restarts":0,"version":"0.1.0","sha256":"1c3a","pinnedSha256":"1c3a","pid":8,"reloadWarning":"` + stale + `"},` +
		`{"id":"ondilo","enabled":true,"stage":"ga","state":"running","restarts":1,"version":"0.1.0","lastError":"exit status 2"},` +
		`{"id":"iopool","enabled":true,"stage":"ga","state":"failed","restarts":6,"lastError":"exit status 2"}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/admin/providers":
			w.Write([]byte(`{"providers":` + providers + `}`))
		case "/v1/admin/reload":
			w.Write([]byte(`{"changed":["provider.iopool"],"restartRequired":[],"warnings":["some plugins are not running, or kept their old process, after the reload: see each provider's state, lastError, reloadWarning and pendingConfigRefused"],"providers":` + providers + `}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("POOLHOST_ADDR", srv.URL)
	t.Setenv("POOLHOST_TOKEN", "pht_test")

	// reload exits 1 after printing: the file is in force, but three providers do not
	// run as it asks (it exited 0, so a deploy step that edits a pin and reloads went on).
	const astray = "poolhost reload: the configuration is reloaded, but 3 provider(s) do not run as it asks: generic: its new block is not applied; ttn: kept on its old process; iopool: failed\n"
	for _, cmd := range []string{"providers", "reload"} {
		code, out, stderr := cli(t, cmd)
		if want := map[string]int{"providers": 0, "reload": 1}[cmd]; code != want {
			t.Fatalf("poolhost %s: exit %d, want %d; %s", cmd, code, want, stderr)
		}
		if cmd == "reload" && stderr != astray {
			t.Errorf("poolhost reload's stderr: %q, want %q", stderr, astray)
		}
		lines := map[string]string{}
		for l := range strings.SplitSeq(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				lines[f[0]] = l
			}
		}
		if !strings.Contains(lines["generic"], refused) || !strings.Contains(lines["ttn"], stale) {
			t.Errorf("poolhost %s: the table does not say why generic and ttn are degraded:\n%s", cmd, out)
		}
		// A running plugin's last error is history; a failed one's is why it is down.
		if !strings.HasSuffix(lines["ondilo"], "earlier: exit status 2") || !strings.HasSuffix(lines["iopool"], " exit status 2") || strings.Contains(lines["iopool"], "earlier") {
			t.Errorf("poolhost %s: last errors of a running and a failed plugin:\n%s", cmd, out)
		}
	}

	var provs []map[string]any
	decode(t, &provs, "providers", "--format", "json")
	var rep struct {
		Providers []map[string]any `json:"providers"`
	}
	code, out, stderr := cli(t, "reload", "--format", "json")
	if code != 1 || stderr != astray || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("poolhost reload --format json: exit %d, stderr %q, stdout %q", code, stderr, out)
	}
	for what, ps := range map[string][]map[string]any{"providers": provs, "reload": rep.Providers} {
		if len(ps) != 4 || ps[0]["pendingConfigRefused"] != refused || ps[0]["pinnedSha256"] != "0957" || ps[1]["reloadWarning"] != stale {
			b, _ := json.Marshal(ps)
			t.Errorf("poolhost %s --format json dropped the host's fields: %s", what, b)
		}
	}
}

// TestReloadWarningsShowNoTerminalEscapes: a reload's warnings are printed escaped, on one
// line each. One may carry a plugin's error, with a provider's words in it (a discovery
// that failed on reload); written raw, its ESC sequences were obeyed by the terminal of
// the operator who reloaded, and its newline forged lines of the answer.
func TestReloadWarningsShowNoTerminalEscapes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"changed":["provider.generic"],"restartRequired":[],"warnings":["provider generic: account 3: devices not verified again (upstream said \u001b]0;pwned\u0007\u001b[2J\nreloaded: nothing changed)"],"providers":[]}`))
	}))
	defer srv.Close()
	t.Setenv("POOLHOST_ADDR", srv.URL)
	t.Setenv("POOLHOST_TOKEN", "pht_test")
	_, out, _ := cli(t, "reload")
	if strings.ContainsAny(out, "\x1b\x07") || strings.Contains(out, "\nreloaded: nothing changed") || !strings.Contains(out, `upstream said \x1b]0;pwned\x07\x1b[2J reloaded: nothing changed)`) {
		t.Errorf("poolhost reload printed a warning raw:\n%q", out)
	}
}

// TestReloadSaysWhichFailedPluginsRunAgain: a reload that restarted a failed plugin, its
// block unchanged, says so under "reloaded: nothing changed" (which alone read as a
// reload that had done nothing).
func TestReloadSaysWhichFailedPluginsRunAgain(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"changed":[],"restartRequired":[],"warnings":[],"recovered":["ttn","ondilo"],"providers":[]}`))
	}))
	defer srv.Close()
	t.Setenv("POOLHOST_ADDR", srv.URL)
	t.Setenv("POOLHOST_TOKEN", "pht_test")
	code, out, errs := cli(t, "reload")
	if code != 0 || !strings.HasPrefix(out, "reloaded: nothing changed\nrestarted, failed before: ttn, ondilo\n") {
		t.Errorf("poolhost reload = %d %q %q", code, out, errs)
	}
}
