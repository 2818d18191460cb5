package httpapi_test

import (
	"context"
	"fmt"
	"testing"
)

// TestRevokedTokenStopsAtOnce: a token an admin revokes (by id, then all of the user's)
// is refused by the very next request on every kind of route, reading or writing, and
// nothing it sends afterwards is stored; the user's other token works until it is
// revoked in its turn.
func TestRevokedTokenStopsAtOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		admin := e.newUser("admin", true)
		u := e.newUser("u", false)
		second, tok, err := e.st.CreateAPIToken(context.Background(), u.ID, "laptop")
		must(t, err)
		pool := e.createPool(u, "mine")
		routes := func(token string) []req {
			return []req{
				{method: "GET", path: "/v1/pools", token: token},
				{method: "GET", path: fmt.Sprintf("/v1/pools/%d", pool), token: token},
				{method: "GET", path: "/v1/accounts", token: token},
				{method: "PATCH", path: fmt.Sprintf("/v1/pools/%d", pool), token: token, body: map[string]any{"name": "renamed by a revoked token"}},
				{method: "POST", path: "/v1/pools", token: token, body: map[string]any{"name": "made by a revoked token"}},
			}
		}
		pools := func() int {
			var n int
			must(t, e.st.DB().Get(&n, e.st.DB().Rebind(`SELECT COUNT(*) FROM pools p JOIN pool_members m ON m.pool_id = p.id WHERE m.user_id = ?`), u.ID))
			return n
		}
		e.must(200, req{method: "DELETE", path: fmt.Sprintf("/v1/admin/users/%d/tokens?tokenId=%d", u.ID, tok.ID), token: admin.Token})
		before := pools()
		for _, r := range routes(second) {
			e.must(401, r).problem(t)
		}
		if pools() != before {
			t.Errorf("a revoked token created a pool")
		}
		var p struct{ Name string }
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", pool), token: u.Token}).json(t, &p)
		if p.Name != "mine" {
			t.Errorf("a revoked token renamed the pool to %q", p.Name)
		}
		e.must(200, req{method: "DELETE", path: fmt.Sprintf("/v1/admin/users/%d/tokens", u.ID), token: admin.Token})
		for _, r := range routes(u.Token) {
			e.must(401, r).problem(t)
		}
	})
}
