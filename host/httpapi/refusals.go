package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
)

// ProblemListener is ln whose connections answer net/http's own refusals as
// problem+json. A request net/http cannot parse never reaches a handler: the server
// writes a text/plain answer on the connection itself (431 for a header over
// MaxHeaderBytes, 400 for a malformed request line, header or Host, 501 for a transfer
// encoding it does not know, 505 for another protocol version) and closes it. There is
// no hook for those answers, so the connection rewrites them on their way out: every
// other client error of the API is a problem, and these are the ones an attacker meets
// first.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

// problemConn is one accepted connection.
type problemConn struct{ net.Conn }

// refusalHeaders is what net/http's refusals (and nothing else it writes) carry between
// their status line and their text (net/http's server.go, errorHeaders): a response
// written through the server's response writer has its header keys sorted, so never
// Content-Type before Connection.
var refusalHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

// Write passes every write on, net/http's refusal as a problem. The server writes a
// refusal in one Write straight onto the connection, and then writes nothing more.
func (c *problemConn) Write(b []byte) (int, error) {
	if p, ok := refusalAsProblem(b); ok && writtenByServeLoop() {
		if _, err := c.Conn.Write(p); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// writtenByServeLoop reports whether the Write being made is net/http's connection loop
// ((*conn).serve) writing a refusal with fmt.Fprintf, as it writes every one. The bytes
// alone do not tell: a handler's answer can hold a refusal's exact bytes (a page echoing
// what a client sent) as a write of its own (after a flush, or the tail of a body over
// the connection's buffer), and rewritten, its body would no longer match its
// Content-Length (the next answer on a kept-alive connection read into it, or it left
// waiting) and the client's text would be a problem's detail. A handler's writes come
// through the server's buffered writer, or a hijacker's own code, never from this pair.
// Asked only of writes shaped like a refusal, so it costs nothing on the rest; a
// net/http that wrote its refusals otherwise would leave them text/plain, never a
// handler's answer rewritten (TestRefusalsBeforeTheHandlerAreProblems would say so).
func writtenByServeLoop() bool {
	var pcs [16]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, ".(*problemConn).Write") {
			fprintf, _ := frames.Next()
			serve, _ := frames.Next()
			return fprintf.Function == "fmt.Fprintf" && serve.Function == "net/http.(*conn).serve"
		}
		if !more {
			return false
		}
	}
}

// CloseWrite lets the server half-close the connection after a 431 as it does on a bare
// TCP connection, so the client reads the answer before the close.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// refusalAsProblem is the problem+json answer for a refusal net/http wrote as b
// ("HTTP/1.1 431 Request Header Fields Too Large" + refusalHeaders + its text), and
// false for anything else.
func refusalAsProblem(b []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(b, []byte(proto)) || len(b) < len(proto)+3 {
		return nil, false
	}
	end := bytes.Index(b, refusalHeaders)
	if end < 0 {
		return nil, false
	}
	status, err := strconv.Atoi(string(b[len(proto) : len(proto)+3]))
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	// The whole write is the refusal: its text repeats its status line ("431 Request
	// Header Fields Too Large", "400 Bad Request: missing required Host header"), but for
	// a 501's. So a write of a handler's answer, which could hold the same bytes (a
	// console page showing a note), is never mistaken for one.
	line, text := b[len(proto):end], b[end+len(refusalHeaders):]
	if !bytes.Equal(text, line) && (status != http.StatusNotImplemented || string(text) != "Unsupported transfer encoding") {
		return nil, false
	}
	p := Problem{Type: ProblemTypeBase + "bad-http", Title: http.StatusText(status), Status: status}
	_, why, said := bytes.Cut(text, []byte(": "))
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		p.Type = ProblemTypeBase + "header-too-large"
		p.Detail = fmt.Sprintf("the request's header is larger than the host reads (%d KiB, request line included)", MaxHeaderBytes>>10)
	case said:
		p.Detail = "the request is not valid HTTP/1.1: " + string(why)
	case status == http.StatusNotImplemented:
		p.Detail = "the request's Transfer-Encoding is not one the host reads (only chunked)"
	default: // net/http says no more than "400 Bad Request"
		p.Detail = "the request is not valid HTTP/1.1: its request line or a header line is malformed"
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, false
	}
	body = append(body, '\n')
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
		status, http.StatusText(status), problemContentType[0], len(body))
	out.Write(body)
	return out.Bytes(), true
}
