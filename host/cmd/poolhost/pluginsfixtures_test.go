package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
	"github.com/poolhost/poolhost/sdk/signature"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPluginsFixturesSign: raw bodies and a configure.json become a fixture directory
// the conformance checks pass an honest plugin on — and fail one that accepts anything —
// without a line of Go from the team.
func TestPluginsFixturesSign(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "configure.json"), `{"settings": {}, "secrets": {"webhook_secret": "`+broken.Secret+`"}}`)
	writeFile(t, filepath.Join(dir, "bodies", "ph.json"), `{"device":"pool-1","ph":7.21}`)
	writeFile(t, filepath.Join(dir, "bodies", "account", "ph.json"), `{"device":"pool-2","ph":7.4}`)
	var out, errOut bytes.Buffer
	if code := runFixturesSign(dir, signOptions{secretKey: "webhook_secret", scheme: "standard-webhooks", at: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	// PLUGINS.md's sample is this output
	doc, err := os.ReadFile(pluginsMD)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := docSample(t, string(doc), "$ bin/poolhost plugins fixtures sign testdata/conformance")
	if got := strings.ReplaceAll(out.String(), dir, "testdata/conformance"); got != strings.Join(want, "\n")+"\n" {
		t.Errorf("output %q, PLUGINS.md shows %q", got, want)
	}
	// signed in 2026-01-01 and received a second later: judge them as of now
	if code := runFixturesSign(dir, signOptions{secretKey: "webhook_secret", scheme: "standard-webhooks", at: time.Now().UTC().Truncate(time.Second)}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	fx, err := sdktest.LoadFixtures(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fx.Valid) != 2 || len(fx.Tampered) != 2 || len(fx.WrongSecret) != 2 || len(fx.Stale) != 2 || fx.Valid[0].AccountSecret == "" || fx.Valid[1].AccountSecret != "" {
		t.Fatalf("fixtures: %+v", fx)
	}
	for _, r := range sdktest.Checks(t.Context(), sdktest.Direct(broken.Good{}), fx) {
		if r.Err != nil {
			t.Errorf("an honest plugin fails %s on the signed fixtures: %v", r.Check, r.Err)
		}
	}
	failedTampered := false
	for _, r := range sdktest.Checks(t.Context(), sdktest.Direct(broken.AcceptsUnsigned{}), fx) {
		if strings.HasPrefix(r.Check, "webhook/tampered-rejected") && r.Err != nil {
			failedTampered = true
		}
	}
	if !failedTampered {
		t.Error("a plugin accepting anything passes the tampered fixtures")
	}

	// hex HMAC: one header, no timestamp, so no stale fixture
	hex := t.TempDir()
	writeFile(t, filepath.Join(hex, "configure.json"), `{"secrets": {"signing_key": "s3cret"}}`)
	writeFile(t, filepath.Join(hex, "bodies", "one.json"), `{"v":1}`)
	if code := runFixturesSign(hex, signOptions{secretKey: "signing_key", scheme: "hex-hmac", header: "X-Acme-Signature", prefix: "sha256=", at: time.Now().UTC().Truncate(time.Second)}, &out, &errOut); code != 0 {
		t.Fatalf("hex-hmac: exit %d: %s", code, errOut.String())
	}
	fx, err = sdktest.LoadFixtures(hex)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := signature.NewHexHMAC("s3cret", "X-Acme-Signature", "sha256=")
	if len(fx.Valid) != 1 || len(fx.Stale) != 0 || v.Verify(fx.Valid[0].Headers, fx.Valid[0].Body) != nil || v.Verify(fx.Tampered[0].Headers, fx.Tampered[0].Body) == nil {
		t.Fatalf("hex-hmac fixtures: %+v", fx)
	}

	// what is missing is said
	errOut.Reset()
	if code := runFixturesSign(t.TempDir(), signOptions{secretKey: "webhook_secret", scheme: "standard-webhooks"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "configure.json") {
		t.Errorf("no configure.json: exit %d, %s", code, errOut.String())
	}
	empty := t.TempDir()
	writeFile(t, filepath.Join(empty, "configure.json"), `{"secrets": {"webhook_secret": "`+broken.Secret+`"}}`)
	if code := runFixturesSign(empty, signOptions{secretKey: "webhook_secret", scheme: "standard-webhooks"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no bodies") {
		t.Errorf("no bodies: exit %d, %s", code, errOut.String())
	}
}
