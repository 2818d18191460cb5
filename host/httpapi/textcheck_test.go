package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/httpapi"
)

// TestEmailsAreOnePlainAddress: POST /v1/admin/users took "<x>"@example.com and
// a@<x>.com. An email is one address as net/mail reads it, with no display name, list,
// comment or quoting that net/mail would rewrite.
func TestEmailsAreOnePlainAddress(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	admin := e.newUser("admin", true)
	for _, bad := range []string{
		`"<x>"@example.com`, `a@<x>.com`, `Bob <bob@example.com>`, `a@example.com, c@example.com`,
		`a@example.com (comment)`, "a\x00@example.com", `no-at-sign`, `"a b"@example.com`,
	} {
		p := e.must(400, req{method: "POST", path: "/v1/admin/users", token: admin.Token, body: map[string]any{"email": bad}}).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"invalid-request" || !strings.Contains(p.Detail, "email") {
			t.Errorf("%q: problem %+v", bad, p)
		}
	}
	e.must(201, req{method: "POST", path: "/v1/admin/users", token: admin.Token, body: map[string]any{"email": "ana.b+pool@example.com"}})
}

// TestControlCharactersRefused: a pool named "\u0000" was accepted. Every name and
// free-text field refuses control characters (one shared check, host.CheckText); free
// text keeps its line breaks.
func TestControlCharactersRefused(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	admin := e.newUser("admin", true)
	owner := e.newUser("owner", false)
	var pool struct{ ID int64 }
	e.must(201, req{method: "POST", path: "/v1/pools", token: owner.Token, body: map[string]any{"name": "Back yard"}}).json(t, &pool)
	pp := fmt.Sprintf("/v1/pools/%d", pool.ID)
	session := func(notes string) map[string]any {
		return map[string]any{"method": "drops", "notes": notes, "results": []map[string]any{{"metric": "free_chlorine", "value": 2.5, "unit": "mg/L"}}}
	}
	for _, bad := range []string{"\u0000", "a\nb", "red\u001b[31m", "x\u0085y", "tab\there"} {
		for _, r := range []req{
			{method: "POST", path: "/v1/pools", body: map[string]any{"name": bad}},
			{method: "PATCH", path: pp, body: map[string]any{"name": bad}},
			{method: "POST", path: pp + "/equipment", body: map[string]any{"kind": "pump", "name": bad}},
		} {
			r.token = owner.Token
			p := e.must(400, r).problem(t)
			if !strings.Contains(p.Detail, "control characters") {
				t.Errorf("%s %s %q: %+v", r.method, r.path, bad, p)
			}
		}
		e.must(400, req{method: "POST", path: fmt.Sprintf("/v1/admin/users/%d/tokens", owner.ID), token: admin.Token, body: map[string]any{"name": bad}})
	}
	for _, bad := range []string{"\u0000", "bell\u0007", "esc\u001b[2J"} {
		e.must(400, req{method: "POST", path: pp + "/test-sessions", token: owner.Token, body: session(bad)})
		e.must(400, req{method: "POST", path: pp + "/equipment", token: owner.Token, body: map[string]any{"kind": "other", "config": map[string]any{"description": bad}}})
	}
	// Free text keeps tabs and line breaks; names with accents are fine.
	e.must(201, req{method: "POST", path: pp + "/test-sessions", token: owner.Token, body: session("line 1\nline 2\tindented\r\n")})
	e.must(201, req{method: "POST", path: pp + "/equipment", token: owner.Token, body: map[string]any{"kind": "other", "name": "Pompe à chaleur", "config": map[string]any{"description": "a\nb"}}})
	var list struct{ Pools []struct{ Name string } }
	e.must(200, req{method: "GET", path: "/v1/pools", token: owner.Token}).json(t, &list)
	if len(list.Pools) != 1 || list.Pools[0].Name != "Back yard" {
		t.Errorf("pools after refusals: %+v", list.Pools)
	}
}
