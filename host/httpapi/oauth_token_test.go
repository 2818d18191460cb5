package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRevokedTokenEndsItsConnects: a connect is bound to the token that started it.
// Once an admin revokes that one token (leaked, say), the connect cannot be completed
// with another token of the same user — its holder could have authorized it with a
// provider account of their own and sent the owner the link — while a connect the
// user's other token started still completes.
func TestRevokedTokenEndsItsConnects(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		admin := e.newUser("admin", true)
		u := e.newUser("ana", false)
		app, _, err := e.st.CreateAPIToken(context.Background(), u.ID, "app")
		if err != nil {
			t.Fatal(err)
		}
		_, first, err := e.st.AuthenticateToken(context.Background(), u.Token)
		if err != nil {
			t.Fatal(err)
		}
		connect := func(token string) *url.URL {
			var cr struct {
				AuthorizeURL string `json:"authorizeUrl"`
			}
			e.must(200, req{method: "POST", path: "/v1/providers/template/connect", token: token}).json(t, &cr)
			au, err := url.Parse(cr.AuthorizeURL)
			if err != nil {
				t.Fatal(err)
			}
			return au
		}
		leaked, kept := connect(u.Token), connect(app)

		e.must(200, req{method: "DELETE", path: fmt.Sprintf("/v1/admin/users/%d/tokens?tokenId=%d", u.ID, first.ID), token: admin.Token})

		code, state, err := e.acme.Authorize(leaked.String())
		if err != nil {
			t.Fatal(err)
		}
		r := e.do(req{method: "GET", path: callbackPath(code, state), token: app})
		if p := r.problem(t); r.StatusCode != http.StatusBadRequest || !strings.HasSuffix(p.Type, "oauth-state-invalid") {
			t.Fatalf("a connect the revoked token started, completed with the user's other token: %d %+v", r.StatusCode, p)
		}
		code, state, err = e.acme.Authorize(kept.String())
		if err != nil {
			t.Fatal(err)
		}
		e.must(200, req{method: "GET", path: callbackPath(code, state), token: app})
	})
}
