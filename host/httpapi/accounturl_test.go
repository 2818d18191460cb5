package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/sdk/signature"
)

// accountView is an account as GET /v1/accounts shows it, with its own webhook URL.
type accountView struct {
	ID         int64  `json:"id"`
	Provider   string `json:"provider"`
	WebhookURL string `json:"webhookUrl"`
}

// connectFaulty connects an API-key account of the faulty provider, links its device
// d1 to a fresh pool, and returns the connect answer and the pool.
func (e *env) connectFaulty(u user, key string) (out struct {
	Account            accountView `json:"account"`
	Webhook            struct{ URL, Secret string }
	ProviderWebhookURL string `json:"providerWebhookUrl"`
}, poolID int64) {
	e.t.Helper()
	e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
		body: map[string]any{"input": map[string]string{"api_key": key}}}).json(e.t, &out)
	var devs struct {
		Devices []device `json:"devices"`
	}
	e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", out.Account.ID), token: u.Token}).json(e.t, &devs)
	if len(devs.Devices) != 1 {
		e.t.Fatalf("devices = %+v", devs.Devices)
	}
	poolID = e.createPool(u, "pool of "+key)
	e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", devs.Devices[0].ID), token: u.Token,
		body: map[string]int64{"poolId": poolID}})
	return out, poolID
}

// postSigned posts a Standard Webhooks delivery with one reading of d1 to url, signed
// with each of secrets (several: the multiple-signature form).
func (e *env) postSigned(url, msgID string, value string, secrets ...string) response {
	e.t.Helper()
	body := []byte(fmt.Sprintf(`{"device_id":"d1","readings":[{"metric":"ph","value":%q}]}`, value))
	hdr := map[string]string{}
	var sigs string
	for i, s := range secrets {
		v, err := signature.NewStandardWebhooks(s)
		must(e.t, err)
		h := v.Headers(msgID, time.Now(), body)
		for k, vs := range h {
			hdr[k] = vs[0]
		}
		if i > 0 {
			sigs += " "
		}
		sigs += h.Get("webhook-signature")
	}
	hdr["webhook-signature"] = sigs
	path := url[len(e.srv.URL):]
	return e.do(req{method: "POST", path: path, body: body, header: hdr})
}

func (e *env) readingCount(u user, poolID int64) int {
	e.t.Helper()
	var rs struct {
		Readings []map[string]any `json:"readings"`
	}
	e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings", poolID), token: u.Token}).json(e.t, &rs)
	return len(rs.Readings)
}

