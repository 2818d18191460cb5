package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
)

// TestHeaderLimitIsMaxHeaderBytes: a request whose header (request line included) is
// over MaxHeaderBytes, by a byte or more, is refused 431, as openapi.yaml and the
// problem's detail say, and one of MaxHeaderBytes is served. net/http reads 4 KiB past
// its Server.MaxHeaderBytes before it refuses, so with that set to MaxHeaderBytes a
// header up to 68 KiB was served.
func TestHeaderLimitIsMaxHeaderBytes(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "handled")
	}))
	srv.Config = httpapi.NewServer("", srv.Config.Handler, config.HTTP{}, nil)
	srv.Listener = httpapi.ProblemListener(srv.Listener)
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	// size is the whole header's: request line, header lines, the blank line.
	request := func(size int) string {
		head := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "
		return head + strings.Repeat("a", size-len(head)-len("\r\n\r\n")) + "\r\n\r\n"
	}
	for _, tt := range []struct {
		name   string
		size   int
		status int
	}{
		{"1 KiB within", httpapi.MaxHeaderBytes - 1<<10, http.StatusOK},
		{"exact", httpapi.MaxHeaderBytes, http.StatusOK},
		{"one over", httpapi.MaxHeaderBytes + 1, http.StatusRequestHeaderFieldsTooLarge},
		{"1 KiB over", httpapi.MaxHeaderBytes + 1<<10, http.StatusRequestHeaderFieldsTooLarge},
		{"3 KiB over", httpapi.MaxHeaderBytes + 3<<10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := rawRequest(t, addr, request(tt.size)); resp.StatusCode != tt.status {
				t.Errorf("a header of %d bytes (MaxHeaderBytes %d): %d %s, want %d", tt.size, httpapi.MaxHeaderBytes, resp.StatusCode, body, tt.status)
			}
		})
	}
}
