package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOriginMustMatchScheme: net/http's CrossOriginProtection compares only the host of
// Origin, and lets a request with neither Origin nor Sec-Fetch-Site through. So an
// https:// page on the same host could post to an http:// console, and a browser that
// sent only a foreign Referer got its form accepted. Both are refused now; the
// console's own origin (its request's, or public_url's behind a TLS proxy) passes.
func TestOriginMustMatchScheme(t *testing.T) {
	e := newEnv(t, "http://x")
	host := strings.TrimPrefix(e.srv.URL, "http://")
	post := func(e *env, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ui/signin", strings.NewReader(url.Values{"token": {e.admin}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v // a proxy that keeps the public Host
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther && len(resp.Cookies()) == 0 {
			t.Errorf("%v: signed in without a cookie", hdr)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		hdr  map[string]string
		want int
	}{
		{map[string]string{"Origin": "https://" + host}, http.StatusForbidden},
		{map[string]string{"Referer": "https://evil.example/page"}, http.StatusForbidden},
		{map[string]string{"Referer": "https://" + host + "/ui/signin"}, http.StatusForbidden},
		{map[string]string{"Origin": "null"}, http.StatusForbidden},
		{map[string]string{"Origin": "https://" + host, "Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
		{map[string]string{"Origin": "http://" + host}, http.StatusSeeOther},
		{map[string]string{"Referer": "http://" + host + "/ui/signin"}, http.StatusSeeOther},
		{map[string]string{}, http.StatusSeeOther}, // no browser, no ambient cookie
	} {
		if got := post(e, tc.hdr); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.hdr, got, tc.want)
		}
	}
	// Behind a TLS-terminating proxy the request is http, the page https://public_url.
	tls := newEnv(t, "https://console.example")
	if got := post(tls, map[string]string{"Origin": "https://console.example", "Host": "console.example"}); got != http.StatusSeeOther {
		t.Errorf("public_url origin behind a proxy: %d", got)
	}
	if got := post(tls, map[string]string{"Origin": "http://console.example", "Host": "console.example"}); got != http.StatusForbidden {
		t.Errorf("http origin on an https deployment: %d", got)
	}
}
