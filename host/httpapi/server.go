package httpapi

import (
	"net/http"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
)

// MaxHeaderBytes is the most of a request's header (its request line included) the
// server reads; a larger one is refused with 431 (ProblemListener).
const MaxHeaderBytes = 64 << 10

// headerSlack is how much net/http reads past its Server.MaxHeaderBytes before it
// refuses a header (Server.initialReadLimitSize: bufio's 4 KiB): set that much less, so
// the header it refuses is the one over MaxHeaderBytes, as the API documents.
const headerSlack = 4 << 10

// NewServer wraps h in an http.Server with the configured timeouts. Every timeout is set:
// a server without ReadHeaderTimeout can be held open by a slow client forever.
func NewServer(addr string, h http.Handler, c config.HTTP, log hclog.Logger) *http.Server {
	d := config.DefaultHTTP
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes - headerSlack,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
}
