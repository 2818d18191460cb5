package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestFieldNamesHaveOneSpelling: a body's field names are matched as written. A proxy's
// rule or a client's own check reads "role" as written; encoding/json took "Role" and
// "ROLE" for it too, so {"ROLE": "owner"} made an owner of a member such a rule saw no
// role for, and {"role": "viewer", "Role": "owner"} (one field given twice, refused
// when both agree in case) made an owner of one it saw as a viewer. Both are 400 and
// change nothing; the body as documented still works.
func TestFieldNamesHaveOneSpelling(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		owner, member := e.newUser("owner", false), e.newUser("member", false)
		pool := e.createPool(owner, "Pool")
		path := fmt.Sprintf("/v1/pools/%d/members/%d", pool, member.ID)
		e.must(200, req{method: "PUT", path: path, token: owner.Token, body: `{"role": "viewer"}`})
		for _, body := range []string{`{"ROLE": "owner"}`, `{"role": "viewer", "Role": "owner"}`, `{"Role": "owner", "role": "viewer"}`} {
			r := e.must(400, req{method: "PUT", path: path, token: owner.Token, body: body})
			if p := r.problem(t); !strings.Contains(p.Detail, "case-sensitive") {
				t.Errorf("%s: %q", body, p.Detail)
			}
		}
		var view struct {
			Role string `json:"role"`
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", pool), token: member.Token}).json(t, &view)
		if view.Role != "viewer" {
			t.Errorf("after the refused bodies the member is %q, want viewer", view.Role)
		}
		e.must(400, req{method: "POST", path: "/v1/pools", token: owner.Token, body: `{"NAME": "x"}`})
	})
}