// TestAPIKeyAccountWebhookURL: an api_key account whose plugin stored a webhook secret
// has its own URL, in the connect answer and in GET /v1/accounts(/{id}); a delivery
// signed with its secret is stored; the provider-level URL is not offered for it.
func TestAPIKeyAccountWebhookURL(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true})
		u := e.newUser("u", false)
		out, poolID := e.connectFaulty(u, "k1")
		want := fmt.Sprintf("%s/v1/webhooks/faulty/accounts/%d", e.srv.URL, out.Account.ID)
		if out.Account.WebhookURL != want || out.Webhook.URL != want || out.Webhook.Secret == "" {
			t.Fatalf("connect answer: account url %q, webhook %+v; want %s", out.Account.WebhookURL, out.Webhook, want)
		}
		if out.ProviderWebhookURL != "" {
			t.Errorf("providerWebhookUrl %q offered for an account with its own URL", out.ProviderWebhookURL)
		}
		var list struct {
			Accounts []accountView `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: u.Token}).json(t, &list)
		if len(list.Accounts) != 1 || list.Accounts[0].WebhookURL != want {
			t.Errorf("GET /v1/accounts = %+v, want webhookUrl %s", list.Accounts, want)
		}
		var one accountView
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d", out.Account.ID), token: u.Token}).json(t, &one)
		if one.WebhookURL != want {
			t.Errorf("GET /v1/accounts/{id} = %+v, want webhookUrl %s", one, want)
		}
		// Another user's account is not found, like a missing one.
		other := e.newUser("other", false)
		if p := e.must(404, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d", out.Account.ID), token: other.Token}).problem(t); p.Status != 404 {
			t.Errorf("problem = %+v", p)
		}
		e.must(404, req{method: "GET", path: "/v1/accounts/x", token: u.Token}).problem(t)

		if r := e.postSigned(out.Webhook.URL, "msg_1", "7.2", out.Webhook.Secret); r.StatusCode != 200 {
			t.Fatalf("signed delivery: %d %s", r.StatusCode, r.Body)
		}
		if n := e.readingCount(u, poolID); n != 1 {
			t.Errorf("readings stored = %d, want 1", n)
		}
		if r := e.postSigned(out.Webhook.URL, "msg_2", "7.3", genericWebhookSecret); r.StatusCode != 401 {
			t.Errorf("delivery signed with the provider's secret: %d %s", r.StatusCode, r.Body)
		}

		// Credentials that no longer open (sealed under another key) cost the account
		// its URL in the view, not its user the list.
		second, _ := e.connectFaulty(u, "k2")
		if _, err := e.st.DB().Exec(e.st.DB().Rebind(`UPDATE integration_accounts SET credentials_ciphertext = ? WHERE id = ?`),
			[]byte("not a sealed box at all"), second.Account.ID); err != nil {
			t.Fatal(err)
		}
		var after struct {
			Accounts []accountView `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: u.Token}).json(t, &after)
		if len(after.Accounts) != 2 {
			t.Errorf("GET /v1/accounts with one unreadable account = %+v, want both listed", after.Accounts)
		}
	})
}

