package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/internal/browsertest"
)

// TestLayoutSeesBrokenPages: the layout check finds each way a page breaks that the
// console's tests rely on it to find, and passes the page once it is fixed.
func TestLayoutSeesBrokenPages(t *testing.T) {
	browsertest.Chromium(t)
	br := browsertest.New(t)
	wide := `<table><tr>` + strings.Repeat(`<td>a&nbsp;wide&nbsp;column</td>`, 12) + `</tr></table>`
	cases := []struct {
		name, body string
		width      int64
		want       string // a problem reported, "" for none
	}{
		{"fits", `<p>short text</p><button id="b">press</button>`, 375, ""},
		{"a table pushing the page", wide, 800, "the page scrolls sideways"},
		{"a table scrolling in its .wrap on a phone", `<div class="wrap">` + wide + `</div>`, 375, ""},
		{"a table scrolling in its .wrap on a laptop", `<div class="wrap">` + wide + `</div>`, 800, "outside the 800px viewport"},
		{"text over text", `<p style="position:relative">first line<span style="position:absolute;left:0;top:0">second</span></p>`, 800, "text overlaps"},
		{"a covered button", `<button id="hidden">press</button><div style="position:fixed;inset:0;background:#fff"></div>`, 800, "#hidden cannot be pressed"},
		{"a wrapped link", `<p style="width:120px"><a href="#x">a link that wraps over several lines</a></p>`, 375, ""},
	}
	// Filled before the server starts: its handler only reads.
	pages := map[string]string{}
	for _, tc := range cases {
		pages["/"+strings.ReplaceAll(tc.name, " ", "-")] = tc.body
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{margin:0;font:14px sans-serif} .wrap{overflow-x:auto}</style></head><body>` + pages[r.URL.Path] + `</body></html>`))
	}))
	defer srv.Close()

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br.T = t
			br.Open(tc.width, srv.URL+"/"+strings.ReplaceAll(tc.name, " ", "-"), "body")
			got := strings.Join(br.Problems(tc.width), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("problems:\n%s\nwant %q", got, tc.want)
			}
		})
	}
}
