package sdk_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/poolhost/poolhost/sdk"
)

// TestHTTPClientStaysWithinTheOrigin: a provider's answer redirecting the plugin to
// another host had net/http re-send the request there, with its API key header (only
// Authorization and Cookie are dropped across hosts) and, on a 307, a token request's
// form with the client secret and refresh token. HTTPClient follows redirects within the
// origin only.
func TestHTTPClientStaysWithinTheOrigin(t *testing.T) {
	var leaked atomic.Value
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		leaked.Store(r.Header.Get("X-Api-Key") + "|" + r.PostForm.Get("client_secret"))
	}))
	defer elsewhere.Close()
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/v2/pools", http.StatusMovedPermanently)
		case "/v2/pools":
			w.Write([]byte("[]"))
		default:
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
		}
	}))
	defer provider.Close()
	c := sdk.HTTPClient(0)

	req, _ := http.NewRequest(http.MethodPost, provider.URL+"/oauth2/token", strings.NewReader(url.Values{"client_secret": {"s3cret"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Api-Key", "k3y")
	_, err := c.Do(req)
	if !errors.Is(err, sdk.ErrCrossOriginRedirect) {
		t.Errorf("redirect to another host: %v, want ErrCrossOriginRedirect", err)
	}
	if v := leaked.Load(); v != nil {
		t.Fatalf("the other host received %q", v)
	}

	resp, err := c.Get(provider.URL + "/moved")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("redirect within the origin: %v %v", resp, err)
	}
	resp.Body.Close()
}
