package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/poolhost/poolhost/host/httpapi"
)

// TestSpecQueryParamsMatchOpenAPI holds the router's own reading of openapi.yaml's query
// parameters (it has no YAML library) against kin-openapi's full reading of the same
// document, operation by operation, so a layout the reader misses cannot silently
// refuse or admit a parameter.
func TestSpecQueryParamsMatchOpenAPI(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	got, err := httpapi.SpecQueryParams()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			var want []string
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				if p.Value.In == "query" {
					want = append(want, p.Value.Name)
				}
			}
			sort.Strings(want)
			open := op.Extensions["x-poolhost-open-query"] == true
			g, ok := got[key]
			if !ok {
				t.Errorf("%s: missing from SpecQueryParams", key)
				continue
			}
			seen++
			if !slices.Equal(g.Names, want) || g.Open != open {
				t.Errorf("%s: SpecQueryParams = %+v, openapi says %v (open %v)", key, g, want, open)
			}
		}
	}
	if seen != len(got) || seen < 40 {
		t.Errorf("compared %d operations, SpecQueryParams has %d", seen, len(got))
	}
	if q := got["DELETE /v1/admin/users/{userId}/tokens"]; !slices.Equal(q.Names, []string{"tokenId"}) {
		t.Errorf("revoke route takes %+v", q)
	}
}

// TestMisspelledQueryRevokesNothing is the repro: "?id=4" for "?tokenId=4" on the revoke
// route revoked all of the user's tokens. It is a 400 now, and so are an empty or a
// repeated tokenId; nothing is revoked until the parameter is right.
func TestMisspelledQueryRevokesNothing(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		admin := e.newUser("admin", true)
		bob := e.newUser("bob", false)
		_, second, err := e.st.CreateAPIToken(context.Background(), bob.ID, "second")
		must(t, err)
		base := fmt.Sprintf("/v1/admin/users/%d/tokens", bob.ID)
		for _, q := range []string{
			fmt.Sprintf("?id=%d", second.ID),
			"?tokenid=1",
			"?tokenId=",
			fmt.Sprintf("?tokenId=%d&tokenId=%d", second.ID, second.ID),
		} {
			p := e.must(400, req{method: "DELETE", path: base + q, token: admin.Token}).problem(t)
			if q != "?tokenId=" && p.Type != httpapi.ProblemTypeBase+"invalid-query" {
				t.Errorf("%s: problem %+v", q, p)
			}
		}
		if p := e.must(400, req{method: "DELETE", path: base + "?id=4", token: admin.Token}).problem(t); !regexp.MustCompile(`"id".*tokenId`).MatchString(p.Detail) {
			t.Errorf("detail does not name the parameter and what the route takes: %q", p.Detail)
		}
		e.must(200, req{method: "GET", path: "/v1/pools", token: bob.Token}) // still valid
		var out struct{ Revoked int }
		e.must(200, req{method: "DELETE", path: fmt.Sprintf("%s?tokenId=%d", base, second.ID), token: admin.Token}).json(t, &out)
		if out.Revoked != 1 {
			t.Errorf("revoked %d, want 1", out.Revoked)
		}
		e.must(200, req{method: "GET", path: "/v1/pools", token: bob.Token}) // the first token is untouched
	})
}

// TestEveryRouteRefusesUnknownQuery walks every operation of openapi.yaml on a fully
// wired host: an undeclared query parameter is a 400 invalid-query problem everywhere
// (the OAuth callback, which declares its query open, excepted).
func TestEveryRouteRefusesUnknownQuery(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{ingest: true})
	admin := e.newUser("admin", true)
	ops, err := httpapi.SpecOperations()
	must(t, err)
	queries, err := httpapi.SpecQueryParams()
	must(t, err)
	vars := regexp.MustCompile(`\{[A-Za-z]+\}`)
	n := 0
	for _, group := range ops {
		for _, op := range group {
			var method, path string
			fmt.Sscanf(op, "%s %s", &method, &path)
			path = vars.ReplaceAllString(path, "1")
			resp := e.do(req{method: method, path: path + "?" + url.Values{"notAParameter": {"1"}}.Encode(), token: admin.Token})
			n++
			if queries[op].Open {
				if resp.StatusCode == 400 && resp.problem(t).Type == httpapi.ProblemTypeBase+"invalid-query" {
					t.Errorf("%s: an open query refused %s", op, resp.Body)
				}
				continue
			}
			if resp.StatusCode != 400 {
				t.Errorf("%s: status %d, want 400: %s", op, resp.StatusCode, resp.Body)
				continue
			}
			if p := resp.problem(t); p.Type != httpapi.ProblemTypeBase+"invalid-query" {
				t.Errorf("%s: problem %+v", op, p)
			}
		}
	}
	if n < 40 {
		t.Errorf("walked only %d operations", n)
	}
}
