package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
)

// TestServeUncleanPathsAreProblems: the handler serve runs (API and console behind one
// ServeMux) answers an unclean API path 404 problem+json, not the ServeMux's 307 with a
// text/html body, while the console keeps its own paths.
func TestServeUncleanPathsAreProblems(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	path := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, path, `
database_url    = "sqlite:`+filepath.Join(dir, "poolhost.db")+`"
listen          = "127.0.0.1:0"
plugin_dir      = "plugins"
credentials_key = file("key")
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(context.Background(), cfg, hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.plugins.Close()
		s.store.Close()
	})
	srv := httptest.NewServer(s.http.Handler)
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(p string) *http.Response {
		t.Helper()
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"//v1/pools", "/v1/./pools", "/v1/x/../pools", "/v1/x/%2f../pools", "/ui/../v1/pools", "//ui/", "/ui/./x"} {
		resp := get(p)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d %q (Location %q), want a 404 problem", p, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"))
		}
	}
	if resp := get("/ui/signin"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/signin: %d", resp.StatusCode)
	}
}