// TestAccountWebhookSecretRotation: a rotated secret is accepted alongside the old one
// during the overlap, and alone after it (the store's clock moves, no sleeping).
func TestAccountWebhookSecretRotation(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true})
		u := e.newUser("u", false)
		out, poolID := e.connectFaulty(u, "k1")
		old := out.Webhook.Secret
		rotatePath := fmt.Sprintf("/v1/accounts/%d/webhook-secret/rotate", out.Account.ID)

		// Only the owner may rotate; another user's account is not found.
		other := e.newUser("other", false)
		e.must(404, req{method: "POST", path: rotatePath, token: other.Token}).problem(t)

		var rot struct {
			WebhookURL               string    `json:"webhookUrl"`
			Secret                   string    `json:"secret"`
			PreviousSecretValidUntil time.Time `json:"previousSecretValidUntil"`
		}
		e.must(200, req{method: "POST", path: rotatePath, token: u.Token}).json(t, &rot)
		if rot.Secret == "" || rot.Secret == old || rot.WebhookURL != out.Webhook.URL {
			t.Fatalf("rotation = %+v (old secret %q, url %q)", rot, old, out.Webhook.URL)
		}
		if d := time.Until(rot.PreviousSecretValidUntil); d < 23*time.Hour || d > 25*time.Hour {
			t.Errorf("previous secret valid until %v, want about 24h from now", rot.PreviousSecretValidUntil)
		}
		stored := 0
		post := func(id string, want int, secrets ...string) {
			t.Helper()
			r := e.postSigned(out.Webhook.URL, id, "7.2", secrets...)
			if r.StatusCode != want {
				t.Fatalf("delivery %s: status %d, want %d: %s", id, r.StatusCode, want, r.Body)
			}
			if want == 200 {
				stored++
			}
		}
		// During the overlap: the old secret, the new one, and both signatures at once.
		post("msg_old", 200, old)
		post("msg_new", 200, rot.Secret)
		post("msg_both", 200, rot.Secret, old)
		post("msg_foreign", 401, genericWebhookSecret)

		// After it: the old one is retired.
		e.offset.Store(int64(25 * time.Hour))
		post("msg_old_late", 401, old)
		post("msg_new_late", 200, rot.Secret)
		post("msg_both_late", 200, old, rot.Secret)
		if n := e.readingCount(u, poolID); n != stored {
			t.Errorf("readings stored = %d, want %d", n, stored)
		}

		// The overlap is the operator's (ingest { webhook_secret_overlap }), read at each
		// rotation: a reload applies to the next one.
		first := rot.Secret
		cfg := *e.cfg.Load()
		cfg.Ingest.WebhookSecretOverlap = 2 * time.Hour
		e.cfg.Store(&cfg)
		e.must(200, req{method: "POST", path: rotatePath, token: u.Token}).json(t, &rot)
		if d := rot.PreviousSecretValidUntil.Sub(time.Now().Add(25 * time.Hour)); d < 110*time.Minute || d > 130*time.Minute {
			t.Errorf("with a 2h overlap the previous secret is valid until %v, want about 2h after the store's now", rot.PreviousSecretValidUntil)
		}

		// A leaked secret is retired at once: previousSecretValidSeconds 0 keeps neither
		// the secret it replaces nor the one kept from the rotation before.
		leaked := rot.Secret
		post("msg_leaked_before", 200, leaked)
		post("msg_first_in_overlap", 200, first)
		e.must(200, req{method: "POST", path: rotatePath, token: u.Token, body: `{"previousSecretValidSeconds":0}`}).json(t, &rot)
		post("msg_leaked_after", 401, leaked)
		post("msg_first_after", 401, first)
		post("msg_after_leak", 200, rot.Secret)
		// A shorter overlap, not a longer one than the operator's (2h now), and nothing
		// rotated by a refused request.
		current := rot.Secret
		for _, body := range []string{`{"previousSecretValidSeconds":7201}`, `{"previousSecretValidSeconds":-1}`,
			`{"previousSecretValidSeconds":99999999999999}`, `{"previousSecretValidSeconds":"0"}`, `{"overlap":0}`} {
			p := e.must(400, req{method: "POST", path: rotatePath, token: u.Token, body: body}).problem(t)
			if !strings.Contains(p.Detail, "previousSecretValidSeconds") {
				t.Errorf("rotate with %s: detail %q does not name previousSecretValidSeconds", body, p.Detail)
			}
		}
		post("msg_still_current", 200, current)
		e.must(200, req{method: "POST", path: rotatePath, token: u.Token, body: `{"previousSecretValidSeconds":60}`}).json(t, &rot)
		if d := rot.PreviousSecretValidUntil.Sub(time.Now().Add(25 * time.Hour)); d < 50*time.Second || d > 70*time.Second {
			t.Errorf("with previousSecretValidSeconds 60 the previous secret is valid until %v, want a minute after the store's now", rot.PreviousSecretValidUntil)
		}
		post("msg_previous_minute", 200, current)
	})
}

// TestAccountsPerUserCapped: one user connects at most ingest { max_accounts_per_user }
// provider accounts, disconnected ones included (each keeps its own dead letters, poll
// and subscription, so connect, disconnect, connect again must not get round it); a
// reconnect of one of them is not a new one, and the cap is each user's own.
func TestAccountsPerUserCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{faulty: true})
		cfg := *e.cfg.Load()
		cfg.Ingest.MaxAccountsPerUser = 2
		e.cfg.Store(&cfg)
		u, v := e.newUser("u", false), e.newUser("v", false)
		connect := func(who user, key string, want int) response {
			t.Helper()
			return e.must(want, req{method: "POST", path: "/v1/providers/faulty/connect", token: who.Token,
				body: map[string]any{"input": map[string]string{"api_key": key}}})
		}
		var first struct {
			Account accountView `json:"account"`
		}
		connect(u, "k1", 201).json(t, &first)
		connect(u, "k2", 201)
		p := connect(u, "k3", 409).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"account-limit" || !strings.Contains(p.Detail, "max_accounts_per_user") || !strings.Contains(p.Detail, "2 provider accounts") {
			t.Errorf("a third account: %+v", p)
		}
		connect(u, "k1", 201) // a reconnect
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", first.Account.ID), token: u.Token})
		connect(u, "k3", 409) // the disconnected one still counts
		connect(u, "k1", 201) // and may be connected again
		connect(v, "k3", 201) // another user's own cap
	})
}
