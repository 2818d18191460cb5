package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestNamesRefuseLineSeparatorsAndBidiOverrides: a name is one line shown as typed.
// U+2028 and U+2029 end a line in browsers' text, JSON-in-JS and many log viewers, and
// the bidirectional overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069)
// make a name display as other text than it holds ("Trojan Source"); neither is a
// control character to unicode.IsControl. Names in right-to-left scripts, with their
// marks (U+200E, U+200F), emoji joined by U+200D, and accents stay accepted; a name
// longer than its limit is a 400.
func TestNamesRefuseLineSeparatorsAndBidiOverrides(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	admin := e.newUser("admin", true)
	owner := e.newUser("owner", false)
	var pool struct{ ID int64 }
	e.must(201, req{method: "POST", path: "/v1/pools", token: owner.Token, body: map[string]any{"name": "Back yard"}}).json(t, &pool)
	pp := fmt.Sprintf("/v1/pools/%d", pool.ID)
	names := func(name string) []req {
		return []req{
			{method: "POST", path: "/v1/pools", token: owner.Token, body: map[string]any{"name": name}},
			{method: "PATCH", path: pp, token: owner.Token, body: map[string]any{"name": name}},
			{method: "POST", path: pp + "/equipment", token: owner.Token, body: map[string]any{"kind": "pump", "name": name}},
			{method: "POST", path: fmt.Sprintf("/v1/admin/users/%d/tokens", owner.ID), token: admin.Token, body: map[string]any{"name": name}},
		}
	}
	for _, bad := range []string{"pool\u2028forged line", "pool\u2029x", "\u202Egnp.exe", "a\u202Ab", "a\u202Bb", "a\u202Cb", "a\u202Db",
		"a\u2066b\u2069", "a\u2067b", "a\u2068b", strings.Repeat("x", 100_000)} {
		for _, r := range names(bad) {
			if resp := e.do(r); resp.StatusCode != 400 {
				t.Errorf("%s %s %+q: %d, want 400: %.300s", r.method, r.path, bad[:min(len(bad), 40)], resp.StatusCode, resp.Body)
			} else {
				resp.problem(t)
			}
		}
	}
	for _, good := range []string{"בריכה של סבתא", "مسبح العائلة", "\u200Fבריכה\u200F 2", "👨\u200D👩\u200D👧 pool", "Piscine d'été", "プール"} {
		for _, r := range names(good) {
			if resp := e.do(r); resp.StatusCode >= 300 {
				t.Errorf("%s %s %q: %d: %s", r.method, r.path, good, resp.StatusCode, resp.Body)
			}
		}
	}
	var got struct{ Name string }
	e.must(200, req{method: "GET", path: pp, token: owner.Token}).json(t, &got)
	if got.Name != "プール" {
		t.Errorf("pool name %q, want the last accepted one", got.Name)
	}
}
