package console_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

// A megabyte dead letter was rendered whole in the console. Its page now shows the first
// 64 KiB and links to a download of the rest, which only a console session (an admin)
// gets.
func TestFailurePageShowsAPreviewAndDownloadsTheRest(t *testing.T) {
	e := newEnv(t, "http://x")
	payload := strings.Repeat("not json ", 1_040_000/9)
	f, err := e.st.EnqueueFailure(context.Background(), store.NewFailure{Provider: "acme", Payload: []byte(payload), MaxAttempts: 1, Error: "malformed", Dead: true})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(f.ID, 10)
	get := func(path string, cookie *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	cookie := e.signIn(t, e.admin).Cookies()[0]

	resp, page := get("/ui/failures/"+id, cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("failure page: %d", resp.StatusCode)
	}
	if len(page) > failures.PreviewBytes+32<<10 {
		t.Fatalf("the page is %d bytes for a %d-byte payload; want about %d", len(page), len(payload), failures.PreviewBytes)
	}
	if !strings.Contains(page, `id="payload-truncated"`) || !strings.Contains(page, `href="/ui/failures/`+id+`/payload"`) {
		t.Fatal("the page does not say the payload is cut, or has no download link")
	}

	resp, body := get("/ui/failures/"+id+"/payload", cookie)
	if resp.StatusCode != http.StatusOK || body != payload || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("download: %d, %d of %d bytes, disposition %q", resp.StatusCode, len(body), len(payload), resp.Header.Get("Content-Disposition"))
	}

	// Nobody else: no session is sent to sign in, a non-admin gets no session at all.
	if resp, body := get("/ui/failures/"+id+"/payload", nil); resp.StatusCode != http.StatusSeeOther || strings.Contains(body, "not json") {
		t.Fatalf("download without a session: %d", resp.StatusCode)
	}
	if r := e.signIn(t, e.user); len(r.Cookies()) > 0 && r.Cookies()[0].Value != "" {
		if resp, _ := get("/ui/failures/"+id+"/payload", r.Cookies()[0]); resp.StatusCode == http.StatusOK {
			t.Fatal("a non-admin downloaded a payload")
		}
	}

	// A small payload is shown whole, without a link.
	_, page = get("/ui/failures/"+strconv.FormatInt(e.deadID, 10), cookie)
	if strings.Contains(page, `id="payload-truncated"`) {
		t.Fatal("a one-byte payload is said to be cut")
	}
}
