package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
)

// TestRefusalsBeforeTheHandlerAreProblems sends, over a real TCP connection, requests
// net/http refuses before any handler runs — a header over MaxHeaderBytes, a request
// line that is not HTTP, no Host, an unknown transfer encoding, another protocol version
// — and expects each refused with its status as problem+json saying what was wrong, the
// connection then closed. Without ProblemListener each was net/http's text/plain. A
// request the handler answers, whatever its content type, passes untouched.
func TestRefusalsBeforeTheHandlerAreProblems(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // as a draining host sets it: still the handler's own answer
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "handled")
	}))
	srv.Config = httpapi.NewServer("", srv.Config.Handler, config.HTTP{}, nil)
	srv.Listener = httpapi.ProblemListener(srv.Listener)
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	huge := "GET /v1/pools HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", httpapi.MaxHeaderBytes+8<<10) + "\r\n\r\n"
	for _, tt := range []struct {
		name, req  string
		status     int
		typ, about string
	}{
		{"header too large", huge, 431, "header-too-large", "64 KiB"},
		{"not a request line", "HELLO\r\n\r\n", 400, "bad-http", "request line or a header line is malformed"},
		{"no Host", "GET /v1/pools HTTP/1.1\r\n\r\n", 400, "bad-http", "missing required Host header"},
		{"unknown transfer encoding", "POST /v1/pools HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "bad-http", "Transfer-Encoding"},
		{"another protocol", "GET /v1/pools HTTP/2.0\r\nHost: x\r\n\r\n", 505, "bad-http", "unsupported protocol version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRequest(t, addr, tt.req)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" || !resp.Close {
				t.Fatalf("answer %d %q (close %v), want %d problem+json and the connection closed: %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Close, tt.status, body)
			}
			var p httpapi.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if p.Type != httpapi.ProblemTypeBase+tt.typ || p.Status != tt.status || p.Title != http.StatusText(tt.status) || !strings.Contains(p.Detail, tt.about) {
				t.Errorf("problem %+v, want type %s, status %d, a detail about %q", p, tt.typ, tt.status, tt.about)
			}
		})
	}

	resp, body := rawRequest(t, addr, "GET /anything HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || string(body) != "handled" {
		t.Errorf("a handled request came back %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// rawRequest writes req on a new connection and reads one answer.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A header too large is refused while it is still being written: the write may fail.
	go io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.40q: %v", req, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestHandlerAnswersLookingLikeRefusalsPass: a handler's answer whose body holds what a
// refusal of net/http looks like (a console page showing a note, say), here written as
// a write of its own, passes as it is: only a whole write of the exact form a refusal
// has is one.
func TestHandlerAnswersLookingLikeRefusalsPass(t *testing.T) {
	refusal := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	for _, body := range []string{refusal + "not its status line", refusal + "400 Bad Request and more", "HTTP/1.1 200 OK" + refusal[len("HTTP/1.1 400 Bad Request"):] + "200 OK"} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(body))) // not chunked: the body's write starts with it
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			io.WriteString(w, body)
		}))
		srv.Config = httpapi.NewServer("", srv.Config.Handler, config.HTTP{}, nil)
		srv.Listener = httpapi.ProblemListener(srv.Listener)
		srv.Start()
		resp, got := rawRequest(t, srv.Listener.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		srv.Close()
		if resp.StatusCode != 200 || string(got) != body {
			t.Errorf("the answer %q came back %d %q", body, resp.StatusCode, got)
		}
	}
}

// TestHandlerEchoingARefusalPasses: a handler whose answer echoes what a client sent (a
// page showing a name, a note, a payload) can be made to write net/http's refusal byte
// for byte as a write of its own: after a flush, as here, or as the tail of a body over
// the connection's 4 KiB buffer, its last write. It is the handler's answer, and
// passes as it is: rewritten, its body would change length under its Content-Length
// (the next answer on the connection read as part of it, or the other way round) and
// carry the client's text into a problem's detail. Without the check that net/http's
// own loop wrote it, each came back rewritten.
func TestHandlerEchoingARefusalPasses(t *testing.T) {
	headers := "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	long := "400 Bad Request: " + strings.Repeat("x", 1500)
	for _, tt := range []struct{ name, echo string }{
		{"a refusal exactly", "HTTP/1.1 400 Bad Request" + headers + "400 Bad Request"},
		{"missing Host exactly", "HTTP/1.1 400 Bad Request: missing required Host header" + headers + "400 Bad Request: missing required Host header"},
		{"the client's own text", "HTTP/1.1 " + long + headers + long},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				echo := r.URL.Query().Get("echo")
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Content-Length", strconv.Itoa(len("echo: ")+len(echo)))
				io.WriteString(w, "echo: ")
				w.(http.Flusher).Flush()
				io.WriteString(w, echo)
			}))
			srv.Config = httpapi.NewServer("", srv.Config.Handler, config.HTTP{}, nil)
			srv.Listener = httpapi.ProblemListener(srv.Listener)
			srv.Start()
			defer srv.Close()
			req := "GET /?echo=" + url.QueryEscape(tt.echo) + " HTTP/1.1\r\nHost: x\r\n\r\n"
			resp, got := rawRequest(t, srv.Listener.Addr().String(), req)
			if resp.StatusCode != 200 || string(got) != "echo: "+tt.echo {
				t.Errorf("the echo came back %d %q", resp.StatusCode, truncate(string(got), 200))
			}
		})
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
