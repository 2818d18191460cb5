package httpapi_test

import (
	"context"
	"strings"
	"testing"
)

// TestPKCEVerifierStoredSealed: integration_oauth_states held the PKCE verifier in clear,
// and with the authorization code (which crosses the browser) it redeems the code. It is
// sealed now like credentials; the callback still completes, and the Acme fake checks
// the verifier against the challenge of the authorize URL, so the sealed value is the
// right one.
func TestPKCEVerifierStoredSealed(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		u := e.newUser("ana", false)
		code, state := e.startOAuth(u)
		var row struct {
			Plain  string `db:"code_verifier"`
			Sealed []byte `db:"code_verifier_ciphertext"`
			KeyID  string `db:"code_verifier_key_id"`
		}
		if err := e.st.DB().GetContext(context.Background(), &row,
			`SELECT code_verifier, code_verifier_ciphertext, code_verifier_key_id FROM integration_oauth_states`); err != nil {
			t.Fatal(err)
		}
		if row.Plain != "" || len(row.Sealed) < 43 || row.KeyID == "" {
			t.Fatalf("stored verifier: clear %q, %d sealed bytes, key %q", row.Plain, len(row.Sealed), row.KeyID)
		}
		var out struct {
			Account account `json:"account"`
		}
		e.must(200, req{method: "GET", path: callbackPath(code, state), token: u.Token}).json(t, &out)
		if out.Account.ID == 0 || strings.Contains(string(row.Sealed), state) {
			t.Fatalf("account %+v", out.Account)
		}
	})
}
